"""Single sign-on with a real OpenID Connect provider (node's oidc-provider on loopback) in a
real browser against `cardid serve`: the portal and the console, the people matched and
refused, and ID tokens that must not be believed."""

import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from cardid import secretbox
from cardid.config import services as config
from tests import oidcprovider
from tests.browser import NEEDS_CHROMIUM, chromium_page, overflowing, screenshot
from tests.conftest import free_port
from tests.factories import ADMIN, give_number, make_user
from tests.ops.test_serve import get_json, wait_for

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
PROBLEM = oidcprovider.available()
pytestmark = [
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
    pytest.mark.skipif(PROBLEM is not None, reason=str(PROBLEM)),
]
expect = playwright.expect
ACCOUNTS = {
    # The provider's accounts: the username claim in another letter case than the directory's.
    "ann": {"preferred_username": "ANN", "name": "Ann Smith", "groups": ["staff"]},
    "boss": {"preferred_username": "boss", "name": "The Boss", "groups": ["cardid-admins"]},
    "stranger": {"preferred_username": "stranger", "groups": ["cardid-admins"]},
}


@pytest.fixture
def site(subprocess_env, tmp_path):
    """cardid serve and the provider, each knowing the other's address."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = oidcprovider.Provider(tmp_path / "oidc", ACCOUNTS, url).start()
    settings = {
        "auth.oidc.issuer": provider.issuer,
        "auth.oidc.client-id": oidcprovider.CLIENT_ID,
        "auth.oidc.client-secret": oidcprovider.CLIENT_SECRET,
        "auth.oidc.name": "Example ID",
        "auth.oidc.portal": "true",
        "auth.oidc.console": "true",
        "auth.oidc.admin-group": "cardid-admins",
    }
    for k, v in settings.items():
        config.set_value(key=k, raw=v, actor=ADMIN)
    # The server opens the client secret with the key this process sealed it with.
    subprocess_env["CARDID_SECRETS_KEY"] = ",".join(
        k.decode() for k in secretbox.keys(django_settings.DATA_DIR)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "cardid", "serve", "--port", str(port), "--no-worker"],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: get_json(f"{url}/healthz"), what="cardid serve")
        yield url, provider
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        provider.stop()
        err = proc.stderr.read().decode(errors="replace")
        assert "Traceback" not in err, err[-3000:]


@pytest.fixture
def page():
    with chromium_page() as p:
        yield p


def sign_in_at_provider(page, account: str) -> None:
    """The provider's own log-in form (its development one takes any password)."""
    page.locator("input[name=login]").fill(account)
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()


def test_the_portal_signs_in_a_card_holder_and_lands_on_the_number(site, page):
    url, provider = site
    ann = make_user(username="ann", full_name="Ann Smith")
    give_number(ann, "31415926")
    config.set_value(key="portal.view-card-number", raw="primary", actor=ADMIN)
    page.goto(f"{url}/user/login")
    screenshot(page, "portal-login-sso")
    page.get_by_role("link", name="Sign in with Example ID").click()
    assert page.url.startswith(provider.issuer)  # at the provider, not at cardid
    sign_in_at_provider(page, "ann")
    expect(page.get_by_role("heading", name="My Card/ID number")).to_be_visible()
    assert page.url.startswith(f"{url}/user/")
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("main")).to_contain_text("31415926")
    # Sign-out ends cardid's session and offers the provider's.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_contain_text("You are logged out of cardid")
    screenshot(page, "portal-signed-out-sso")
    page.get_by_role("link", name="sign out there too").click()
    page.wait_for_url(f"{provider.issuer}/**")
    page.goto(f"{url}/user/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_person_who_is_no_card_holder_is_refused(site, page):
    url, _ = site
    page.goto(f"{url}/user/sign-in")
    sign_in_at_provider(page, "stranger")
    expect(page.get_by_role("heading", name="You are not signed in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("no card holder of that name exists")
    screenshot(page, "portal-sso-refused")
    page.set_viewport_size({"width": 390, "height": 844})
    assert not overflowing(page)
    page.goto(f"{url}/user/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_the_console_admits_members_of_the_admin_group_only(site, page):
    url, _ = site
    make_user(username="ann")
    make_user(username="boss")
    page.goto(f"{url}/admin/login")
    screenshot(page, "console-login-sso")
    page.get_by_role("link", name="Sign in with Example ID").click()
    sign_in_at_provider(page, "ann")  # a card holder, not in the admin group
    expect(page.get_by_role("alert")).to_contain_text("may not use the console")
    page.goto(f"{url}/admin/")
    expect(page.get_by_role("heading", name="Administrator log-in")).to_be_visible()

    other = page.context.browser.new_context().new_page()  # no session of ann's
    other.goto(f"{url}/admin/sign-in")
    sign_in_at_provider(other, "boss")
    expect(other.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(other.locator("header")).to_contain_text("boss")


@pytest.mark.parametrize(
    "tamper, words",
    [
        ("audience", "was refused"),
        ("expired", "it has expired"),
        ("signature", "its signature does not match"),
    ],
)
def test_id_tokens_that_do_not_check_out_are_refused(site, page, tamper, words):
    url, provider = site
    make_user(username="ann")
    provider.tamper = tamper
    page.goto(f"{url}/user/sign-in")
    sign_in_at_provider(page, "ann")
    expect(page.get_by_role("alert")).to_contain_text(words)
    page.goto(f"{url}/user/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_with_password_log_in_off_only_single_sign_on_is_offered(site, page, cli):
    url, _ = site
    assert cli("config", "set", "auth.local-login", "false").code == 0
    page.goto(f"{url}/user/login")
    expect(page.get_by_role("link", name="Sign in with Example ID")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)
    page.goto(f"{url}/admin/login")
    expect(page.get_by_label("Password")).to_have_count(0)
    # Turning single sign-on off for a door while passwords are off is refused.
    r = cli("config", "set", "auth.oidc.console", "false")
    assert r.code == 1 and "password log-in can be turned off only once" in r.err
