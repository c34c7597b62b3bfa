"""The user portal through Django's test client: log-in, viewing, changing, and forgery."""

import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client

from cardid.access import guard
from cardid.access.models import LookupCounter
from cardid.audit.models import AuditEvent
from cardid.cards import lookups
from cardid.cards import services as cards
from cardid.config import services as config
from cardid.directory import services as directory
from cardid.notifications.models import OutboxMessage
from tests.factories import ADMIN, give_number, make_user, numbers_of

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


def options(**o):
    for k, v in o.items():
        config.set_value(key=k, raw=v, actor=ADMIN)


@pytest.fixture
def ann():
    user = make_user(username="ann", full_name="Ann Smith")
    directory.set_password(username="ann", password=PASSWORD, actor=ADMIN)
    give_number(user, "12345678")
    return user


def logged_in(client, username="ann", password=PASSWORD):
    r = client.post("/user/login", {"username": username, "password": password})
    assert r.status_code == 302, r.content
    return client


def test_the_number_is_hidden_until_revealed_and_never_in_a_url(client, ann):
    options(**{"portal.view-card-number": "primary"})
    logged_in(client)
    page = client.get("/user/number")
    assert page.status_code == 200 and b"12345678" not in page.content
    assert b"Reveal" in page.content
    revealed = client.post("/user/number")
    assert revealed.status_code == 302 and revealed["Location"] == "/user/number"  # no resubmit
    shown = client.get("/user/number")
    assert b"12345678" in shown.content and shown["Cache-Control"] == "no-store"
    assert not re.search(rb'(?:href|action)="[^"]*12345678', shown.content)
    session = client.session
    session["portal-reveal-until"] = 0  # two minutes later
    session.save()
    assert b"12345678" not in client.get("/user/number").content


def test_the_configured_slot_is_shown(client, ann):
    give_number(ann, "AB12CD", slot="secondary")
    options(**{"portal.view-card-number": "secondary"})
    assert b"AB12CD" in logged_in(client).post("/user/number", follow=True).content


def test_with_the_options_off_pages_and_links_are_absent(client, ann):
    logged_in(client)
    assert client.get("/user/number").status_code == 404
    assert client.get("/user/details").status_code == 404
    home = client.get("/user/", follow=True)
    assert b"My Card/ID number" not in home.content and b"Change details" not in home.content
    assert client.post("/user/details/number", {"action": "generate"}).status_code == 400
    assert numbers_of(ann) == {"primary": "12345678"}


def test_generating_changes_the_number_until_the_daily_limit(client, ann):
    options(
        **{
            "portal.view-card-number": "primary",
            "portal.change-card-number": "primary",
            "portal.change-card-number.max-per-day": "2",
            "notify.card-self-generated": "1",
        }
    )
    logged_in(client)
    seen = {"12345678"}
    for _ in range(2):
        r = client.post("/user/details/number", {"action": "generate"})
        assert r.status_code == 200 and b"was changed" in r.content
        seen.add(numbers_of(ann)["primary"])
    assert len(seen) == 3
    r = client.post("/user/details/number", {"action": "generate"})
    assert r.status_code == 400
    assert b"changed too many times today; please contact your administrator" in r.content
    assert len(seen | {numbers_of(ann)["primary"]}) == 3
    assert OutboxMessage.objects.filter(user=ann, reason="self", status="pending").count() == 1


def test_entering_a_number_is_checked_without_naming_the_holder(client, ann):
    give_number(make_user(username="bob"), "55555555")
    options(**{"portal.change-card-number": "primary", "portal.change-card-number.mode": "enter"})
    logged_in(client)
    r = client.post("/user/details/number", {"action": "enter", "number": "55555555"})
    assert r.status_code == 400 and b"cannot be used" in r.content and b"bob" not in r.content
    r = client.post("/user/details/number", {"action": "enter", "number": "12 34"})
    assert r.status_code == 400 and b"letters, digits" in r.content
    assert numbers_of(ann) == {"primary": "12345678"}
    refused = AuditEvent.objects.filter(action="portal.change-refused", target="ann")
    # The first refusal is recorded, the next ones in ten minutes counted (no flood).
    assert refused.count() == 1 and "55555555" not in " ".join(e.detail for e in refused)
    assert ("change-refused", "user:ann", 2) in guard.refusals()
    r = client.post("/user/details/number", {"action": "enter", "number": "87654320"})
    assert r.status_code == 200 and numbers_of(ann) == {"primary": "87654320"}


