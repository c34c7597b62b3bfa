"""The guard (SPEC §9): failures counted per account-or-number and address together, and per
address; nobody can lock someone else out; every refusal at once; locks listed and lifted."""

import json
import re
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cardid.access import guard, tokens
from cardid.access.models import LookupCounter
from cardid.audit.models import AuditEvent
from cardid.cards import numbers, selectors
from cardid.cards import services as cards
from cardid.cards.models import Card, RetiredNumber
from cardid.config import services as config
from cardid.directory import services as directory
from tests.access.hashing import password_checks
from tests.factories import ADMIN, give_number, make_user, numbers_of

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def console_login(client: Client, name: str, password: str):
    return client.post("/admin/login", {"username": name, "password": password})


def portal_login(client: Client, name: str, password: str):
    return client.post("/user/login", {"username": name, "password": password})


@pytest.fixture
def admin2(django_user_model):
    return django_user_model.objects.create_user(
        "admin2", password=PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def ann():
    user = make_user(username="ann")
    directory.set_password(username="ann", password=PASSWORD, actor=ADMIN)
    return user


# -- nobody can lock someone else out ---------------------------------------------------------


def test_failures_from_one_address_never_refuse_the_right_password_from_another(admin2):
    attacker, admin = from_address("127.0.0.2"), from_address("127.0.0.3")
    for _ in range(5):
        assert console_login(attacker, "admin2", "guess").status_code == 400
    r = console_login(attacker, "admin2", PASSWORD)
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert "too many failed log-ins" in r.content.decode()
    assert console_login(admin, "admin2", PASSWORD).status_code == 302


def test_portal_users_cannot_be_locked_out_from_another_address(ann):
    for _ in range(5):
        portal_login(from_address("127.0.0.2"), "ann", "guess")
    assert portal_login(from_address("127.0.0.2"), "ann", PASSWORD).status_code == 429
    assert portal_login(from_address("127.0.0.4"), "ann", PASSWORD).status_code == 302


def test_an_address_that_tries_many_accounts_is_refused_for_all_of_them(ann):
    attacker = from_address("127.0.0.5")
    for i in range(30):
        portal_login(attacker, f"nobody{i}", "guess")
    assert portal_login(attacker, "ann", PASSWORD).status_code == 429
    assert portal_login(from_address("127.0.0.6"), "ann", PASSWORD).status_code == 302


def test_a_refused_log_in_answers_at_once(admin2):
    """The failures take one password check each; the locked ones none at all, and nobody
    sleeps for an attacker (bench/timing.py measures the times)."""
    attacker = from_address("127.0.0.2")
    work = []
    with mock.patch("time.sleep", side_effect=AssertionError("a log-in slept")):
        for _ in range(8):
            with password_checks() as checks:
                r = console_login(attacker, "admin2", "guess")
            work.append((r.status_code, len(checks)))
    assert work == [(400, 1)] * 5 + [(429, 0)] * 3


def test_locks_are_listed_and_lifted_and_an_unlock_of_nothing_says_so(cli, admin2, ann):
    for _ in range(5):
        console_login(from_address("127.0.0.2"), "admin2", "guess")
        portal_login(from_address("127.0.0.7"), "ann", "guess")
    listed = json.loads(cli("access", "list", "--format", "json").out)
    assert {(r["what"], r["account"], r["client"]) for r in listed} == {
        ("console log-in", "admin2", "127.0.0.2"),
        ("log-in (portal, terminal)", "ann", "127.0.0.7"),
    }
    r = cli("access", "unlock", "--user", "admin2")
    assert r.code == 0 and "unlocked user admin2" in r.err
    assert console_login(from_address("127.0.0.2"), "admin2", PASSWORD).status_code == 302
    r = cli("access", "unlock", "--address", "127.0.0.7")
    assert r.code == 0
    assert portal_login(from_address("127.0.0.7"), "ann", PASSWORD).status_code == 302
    r = cli("access", "unlock", "--user", "nobody")
    assert r.code == 1 and r.err == (
        "cardid: nothing is locked or counted for user 'nobody'; `cardid access list` shows locks\n"
    )
    assert AuditEvent.objects.filter(action="access.unlocked").count() == 2


def test_the_console_shows_locks_and_unlocks_them(console, ann):
    for _ in range(5):
        portal_login(from_address("127.0.0.8"), "ann", "guess")
    page = console.get("/admin/options/security").content.decode()
    assert 'id="locks"' in page and "127.0.0.8" in page and "Unlock account ann" in page
    r = console.post("/admin/options/security/unlock", {"user": "ann"}, follow=True)
    assert "Unlocked" in r.content.decode() and 'id="no-locks"' in r.content.decode()
    assert portal_login(from_address("127.0.0.8"), "ann", PASSWORD).status_code == 302


# -- PINs -------------------------------------------------------------------------------------


def terminal(client: Client, name: str):
    key = tokens.create(name=name, scope="lookup", actor=ADMIN)[1]

    def lookup(number: str, pin: str | None = None):
        body = {"number": number} if pin is None else {"number": number, "pin": pin}
        return client.post(
            "/api/v1/lookup",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    return lookup


def test_wrong_pins_lock_a_number_per_client_then_for_the_day(client, console):
    ann = make_user(username="ann")
    give_number(ann, "31415926")
    cards.set_pin(username="ann", pin="4711", actor=ADMIN)
    doors = [terminal(client, f"door-{i}") for i in range(5)]
    for _ in range(5):
        assert doors[0]("31415926", "0000").status_code == 404
    r = doors[0]("31415926", "4711")  # the right PIN, from the client that guessed
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert doors[1]("31415926", "4711").status_code == 200  # another terminal: fine
    # Across all terminals, 20 wrong PINs a day: then the number waits for tomorrow.
    for door in doors[1:4]:
        for _ in range(5):
            door("31415926", "0000")
    r = doors[4]("31415926", "4711")
    assert r.status_code == 429 and "try again tomorrow" in r.json()["detail"]
    assert doors[4]("31415926").status_code == 200  # a look-up without a PIN still works
    assert AuditEvent.objects.filter(action="pin.locked-for-day", target="ann").count() == 1
    page = console.get("/admin/").content.decode()
    assert 'id="pins-locked"' in page and "1 card had too many wrong PINs today" in page
    # The counters name no number.
    keys = " ".join(LookupCounter.objects.values_list("key", flat=True))
    assert "31415926" not in keys and numbers.digest("31415926") not in keys


def test_failed_look_ups_are_refused_at_once_past_the_limit(client):
    config.set_value(key="api.lookup.max-misses", raw="20", actor=ADMIN)
    walk = terminal(client, "walker")
    # No slow-down: nothing sleeps for the walker (bench/timing.py measures the answers).
    with mock.patch("time.sleep", side_effect=AssertionError("a look-up slept")):
        for n in range(20):
            assert walk(f"{10000000 + n}").status_code == 404
        r = walk("10000099")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0


# -- self-registration ------------------------------------------------------------------------


@pytest.fixture
def register(client):
    config.set_value(key="cards.self-registration", raw="secondary", actor=ADMIN)
    key = tokens.create(name="kiosk", scope="lookup", actor=ADMIN)[1]

    def post(**body):
        r = client.post(
            "/api/v1/self-registration",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        return r.status_code, r.json()

    return post


def test_wrong_passwords_at_a_terminal_lock_like_portal_log_ins(register, ann):
    for _ in range(5):
        assert register(reader_value="04A1B2C3", username="ann", password="guess")[0] == 403
    status, body = register(reader_value="04A1B2C3", username="ann", password=PASSWORD)
    assert status == 429 and numbers_of(ann) == {}
    # The same account from a browser elsewhere is not locked.
    assert portal_login(from_address("127.0.0.9"), "ann", PASSWORD).status_code == 302


def test_probing_which_numbers_are_held_gets_one_answer_is_counted_and_retires_nothing(
    register, ann
):
    give_number(make_user(username="bob"), "0A0B0C0D", slot="secondary")
    free = register(reader_value="01010101", username="ann", password=PASSWORD)
    held = register(reader_value="0A0B0C0D", username="ann", password=PASSWORD)
    assert free[0] == 200 and held == (
        403,
        {
            "detail": "registration refused: the credentials are wrong or this card cannot be "
            "registered"
        },
    )
    retired = RetiredNumber.objects.count()
    for _ in range(4):
        register(reader_value="0A0B0C0D", username="ann", password=PASSWORD)
    # Five refusals for ann from this terminal: refused at once, held or not.
    assert register(reader_value="02020202", username="ann", password=PASSWORD)[0] == 429
    assert RetiredNumber.objects.count() == retired  # no refused probe retires a number
    assert numbers_of(ann) == {"secondary": "01010101"}


def test_a_user_registers_at_most_a_few_cards_a_day(register, ann):
    for n in ("01010101", "02020202", "03030303"):
        assert register(reader_value=n, username="ann", password=PASSWORD)[0] == 200
    assert register(reader_value="04040404", username="ann", password=PASSWORD)[0] == 403
    assert numbers_of(ann) == {"secondary": "03030303"}


# -- the portal's PIN change ------------------------------------------------------------------


def test_wrong_current_pins_in_the_portal_are_counted_and_locked(ann):
    config.set_value(key="portal.change-pin", raw="true", actor=ADMIN)
    browser = from_address("127.0.0.10")
    assert portal_login(browser, "ann", PASSWORD).status_code == 302
    for _ in range(5):  # no PIN yet: the current password is asked — and throttled
        r = browser.post(
            "/user/details/pin", {"current": "guess", "new": "4711", "confirm": "4711"}
        )
        assert r.status_code == 400 and b"wrong" in r.content
    r = browser.post("/user/details/pin", {"current": PASSWORD, "new": "4711", "confirm": "4711"})
    assert r.status_code == 400 and b"too many" in r.content
    ann.refresh_from_db()
    assert not ann.pin_hash


def test_wrong_current_pins_in_the_portal_meet_the_daily_cap_of_pins(ann, settings):
    """Past 5 wrong PINs from an address the next address goes on — until the account's
    wrong PINs of the day reach cards.pin.max-misses-per-day (20), as at the terminals."""
    config.set_value(key="portal.change-pin", raw="true", actor=ADMIN)
    cards.set_pin(username="ann", pin="4711", actor=ADMIN)
    settings.ALLOWED_HOSTS = ["*"]
    refused_at = None
    for n in range(30):
        browser = from_address(f"127.0.3.{n // 5 + 1}")  # a new address every 5 tries
        if n % 5 == 0:
            assert portal_login(browser, "ann", PASSWORD).status_code == 302
            session = browser
        r = session.post("/user/details/pin", {"current": "0000", "new": "1234", "confirm": "1234"})
        if b"today" in r.content:
            refused_at = n
            break
        assert r.status_code == 400 and b"wrong" in r.content
    assert refused_at == 20
    assert b"too many wrong PINs for this account today; try again tomorrow" in r.content
    # The right PIN from a fresh address is refused too, for the rest of the day.
    fresh = from_address("127.0.4.1")
    portal_login(fresh, "ann", PASSWORD)
    r = fresh.post("/user/details/pin", {"current": "4711", "new": "1234", "confirm": "1234"})
    assert b"today" in r.content
    assert cards.verify_pin(type(ann).objects.get(pk=ann.pk), "4711")  # unchanged


def test_guesses_from_one_ipv6_network_are_counted_together(ann):
    """Twelve addresses of one /64 are one client: its 30 failures lock all of them."""
    for i in range(36):
        client = from_address(f"2001:db8:1:2::{i % 12 + 1:x}")
        r = portal_login(client, f"nobody{i}", "guess")
    assert r.status_code == 429
    assert portal_login(from_address("2001:db8:1:2::99"), "ann", PASSWORD).status_code == 429
    # Another /64 is another client.
    assert portal_login(from_address("2001:db8:1:3::1"), "ann", PASSWORD).status_code == 302
    listed = {lock.client for lock in guard.locks()}
    assert "2001:db8:1:2::/64" in listed


def test_a_nul_byte_in_a_username_is_a_failed_log_in_not_an_error(ann, admin2):
    """PostgreSQL's text refuses the byte: the portal answered 500 and counted nothing."""
    attacker = from_address("127.0.5.1")
    for _ in range(5):
        r = portal_login(attacker, "ann\x00", "guess")
        assert r.status_code == 200 and b"wrong" in r.content
    assert portal_login(attacker, "ann\x00", "guess").status_code == 429  # counted
    assert AuditEvent.objects.filter(action="portal.login-failed", target="ann\\0").exists()
    # The console's form refuses the byte before any check, in words.
    r = console_login(from_address("127.0.5.2"), "admin2\x00", "guess")
    assert r.status_code == 400 and b"Null characters are not allowed" in r.content


# -- sessions ---------------------------------------------------------------------------------


def test_a_new_password_ends_the_portal_sessions(cli, ann, tmp_path):
    browser = from_address("127.0.0.11")
    portal_login(browser, "ann", PASSWORD)
    assert browser.get("/user/").status_code == 200
    pw = tmp_path / "pw"
    pw.write_text("another long passphrase\n")
    assert cli("users", "set-password", "ann", "--password-file", str(pw)).code == 0
    assert browser.get("/user/").status_code == 302


def test_a_new_password_or_removal_ends_the_console_sessions(cli, admin2, tmp_path):
    browser = from_address("127.0.0.12")
    console_login(browser, "admin2", PASSWORD)
    assert browser.get("/admin/").status_code == 200
    pw = tmp_path / "pw"
    pw.write_text("a different passphrase 42\n")
    assert cli("admins", "set-password", "admin2", "--password-file", str(pw)).code == 0
    assert browser.get("/admin/").status_code == 302
    console_login(browser, "admin2", "a different passphrase 42")
    assert browser.get("/admin/").status_code == 200
    assert cli("admins", "remove", "admin2").code == 0
    assert browser.get("/admin/").status_code == 302


# -- administrators' passwords ----------------------------------------------------------------


@pytest.mark.parametrize(
    "password,rule",
    [
        ("x", "at least 12 characters"),
        ("123456789012345", "entirely numeric"),
        ("password1234", "too common"),
    ],
)
def test_weak_administrator_passwords_are_refused_at_every_door(cli, tmp_path, password, rule):
    pw = tmp_path / "pw"
    pw.write_text(password + "\n")
    for args in (["init", "--admin", "boss"], ["admins", "add", "boss"]):
        r = cli(*args, "--password-file", str(pw))
        assert r.code == 1 and rule in r.err and len(r.err.strip().splitlines()) == 1
    assert not cli("admins", "list").out.strip()
    pw.write_text("a fine long passphrase\n")
    assert cli("admins", "add", "boss", "--password-file", str(pw)).code == 0
    pw.write_text(password + "\n")
    r = cli("admins", "set-password", "boss", "--password-file", str(pw))
    assert r.code == 1 and rule in r.err
    assert cli("admins", "list").out.startswith("boss\tactive")


# -- floods of unauthenticated requests ------------------------------------------------------


def test_a_flood_without_csrf_tokens_is_counted_not_written_row_by_row(ann):
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="127.0.0.13")
    for _ in range(100):
        assert browser.post("/user/login", {"username": "ann", "password": "x"}).status_code == 403
    assert AuditEvent.objects.filter(action="portal.csrf-refused").count() == 1
    assert guard.refusals() == [("csrf", "127.0.0.13", 100)]


def test_a_flood_of_unknown_tokens_is_counted_not_written_row_by_row(client):
    for i in range(50):
        r = client.get("/api/v1/users", HTTP_AUTHORIZATION=f"Bearer cid_nonsense{i}")
        assert r.status_code == 401
    assert AuditEvent.objects.filter(action="api.token-refused").count() == 1
    assert guard.refusals() == [("api-token", "127.0.0.1", 50)]


# -- keyed digests ----------------------------------------------------------------------------


def test_retired_numbers_are_keyed_digests_and_old_rows_are_converted():
    ann = make_user(username="ann")
    cards.set_number(username="ann", number="12345678", slot="primary", actor=ADMIN)
    cards.clear_number(username="ann", slot="primary", actor=ADMIN)
    stored = RetiredNumber.objects.get().number_hash
    assert stored == selectors.retired_hash("12345678") != numbers.digest("12345678")
    # A row of the old kind (a plain SHA-256) becomes the keyed digest in the migration.
    from importlib import import_module

    from django.apps import apps

    migration = import_module("cardid.cards.migrations.0004_retired_numbers_keyed")
    RetiredNumber.objects.update(number_hash=numbers.digest("87654321"))
    migration.keyed(apps, None)
    assert RetiredNumber.objects.get().number_hash == selectors.retired_hash("87654321")
    assert selectors.quarantined_keys(["87654321"]) == {"87654321"}
    assert ann.username == "ann" and Card.objects.count() == 0


def test_regular_expressions_run_in_linear_time_or_are_refused_when_saved(client, cli):
    key = tokens.create(name="reader", scope="read", actor=ADMIN)[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    # A backtracking engine would take 2^60 steps on this (the run would never end); RE2
    # answers (bench/timing.py measures how fast).
    body = {"value": "a" * 60 + "!", "chain": "regex:(a+)+$"}
    r = client.post("/api/v1/rules/convert", json.dumps(body), "application/json", **auth)
    assert r.status_code == 400 and "no match" in r.json()["detail"]
    r = cli("cards", "rules", "set", "echo", r"regex:(\d)\1")
    assert r.code == 1 and "not a regular expression that runs in linear time" in r.err
    r = cli("config", "set", "sync.ldap.card-regex", "(?=x)y")
    assert r.code == 1 and "linear time" in r.err
    pairs = [[f"{n:08X}", str(n)] for n in range(101)]
    r = client.post(
        "/api/v1/rules/derive", json.dumps({"pairs": pairs}), "application/json", **auth
    )
    assert r.status_code == 422
    assert re.search("at most 100", json.dumps(r.json()))


def test_a_locked_look_up_client_is_refused_without_asking_the_database_again(client):
    """Once refused, the flood is answered from memory for a moment: no query at all (the
    token too is kept for a second); an unlock lifts it at once in this process."""
    key = tokens.create(name="walker", scope="lookup", actor=ADMIN)[1]
    config.set_value(key="api.lookup.max-misses", raw="3", actor=ADMIN)

    def walk():
        return client.post(
            "/api/v1/lookup",
            {"number": "90000001"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    for _ in range(3):
        assert walk().status_code == 404
    assert walk().status_code == 429  # found locked in the database
    with CaptureQueriesContext(connection) as q:
        r = walk()
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert q.captured_queries == []
    guard.unlock(address="token:walker")
    assert walk().status_code == 404  # lifted at once


def test_keyed_digests_are_djangos_salted_hmac_with_each_key_worked_out_once(settings):
    """Stored digests (retired numbers, counters, PINs) stay valid: the same value as
    salted_hmac gives, for every purpose and secret."""
    from django.utils.crypto import salted_hmac

    from cardid import keyed

    for secret in ("first-secret-0123456789-0123456789-0123456789", "second-secret-ÄÖÜ-xyz"):
        settings.SECRET_KEY = secret
        for purpose, value in (("pin", "17\x004711"), ("retired", "12345678"), ("guard.x", "")):
            expected = salted_hmac(f"cardid.{purpose}", value, algorithm="sha256").hexdigest()
            assert keyed.digest(purpose, value) == expected
