"""Self-registration at a terminal: password (local or directory) or one-time code."""

import json

import pytest

from cardid.access import tokens
from cardid.cards.models import Card, RegistrationCode
from cardid.config import services as config
from cardid.directory.models import User
from cardid.sync import engine
from tests import ldapserver as L
from tests.factories import ADMIN, give_number, make_user, numbers_of

pytestmark = pytest.mark.django_db
REFUSED = "registration refused: the credentials are wrong or this card cannot be registered"


@pytest.fixture
def terminal(client):
    config.set_value(key="cards.self-registration", raw="secondary", actor=ADMIN)
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]

    def post(**body):
        r = client.post(
            "/api/v1/self-registration",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        return r.status_code, r.json()

    return post


def test_a_one_time_code_registers_the_card_once(terminal, cli):
    ann = make_user(username="ann")
    code = cli("users", "registration-code", "ann").out.strip()
    assert len(code) == 8 and code not in str(RegistrationCode.objects.get().code_hash)
    assert terminal(reader_value="04A1B2C3", code=code) == (
        200,
        {"username": "ann", "slot": "secondary"},
    )
    card = Card.objects.get(user=ann)
    assert (card.slot, card.number, card.origin) == ("secondary", "04A1B2C3", "self-registered")
    assert terminal(reader_value="0A0B0C0D", code=code) == (403, {"detail": REFUSED})


def test_an_expired_code_is_refused(terminal, cli):
    make_user(username="ann")
    code = cli("users", "registration-code", "ann").out.strip()
    RegistrationCode.objects.update(expires_at="2000-01-01T00:00Z")
    assert terminal(reader_value="04A1B2C3", code=code) == (403, {"detail": REFUSED})
    assert Card.objects.count() == 0


def test_a_local_password_registers_and_a_wrong_one_gets_the_same_answer(terminal, cli, tmp_path):
    ann = make_user(username="ann")
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    assert cli("users", "set-password", "ann", "--password-file", str(pw)).code == 0
    assert terminal(reader_value="1234", username="ann", password="wrong") == (
        403,
        {"detail": REFUSED},
    )
    assert terminal(reader_value="1234", username="ghost", password="x") == (
        403,
        {"detail": REFUSED},
    )
    assert terminal(reader_value="1234", username="ann", password="correct horse")[0] == 200
    assert numbers_of(ann) == {"secondary": "1234"}


def test_a_card_held_by_someone_else_or_retired_gets_the_same_answer(terminal, cli):
    make_user(username="ann")
    give_number(make_user(username="bob"), "5555")
    code = cli("users", "registration-code", "ann").out.strip()
    assert terminal(reader_value="5555", code=code) == (403, {"detail": REFUSED})
    # The code was not spent on the refused card.
    from cardid.cards import services

    services.set_number(username="bob", number="7777", slot="primary", actor=ADMIN)  # retires
    assert terminal(reader_value="5555", code=code) == (403, {"detail": REFUSED})
    assert terminal(reader_value="6666", code=code)[0] == 200


def test_refusals_count_against_the_terminal(terminal):
    make_user(username="ann")
    for _ in range(30):
        assert terminal(reader_value="1", code="WRONG123")[0] == 403
    status, body = terminal(reader_value="1", code="WRONG123")
    assert status == 429 and "too many refused registrations" in body["detail"]


def test_switched_off_and_bad_values(terminal, cli):
    make_user(username="ann")
    code = cli("users", "registration-code", "ann").out.strip()
    status, body = terminal(reader_value="12 34", code=code)
    assert status == 400 and "letters, digits" in body["detail"]
    status, body = terminal(reader_value="9" * 65, code=code)
    assert status == 400 and "at most 64" in body["detail"]
    config.set_value(key="cards.self-registration", raw="off", actor=ADMIN)
    status, body = terminal(reader_value="1234", code=code)
    assert status == 409 and "switched off" in body["detail"]


@pytest.mark.skipif(L.available() is not None, reason=str(L.available()))
def test_directory_password_registration_survives_the_next_sync(terminal, tmp_path):
    server = L.Slapd(tmp_path / "slapd", L.base_ldif() + L.person("ann", "Ann", card="1111"))
    server.start()
    try:
        L.use_as_source(server.url, **{"sync.ldap.attr.secondary-card": "employeeNumber"})
        sync_actor = __import__("cardid.audit.actor", fromlist=["Actor"]).Actor("s", "sync")
        config.set_value(key="sync.ldap.attr.primary-card", raw="none", actor=ADMIN)
        engine.run(actor=sync_actor)
        ann = User.objects.get(username="ann")
        assert numbers_of(ann) == {"secondary": "1111"}
        assert terminal(reader_value="2222", username="ann", password="wrong")[0] == 403
        assert terminal(reader_value="2222", username="ann", password="pw-ann")[0] == 200
        assert numbers_of(ann) == {"secondary": "2222"}
        engine.run(actor=sync_actor)  # the directory still says 1111
        assert numbers_of(ann) == {"secondary": "2222"}
    finally:
        server.stop()