def test_a_chosen_number_follows_the_generation_policy_and_the_quarantine(client, ann):
    """Typed at keypads, a chosen number must be as hard to guess as a generated one."""
    options(**{"portal.change-card-number": "primary", "portal.change-card-number.mode": "enter"})
    bob = make_user(username="bob")
    give_number(bob, "86420975")
    cards.clear_number(username="bob", slot="primary", actor=ADMIN)  # retired, for ever
    logged_in(client)
    for number, words in [
        ("1", b"choose a number of 8 digits"),
        ("01234567", b"not starting with 0"),
        ("77777777", b"no easy pattern"),
        ("23456789", b"no easy pattern"),
        ("86420975", b"cannot be used"),  # retired from bob: never given out again
    ]:
        r = client.post("/user/details/number", {"action": "enter", "number": number})
        assert r.status_code == 400 and words in r.content, number
        assert b"bob" not in r.content
    assert numbers_of(ann) == {"primary": "12345678"}
    r = client.post("/user/details/number", {"action": "enter", "number": "86420976"})
    assert r.status_code == 200 and numbers_of(ann) == {"primary": "86420976"}
    # The ledger recorded the change once, as the portal's own change.
    assert AuditEvent.objects.filter(action="card.self-service", target="ann").count() == 1


def test_entering_is_refused_in_generate_mode(client, ann):
    options(**{"portal.change-card-number": "primary"})
    r = logged_in(client).post("/user/details/number", {"action": "enter", "number": "4711"})
    assert r.status_code == 400 and b"only be generated" in r.content


def test_pin_change_needs_the_password_then_the_pin_and_verifies_at_a_terminal(client, ann):
    options(**{"portal.change-pin": "true"})
    logged_in(client)
    r = client.post("/user/details/pin", {"current": "nope", "new": "4711", "confirm": "4711"})
    assert r.status_code == 400 and b"wrong" in r.content
    r = client.post("/user/details/pin", {"current": PASSWORD, "new": "47a1", "confirm": "47a1"})
    assert r.status_code == 400 and b"digits only" in r.content
    r = client.post("/user/details/pin", {"current": PASSWORD, "new": "4711", "confirm": "4711"})
    assert r.status_code == 200 and b"PIN was changed" in r.content
    assert lookups.owner(number="12345678", pin="4711") == ann
    r = client.post("/user/details/pin", {"current": "4711", "new": "2468", "confirm": "2468"})
    assert r.status_code == 200
    assert lookups.owner(number="12345678", pin="2468") == ann


@pytest.mark.parametrize(
    "form,data",
    [
        ("number", {"action": "generate", "user_id": "2"}),
        ("number", {"action": "enter", "number": "4711", "username": "bob"}),
        ("number", {"action": "generate", "slot": "secondary"}),
        ("pin", {"current": PASSWORD, "new": "4711", "confirm": "4711", "username": "bob"}),
    ],
)
def test_forged_fields_are_refused_audited_and_change_nothing(client, ann, form, data):
    bob = make_user(username="bob")
    give_number(bob, "99999999")
    options(
        **{
            "portal.change-card-number": "primary",
            "portal.change-card-number.mode": "enter",
            "portal.change-pin": "true",
        }
    )
    logged_in(client)
    r = client.post(f"/user/details/{form}", data)
    assert r.status_code == 400 and b"nothing was changed" in r.content
    assert numbers_of(ann) == {"primary": "12345678"}
    assert numbers_of(bob) == {"primary": "99999999"}
    assert not bob.pin_hash and AuditEvent.objects.filter(action="portal.forged-request").exists()


def test_a_flood_of_forged_posts_writes_one_audit_row_and_is_counted(client, ann):
    options(**{"portal.change-card-number": "primary"})
    logged_in(client)
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    for _ in range(60):
        r = client.post("/user/details/number", {"action": "generate", "user_id": "2"})
        assert r.status_code == 400
    forged = AuditEvent.objects.filter(action="portal.forged-request", target="ann")
    assert forged.count() == 1 and "more in the next 10 minutes are counted" in forged[0].detail
    written = AuditEvent.objects.filter(id__gt=before).values_list("action", flat=True)
    assert sorted(written) == ["portal.change-refused", "portal.forged-request"]  # not 120
    assert ("forged-request", "user:ann", 60) in guard.refusals()


