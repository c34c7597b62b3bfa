"""Runtime options: typed, validated, audited, with conflicts detected."""

import pytest

from cardid.audit.models import AuditEvent
from cardid.config import options
from cardid.config import services as config
from cardid.errors import Conflict, Invalid
from tests.factories import ADMIN


def test_every_contract_key_is_declared():
    for key in [
        "cards.length",
        "cards.no-leading-zero",
        "cards.check-digit",
        "cards.reject-weak-patterns",
        "cards.max-guess-probability",
        "cards.retired-quarantine-days",
        "sync.source",
        "sync.auto-generate-primary-when-blank",
        "sync.import-card-numbers",
        "sync.missing-users",
        "sync.guard.max-removal-percent",
        "sync.ldap.url",
        "sync.ldap.bind-dn",
        "sync.ldap.bind-password",
        "sync.ldap.base-dns",
        "sync.ldap.preset",
        "sync.ldap.user-filter",
        "sync.ldap.group-filter",
        "sync.ldap.attr.username",
        "sync.ldap.attr.primary-card",
        "sync.file.path",
        "sync.program.path",
        "sync.schedule",
        "notify.card-auto-generated",
        "notify.card-admin-generated",
        "notify.card-self-generated",
        "notify.card.subject",
        "notify.card.body",
        "smtp.host",
        "smtp.port",
        "smtp.security",
        "smtp.username",
        "smtp.password",
        "smtp.from",
        "portal.view-card-number",
        "portal.change-card-number",
        "portal.change-card-number.mode",
        "portal.change-card-number.max-per-day",
        "portal.change-pin",
        "cards.self-registration",
        "cards.self-registration.code-minutes",
        "api.lookup.max-misses",
        "api.lookup.window-minutes",
        "cards.pin.min-length",
        "cards.pin.max-length",
    ]:
        assert key in options.OPTIONS, key


@pytest.mark.parametrize(
    "key,raw,value",
    [
        ("cards.no-leading-zero", "off", False),
        ("cards.max-guess-probability", "1/1000", 0.001),
        ("sync.schedule", "2:05", "02:05"),
        ("cards.check-digit", "LUHN", "luhn"),
    ],
)
def test_values_are_parsed_into_their_types(key, raw, value):
    assert options.get(key).parse(raw) == value


@pytest.mark.parametrize(
    "key,raw,msg",
    [
        ("cards.length", "3", "at least 4"),
        ("cards.length", "eight", "whole number"),
        ("cards.check-digit", "crc", "one of none, luhn, damm"),
        ("cards.max-guess-probability", "2", "probability"),
        ("sync.schedule", "25:00", "HH:MM"),
        ("smtp.from", "not an address", "not an e-mail address"),
    ],
)
def test_bad_values_are_refused_with_what_is_allowed(key, raw, msg):
    with pytest.raises(options.OptionError, match=msg):
        options.get(key).parse(raw)


@pytest.mark.django_db
def test_set_value_is_stored_typed_and_audited():
    assert config.get("cards.length") == 8
    config.set_value(key="cards.length", raw="9", actor=ADMIN)
    assert config.get("cards.length") == 9
    ev = AuditEvent.objects.get()
    assert (ev.action, ev.target, ev.detail) == ("option.set", "cards.length", "9")


@pytest.mark.django_db
def test_secret_values_are_not_written_to_the_audit_trail():
    config.set_value(key="smtp.password", raw="hunter2", actor=ADMIN)
    assert "hunter2" not in AuditEvent.objects.get().detail


@pytest.mark.django_db
def test_a_stale_edit_is_a_conflict_not_a_silent_overwrite():
    v = config.version("cards.length")
    config.set_value(key="cards.length", raw="9", actor=ADMIN, expected_version=v)
    with pytest.raises(Conflict, match="changed by someone else"):
        config.set_value(key="cards.length", raw="10", actor=ADMIN, expected_version=v)
    assert config.get("cards.length") == 9


@pytest.mark.django_db
def test_pin_bounds_must_stay_in_order():
    with pytest.raises(Invalid, match="exceed"):
        config.set_value(key="cards.pin.min-length", raw="9", actor=ADMIN)


@pytest.mark.django_db
def test_unknown_key_points_at_config_list():
    with pytest.raises(Invalid, match="cardid config list"):
        config.set_value(key="cards.colour", raw="red", actor=ADMIN)
