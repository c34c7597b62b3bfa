"""The portal in a real browser (Playwright driving Debian's Chromium) against a directory
user from a real slapd."""

import pytest

from cardid.cards import lookups
from cardid.config import services as config
from cardid.directory import services as directory
from cardid.directory.models import User
from cardid.sync import engine
from tests import ldapserver as L
from tests.browser import ARTIFACTS, NEEDS_CHROMIUM, chromium_page, overflowing
from tests.factories import ADMIN, give_number, make_user, numbers_of

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
    pytest.mark.skipif(L.available() is not None, reason=str(L.available())),
]


@pytest.fixture
def browser_page():
    with chromium_page(viewport=(390, 844)) as page:  # a phone
        yield page


@pytest.fixture
def directory_user(tmp_path):
    server = L.Slapd(
        tmp_path / "slapd", L.base_ldif() + L.person("ann", "Ann Smith", card="31415926")
    ).start()
    L.use_as_source(server.url)
    engine.run(actor=__import__("cardid.audit.actor", fromlist=["Actor"]).Actor("s", "sync"))
    yield User.objects.get(username="ann")
    server.stop()


def test_a_directory_user_views_changes_hits_the_limit_and_sets_a_pin(
    live_server, browser_page, directory_user
):
    for k, v in {
        "portal.view-card-number": "primary",
        "portal.change-card-number": "primary",
        "portal.change-card-number.max-per-day": "1",
        "portal.change-pin": "true",
    }.items():
        config.set_value(key=k, raw=v, actor=ADMIN)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser_page
    page.goto(f"{live_server.url}/user/login")
    page.get_by_label("User name").fill("ann")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "the username or password is wrong"
    page.get_by_label("Password").fill("pw-ann")  # the directory password, by LDAP bind
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/user/number")
    assert "31415926" not in page.content()
    page.get_by_role("button", name="Reveal").click()
    assert page.locator("#card-number").inner_text() == "31415926"
    assert "31415926" not in page.url
    page.screenshot(path=str(ARTIFACTS / "portal-number.png"), full_page=True)
    assert not overflowing(page)

    page.get_by_role("link", name="Change details").click()
    page.get_by_role("button", name="Generate a new random number").click()
    assert page.get_by_role("status").inner_text() == "Your Card/ID number was changed."
    new = numbers_of(directory_user)["primary"]
    assert new != "31415926"
    page.get_by_role("link", name="My Card/ID number").click()
    # Revealed a moment ago: still shown for the two minutes a reveal lasts.
    assert page.locator("#card-number").inner_text() == new

    page.get_by_role("link", name="Change details").click()
    # The day's one change is used: the page says so instead of offering another.
    assert "as many times as allowed today" in page.locator("#no-changes-left").inner_text()
    assert page.get_by_role("button", name="Generate a new random number").count() == 0
    assert numbers_of(directory_user)["primary"] == new

    page.get_by_label("Current PIN (or your password if you have no PIN yet)").fill("pw-ann")
    page.get_by_label("New PIN (digits only)").fill("2468")
    page.get_by_label("New PIN again").fill("2468")
    page.get_by_role("button", name="Change PIN").click()
    assert page.get_by_role("status").inner_text() == "Your PIN was changed."
    page.screenshot(path=str(ARTIFACTS / "portal-details.png"), full_page=True)
    assert not overflowing(page)
    page.set_viewport_size({"width": 1280, "height": 900})  # and on a desktop
    page.screenshot(path=str(ARTIFACTS / "portal-details-1280.png"), full_page=True)
    page.get_by_role("link", name="My Card/ID number").click()
    page.screenshot(path=str(ARTIFACTS / "portal-number-1280.png"), full_page=True)
    assert not overflowing(page)
    assert lookups.owner(number=new, pin="2468").username == "ann"
    assert lookups.owner(number=new, pin="1357") is None


def test_with_everything_off_the_links_are_absent(live_server, browser_page, directory_user):
    page = browser_page
    page.goto(f"{live_server.url}/user/login")
    page.get_by_label("User name").fill("ann")
    page.get_by_label("Password").fill("pw-ann")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/user/")
    assert page.get_by_role("link", name="My Card/ID number").count() == 0
    assert page.get_by_role("link", name="Change details").count() == 0
    assert page.goto(f"{live_server.url}/user/number").status == 404
    assert page.goto(f"{live_server.url}/user/details").status == 404


def test_copy_works_on_a_plain_http_intranet_host_name(live_server, settings):
    """On http://cards.test (not localhost, not HTTPS) the browser offers no clipboard API:
    Copy selects the number and copies it the old way, and says so."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "cards.test"]
    config.set_value(key="portal.view-card-number", raw="primary", actor=ADMIN)
    user = make_user(username="bea", full_name="Bea")
    directory.set_password(username="bea", password="a long local password", actor=ADMIN)
    give_number(user, "27182818")
    port = live_server.url.rsplit(":", 1)[1]
    rules = ("--host-resolver-rules=MAP cards.test 127.0.0.1",)
    with chromium_page(viewport=(390, 844), args=rules) as page:
        page.goto(f"http://cards.test:{port}/user/login")
        assert page.evaluate("window.isSecureContext") is False
        page.get_by_label("User name").fill("bea")
        page.get_by_label("Password").fill("a long local password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/user/number")
        page.get_by_role("button", name="Reveal").click()
        page.get_by_role("button", name="Copy").click()
        playwright.expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("window.getSelection().toString()").strip() == "27182818"
        page.reload()  # a refresh shows the page again, no form to resend
        assert page.locator("#card-number").inner_text() == "27182818"
        page.screenshot(path=str(ARTIFACTS / "portal-number-copied.png"), full_page=True)
