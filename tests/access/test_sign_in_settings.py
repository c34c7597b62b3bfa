"""Sign-in settings that are wrong are found by "Test sign-in settings" and `cardid check`,
and a sign-in against them is a page that says so — never a 500."""

import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cardid.config import services as config
from tests import oidcprovider
from tests.conftest import free_port
from tests.factories import ADMIN

pytestmark = pytest.mark.django_db


def configure(issuer: str, secret: str = oidcprovider.CLIENT_SECRET) -> None:
    for k, v in {
        "auth.oidc.issuer": issuer,
        "auth.oidc.client-id": oidcprovider.CLIENT_ID,
        "auth.oidc.client-secret": secret,
        "auth.oidc.portal": "true",
        "auth.oidc.console": "true",
    }.items():
        config.set_value(key=k, raw=v, actor=ADMIN)


def test_an_unreachable_issuer_is_reported_and_never_a_500(console, cli, client):
    configure(f"http://127.0.0.1:{free_port()}")
    r = client.get("/user/sign-in")
    assert r.status_code == 503 and "cannot be reached" in r.content.decode()
    assert "Log in with a password" in r.content.decode()
    r = client.get("/admin/sign-in")
    assert r.status_code == 503 and "connection refused" in r.content.decode()
    r = console.post("/admin/options/sign-in/test")
    assert r.status_code == 400 and "cannot be reached" in r.content.decode()
    r = cli("check")
    assert "problem: single sign-on: Single sign-on cannot be reached" in r.out


def test_an_issuer_without_a_discovery_document_is_named(console, tmp_path):
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: SimpleHTTPRequestHandler(*a, directory=str(tmp_path)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        configure(f"http://127.0.0.1:{server.server_address[1]}")
        r = console.post("/admin/options/sign-in/test")
        assert r.status_code == 400
        assert "has no OpenID Connect discovery document" in r.content.decode()
        assert "answered 404" in r.content.decode()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(oidcprovider.available() is not None, reason=str(oidcprovider.available()))
def test_a_wrong_client_secret_is_found_by_the_test_button(console, cli, tmp_path):
    provider = oidcprovider.Provider(tmp_path / "oidc", {}, "http://127.0.0.1:9").start()
    try:
        configure(provider.issuer, secret="not-the-secret")
        r = console.post("/admin/options/sign-in/test")
        assert r.status_code == 400
        assert "refused the client ID or the client secret" in r.content.decode()
        configure(provider.issuer)
        r = console.post("/admin/options/sign-in/test")
        assert r.status_code == 200
        assert "1 signing key(s) and the client&#x27;s credentials accepted" in r.content.decode()
        configure(provider.issuer + "/elsewhere")
        r = console.post("/admin/options/sign-in/test")
        assert r.status_code == 400
    finally:
        provider.stop()


def test_an_unknown_door_state_is_refused_not_a_500(client):
    configure(f"http://127.0.0.1:{free_port()}")
    r = client.get("/user/sign-in/done?code=x&state=y")
    assert r.status_code == 400 and "start again from the log-in page" in r.content.decode()


def test_the_sign_in_page_shows_the_redirect_uris_to_register(console):
    page = console.get("/admin/options/sign-in").content.decode()
    assert "http://testserver/user/sign-in/done" in page
    assert "http://testserver/admin/sign-in/done" in page
    assert "Test sign-in settings" in page
