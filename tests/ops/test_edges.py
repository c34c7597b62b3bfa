"""The edges of every request: the client behind a trusted proxy, a host name cardid was not
told about, and bodies larger than cardid reads (SPEC §9)."""

import pytest
from django.test import Client

from cardid.ops import middleware
from cardid.ops.middleware import UNKNOWN_CLIENT, client_of, forwarded_address

pytestmark = pytest.mark.django_db
PROXY = [__import__("ipaddress").ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(
    ("entry", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("unknown", None),
        ("_hidden", None),
        ("127.000.000.001", None),
        ("[::1]:x", None),
        ("127.0.0.1:abc", None),
        ("[::1", None),
    ],
)
def test_forwarded_entries_are_read_in_every_form_proxies_write(entry, address):
    assert forwarded_address(entry) == address


@pytest.mark.parametrize("header", ["unknown", "127.000.000.001", "[::1]:x", "1.2.3.4, unknown"])
def test_an_entry_that_is_no_address_is_an_unknown_client_never_the_proxy(header):
    meta = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": header}
    assert client_of(meta, PROXY) == UNKNOWN_CLIENT


def test_behind_a_proxy_metrics_stay_closed_to_a_client_the_proxy_could_not_name(monkeypatch):
    monkeypatch.setenv("CARDID_TRUSTED_PROXIES", "127.0.0.1")
    proxy = Client()  # REMOTE_ADDR 127.0.0.1: the proxy
    for header in ("unknown", "127.000.000.001", "[::1]:x", "203.0.113.7:5555"):
        assert proxy.get("/metrics", HTTP_X_FORWARDED_FOR=header).status_code == 403, header
    # A client on the proxy's own machine, with its port: named, and allowed.
    assert proxy.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1:5555").status_code == 200


def test_a_host_name_not_allowed_gets_a_plain_400_and_one_log_line_a_minute(caplog):
    middleware_logged = __import__("cardid.ops.views", fromlist=["_HOSTS_LOGGED"])._HOSTS_LOGGED
    middleware_logged.clear()
    stranger = Client(HTTP_HOST="cards.example.org")
    with caplog.at_level("WARNING", logger="cardid.ops.views"):
        for _ in range(30):
            r = stranger.get("/healthz")
            assert r.status_code == 400 and r.content == b"bad request\n"
    lines = [rec for rec in caplog.records if rec.name == "cardid.ops.views"]
    assert len(lines) == 1 and "CARDID_ALLOWED_HOSTS" in lines[0].getMessage()


def test_a_body_larger_than_cardid_reads_is_refused_before_it_is_read():
    too_big = middleware.MAX_BODY + 1
    r = Client(REMOTE_ADDR="127.0.0.9").generic(
        "POST",
        "/user/login",
        b"x",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(200_000_000),
    )
    assert r.status_code == 413 and b"1,000,000 bytes at most" in r.content
    r = Client().post("/api/v1/lookup", "x" * too_big, content_type="application/json")
    assert r.status_code == 413
    # The console's import of numbers takes larger files (up to its own, documented limit).
    r = Client().generic("POST", "/admin/users/import", b"", CONTENT_LENGTH=str(too_big))
    assert r.status_code != 413
    r = Client().generic(
        "POST", "/admin/users/import", b"", CONTENT_LENGTH=str(middleware.MAX_UPLOAD + 1)
    )
    assert r.status_code == 413
