"""Directory write-back against a real slapd: what cardid changes lands on the entry (read
back with ldapsearch), waits out a directory that is down, and a refusal is shown."""

import subprocess

import pytest

from cardid.cards import services as cards
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.models import User
from cardid.outbound import services as outbound
from cardid.outbound.models import Delivery
from cardid.sync import engine
from tests import ldapserver as L
from tests.directory.test_sync_ldap import SYNC, configure
from tests.factories import ADMIN

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(L.available() is not None, reason=str(L.available())),
]


@pytest.fixture
def slapd(tmp_path):
    ldif = (
        L.base_ldif()
        + L.person("ann", "Ann Smith", "ann@example.org")
        + L.person("bob", "Bob Jones", "bob@example.org", card="77770001")
    )
    server = L.Slapd(tmp_path / "slapd", ldif).start()
    configure(server.url, **{"sync.ldap.write-back": "primary"})
    yield server
    server.stop()


def on_entry(server, uid: str, attr: str = "employeeNumber") -> list[str]:
    """The attribute's values on the entry, as ldapsearch reads them."""
    out = subprocess.run(
        ["ldapsearch", "-x", "-LLL", "-H", server.url, "-b", L.SUFFIX, f"(uid={uid})", attr],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith(f"{attr}: ")]


def sync():
    result = engine.run(actor=SYNC)
    assert result.status == "succeeded", result.message
    return result


def test_generated_changed_and_cleared_numbers_are_written_back(slapd, cli):
    sync()
    assert cli("generate", "--user", "ann").code == 0
    number = Card.objects.get(user__username="ann").number
    assert Delivery.objects.filter(lane="directory", status="pending").count() == 1
    r = cli("notifications", "send-pending")
    assert r.code == 0, r.err
    assert on_entry(slapd, "ann") == [number]

    cards.set_number(username="ann", slot="primary", number="55501234", actor=ADMIN)
    outbound.deliver_due()
    assert on_entry(slapd, "ann") == ["55501234"]

    cards.clear_number(username="ann", slot="primary", actor=ADMIN)
    outbound.deliver_due()
    assert on_entry(slapd, "ann") == []  # the value deleted, not left behind

    cards.set_number(username="bob", slot="primary", number="77770002", actor=ADMIN)
    outbound.deliver_due()
    assert on_entry(slapd, "bob") == ["77770002"]
    # The next sync reads back what was written and changes nothing.
    again = sync()
    assert again.counts["numbers_imported"] == 0 and again.counts["updated"] == 0
    assert Card.objects.get(user__username="bob").number == "77770002"


def test_numbers_the_sync_imported_are_not_written_back(slapd):
    sync()
    assert Card.objects.get(user__username="bob").number == "77770001"
    assert not Delivery.objects.exists()


def test_a_write_waits_while_the_directory_is_down_and_lands_after(slapd):
    sync()
    slapd.stop()
    cards.set_number(username="ann", slot="primary", number="55501234", actor=ADMIN)
    report = outbound.deliver_due(force=True)
    assert report.retrying == 1 and report.sent == 0
    d = Delivery.objects.get()
    assert d.status == "pending" and d.attempts == 1 and d.last_error
    # A sync meanwhile does not take the directory's old value for a new one.
    slapd.start()
    sync()
    assert Card.objects.get(user__username="ann").number == "55501234"
    outbound.deliver_due(force=True)
    assert Delivery.objects.get().status == "sent"
    assert on_entry(slapd, "ann") == ["55501234"]
    assert sync().counts["numbers_imported"] == 0


def test_only_the_latest_numbers_are_written(slapd):
    sync()
    cards.set_number(username="ann", slot="primary", number="55501234", actor=ADMIN)
    cards.set_number(username="ann", slot="primary", number="55505678", actor=ADMIN)
    outbound.deliver_due()
    writes = Delivery.objects.order_by("id")
    assert [d.status for d in writes] == ["cancelled", "sent"]
    assert on_entry(slapd, "ann") == ["55505678"]


def test_a_refusal_by_the_directory_is_shown_with_its_words(slapd, cli, console):
    sync()
    # bob may read the directory but not write to it (the ACL gives everyone read only).
    config.set_value(
        key="sync.ldap.write-back.bind-dn", raw=f"uid=bob,ou=people,{L.SUFFIX}", actor=ADMIN
    )
    config.set_value(key="sync.ldap.write-back.bind-password", raw="pw-bob", actor=ADMIN)
    cards.set_number(username="ann", slot="primary", number="55501234", actor=ADMIN)
    report = outbound.deliver_due()
    assert report.failed == 1
    d = Delivery.objects.get()
    assert d.status == "failed" and "insufficientAccessRights" in d.last_error
    r = cli("webhooks", "deliveries", "--status", "failed")
    assert "insufficientAccessRights" in r.out and "directory" in r.out
    page = console.get("/admin/webhooks").content.decode()
    assert "insufficientAccessRights" in page
    assert on_entry(slapd, "ann") == []


def test_a_user_missing_from_the_directory_fails_that_message(slapd):
    sync()
    User.objects.filter(username="ann").update(username="ann-renamed", username_key="ann-renamed")
    cards.set_number(username="ann-renamed", slot="primary", number="55501234", actor=ADMIN)
    outbound.deliver_due()
    d = Delivery.objects.get()
    assert d.status == "failed" and "no entry for ann-renamed" in d.last_error


def test_an_attribute_the_directory_does_not_have_is_found(slapd, cli):
    config.set_value(key="sync.ldap.attr.primary-card", raw="cardNumberX", actor=ADMIN)
    r = cli("sync", "--test-connection")
    assert r.code == 1 and "no attribute cardNumberX" in r.err
    r = cli("check")
    assert "directory write-back: the directory has no attribute cardNumberX" in r.out
    config.set_value(key="sync.ldap.attr.primary-card", raw="employeeNumber", actor=ADMIN)
    r = cli("sync", "--test-connection")
    assert r.code == 0 and "write-back of primary numbers to employeeNumber: ready" in r.out


def test_local_users_are_not_written_back(slapd):
    from cardid.directory import services as directory

    sync()
    directory.add_user(username="visitor", actor=ADMIN)
    cards.set_number(username="visitor", slot="primary", number="55501234", actor=ADMIN)
    assert not Delivery.objects.exists()


def test_a_card_registered_at_a_terminal_is_written_back(slapd, client, cli):
    import json

    from cardid.access import tokens

    sync()
    config.set_value(key="sync.ldap.write-back", raw="secondary", actor=ADMIN)
    config.set_value(key="sync.ldap.attr.secondary-card", raw="pager", actor=ADMIN)
    config.set_value(key="cards.self-registration", raw="secondary", actor=ADMIN)
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    code = cli("users", "registration-code", "ann").out.strip()
    r = client.post(
        "/api/v1/self-registration",
        json.dumps({"reader_value": "04A1B2C3", "code": code}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert r.status_code == 200
    outbound.deliver_due()
    assert on_entry(slapd, "ann", "pager") == ["04A1B2C3"]
    assert on_entry(slapd, "ann") == []  # the primary slot is not written back