def test_a_cross_site_post_is_refused_and_audited(ann):
    options(**{"portal.change-card-number": "primary"})
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/user/login")
    token = page.cookies["csrftoken"].value
    browser.post(
        "/user/login", {"username": "ann", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    r = browser.post("/user/details/number", {"action": "generate"})  # no token: another site
    assert r.status_code == 403 and b"refused" in r.content
    assert numbers_of(ann) == {"primary": "12345678"}
    assert AuditEvent.objects.filter(action="portal.csrf-refused").exists()


def test_wrong_passwords_are_refused_then_locked_out(client, ann):
    for _ in range(5):
        r = client.post("/user/login", {"username": "ann", "password": "guess"})
        assert r.status_code == 200 and b"username or password is wrong" in r.content
    r = client.post("/user/login", {"username": "ann", "password": PASSWORD})
    assert r.status_code == 429 and b"too many failed log-ins" in r.content
    assert client.get("/user/").status_code == 302  # still not logged in
    # The lock is ann's: another account logs in from the same browser...
    make_user(username="bob")
    directory.set_password(username="bob", password=PASSWORD, actor=ADMIN)
    logged_in(Client(), "bob")
    # ...and once the window has passed, ann's right password works again.
    LookupCounter.objects.update(window_start=F("window_start") - timedelta(minutes=15))
    logged_in(client)


def test_a_disabled_user_cannot_log_in_and_is_logged_out(client, ann):
    options(**{"portal.view-card-number": "primary"})
    logged_in(client)
    ann.enabled = False
    ann.save()
    assert client.get("/user/number").status_code == 302
    r = client.post("/user/login", {"username": "ann", "password": PASSWORD})
    assert r.status_code == 200 and b"wrong" in r.content


def test_pages_need_a_log_in(client, ann):
    options(**{"portal.view-card-number": "primary", "portal.change-pin": "true"})
    for path in ("/user/", "/user/number", "/user/details"):
        assert client.get(path)["Location"] == "/user/login"
    assert client.post("/user/details/pin", {"new": "1234"}).status_code == 302


def test_the_portal_shows_a_one_time_code_that_a_terminal_accepts(client, ann):
    import json

    from cardid.access import tokens

    assert logged_in(client).get("/user/register").status_code == 404
    options(**{"cards.self-registration": "secondary"})
    assert b"Register a card" in client.get("/user/register").content
    page = client.post("/user/register")
    code = re.search(rb'id="registration-code"[^>]*>([A-Z0-9]{8})<', page.content).group(1)
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    r = client.post(
        "/api/v1/self-registration",
        json.dumps({"reader_value": "04A1B2C3", "code": code.decode()}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert r.status_code == 200
    assert numbers_of(ann) == {"primary": "12345678", "secondary": "04A1B2C3"}
    assert client.post("/user/register", {"user_id": "2"}).status_code == 400


def test_a_typed_number_is_held_to_the_guess_bound_under_the_lock(client, ann):
    """Typed at keypads, chosen numbers count against the guess bound as generated ones do:
    with the room full, none more comes into use (it used to: bound 90, 69 + 23 = 92)."""
    options(
        **{
            "portal.change-card-number": "secondary",
            "portal.change-card-number.mode": "enter",
            "cards.length": "4",
            "cards.max-guess-probability": str(1 / 900),  # 4 digits: room for 10
        }
    )
    held = ["4817", "5926", "6035", "7148", "8259", "9360", "2471", "3582", "5704"]
    for i, number in enumerate(held):
        give_number(make_user(username=f"holder{i}"), number)
    logged_in(client)
    # 9 numbers of 4 digits in use (ann's 12345678 has 8): room for one more.
    r = client.post("/user/details/number", {"action": "enter", "number": "4693"})
    assert r.status_code == 200 and numbers_of(ann)["secondary"] == "4693"
    # Replacing one's own number of that length takes one out of use: it fits.
    r = client.post("/user/details/number", {"action": "enter", "number": "6815"})
    assert r.status_code == 200 and numbers_of(ann)["secondary"] == "6815"
    # The room is full: nobody else's typed number comes into use.
    bea = make_user(username="bea")
    directory.set_password(username="bea", password=PASSWORD, actor=ADMIN)
    other = Client()
    assert other.post("/user/login", {"username": "bea", "password": PASSWORD}).status_code == 302
    r = other.post("/user/details/number", {"action": "enter", "number": "7926"})
    assert r.status_code == 400
    assert b"no new number can be taken into use now" in r.content
    assert numbers_of(bea) == {}
