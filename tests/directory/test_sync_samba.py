"""Active Directory as it is, against a real Samba AD domain controller (SPEC §3): disabled
accounts, nested groups and cycles, a group past 1,500 members read whole, log-ins by
sAMAccountName or userPrincipalName, and AD's refusal of plain binds."""

import json

import ldap3
import pytest
from django.test import Client

from cardid.access import tokens
from cardid.cards import lookups
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.models import Group, User
from cardid.notifications import services as notifications
from cardid.notifications.models import OutboxMessage
from cardid.sync import engine
from tests import samba
from tests.factories import ADMIN, numbers_of
from tests.ldapproxy import RangingProxy
from tests.mailserver import MailServer, configure_smtp

PROBLEM = samba.available()
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(PROBLEM is not None, reason=str(PROBLEM)),
]
SYNC = __import__("cardid.audit.actor", fromlist=["Actor"]).Actor("sync-test", "sync")
PASSWORD = "Student-Passw0rd!"
BIG = 1600  # members of one group: past AD's 1,500 values per range


@pytest.fixture(scope="module")
def dc(tmp_path_factory):
    with samba.ports_held():
        yield from _filled_dc(tmp_path_factory)


def _filled_dc(tmp_path_factory):
    server = samba.SambaDC(tmp_path_factory.mktemp("samba") / "dc").provision().start()
    conn = server.connect()
    try:  # a failure while filling the directory stops the server too (its port is fixed)
        ann = server.add_user(
            conn, "ann", pager="11111111", mail="ann@example.org", password=PASSWORD
        )
        bob = server.add_user(conn, "bob", pager="22222222", disabled=True)
        cy = server.add_user(conn, "cy", mail="cy@example.org")
        leaver = server.add_user(conn, "leaver", pager="33333333")
        conn.add("OU=Elsewhere,DC=example,DC=org", ["top", "organizationalUnit"])
        conn.add(
            "CN=outsider,OU=Elsewhere,DC=example,DC=org",
            ["top", "person", "organizationalPerson", "user"],
            {"sAMAccountName": "outsider"},
        )
        students = server.add_group(
            conn, "All Students", [ann, cy, leaver, "CN=outsider,OU=Elsewhere,DC=example,DC=org"]
        )
        server.add_group(conn, "Academic", [students, bob])
        loop_a = server.add_group(conn, "Loop A", [cy])
        loop_b = server.add_group(conn, "Loop B", [loop_a, ann])
        conn.modify(loop_a, {"member": [(ldap3.MODIFY_ADD, [loop_b])]})  # A ∋ B ∋ A
        bulk = [server.add_user(conn, f"bulk{i:04d}") for i in range(BIG)]
        server.add_group(conn, "Everyone Big", bulk)
    except BaseException:
        server.stop()
        raise
    finally:
        conn.unbind()
    yield server
    server.stop()


def configure(**extra) -> None:
    settings = {
        "sync.source": "ldap",
        "sync.ldap.url": samba.URL,
        "sync.ldap.bind-dn": samba.ADMIN,
        "sync.ldap.bind-password": samba.ADMIN_PW,
        "sync.ldap.base-dns": samba.USERS,
        "sync.ldap.preset": "ad",
        "sync.guard.max-removal-percent": "100",
        **extra,
    }
    for k, v in settings.items():
        config.set_value(key=k, raw=v, actor=ADMIN)


def sync(**kw):
    result = engine.run(actor=SYNC, **kw)
    assert result.ok, result.message
    return result


def members(group: str) -> set[str]:
    return set(Group.objects.get(name=group).users.values_list("username", flat=True))


def test_disabled_accounts_are_left_out_or_synced_disabled_and_never_numbered(dc):
    configure(**{"sync.auto-generate-primary-when-blank": "true"})
    result = sync()
    names = set(User.objects.values_list("username", flat=True))
    # The disabled account, and AD's own disabled ones (Guest, krbtgt), are left out.
    assert {"ann", "cy", "leaver", "Administrator"} <= names
    assert not names & {"bob", "Guest", "krbtgt"}
    assert result.counts["left_out_disabled"] == 3
    assert numbers_of(User.objects.get(username="ann")) == {"primary": "11111111"}
    assert "primary" in numbers_of(User.objects.get(username="cy"))  # generated
    # Synced disabled when asked: no generated number, no look-up of its own.
    configure(**{"sync.import-disabled": "true"})
    sync()
    bob = User.objects.get(username="bob")
    guest = User.objects.get(username="Guest")
    assert not bob.enabled and not guest.enabled
    assert numbers_of(bob) == {"primary": "22222222"}  # imported, never generated
    assert numbers_of(guest) == {}
    assert lookups.owner(number="22222222") is None


def test_a_user_disabled_in_ad_is_disabled_here_and_restored_with_the_same_number(dc, cli):
    configure()
    sync()
    leaver = User.objects.get(username="leaver")
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]

    def rest_lookup() -> int:
        return (
            Client()
            .post(
                "/api/v1/lookup",
                json.dumps({"number": "33333333"}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            )
            .status_code
        )

    assert rest_lookup() == 200
    OutboxMessage.objects.create(
        user=leaver, slot="primary", reason="admin", created_at="2026-01-01T00:00Z"
    )
    conn = dc.connect()
    try:
        dc.set_disabled(conn, "leaver", True)
        result = sync()
        leaver.refresh_from_db()
        assert not leaver.enabled and result.counts["disabled_in_source"] == 1
        assert rest_lookup() == 404
        assert cli("lookup", "33333333").code == 1
        mail = MailServer().start()
        try:
            configure_smtp(mail.port)
            notifications.deliver_due(force=True)
        finally:
            mail.stop()
        assert OutboxMessage.objects.get(user=leaver).status == "cancelled"
        assert mail.received == []
        dc.set_disabled(conn, "leaver", False)
        sync()
    finally:
        conn.unbind()
    leaver.refresh_from_db()
    assert leaver.enabled and numbers_of(leaver) == {"primary": "33333333"}
    assert rest_lookup() == 200


def test_nested_groups_resolve_through_cycles_and_outsiders_are_counted(dc):
    configure(**{"sync.import-disabled": "true"})
    result = sync()
    assert members("All Students") == {"ann", "cy", "leaver"}
    assert members("Academic") == {"ann", "cy", "leaver", "bob"}  # through All Students
    assert members("Loop A") == members("Loop B") == {"ann", "cy"}  # A ∋ B ∋ A ends
    assert any("1 group member(s) outside the base DNs" in w for w in result.errors)


def test_a_group_past_1500_members_is_read_whole(dc):
    configure()
    sync()
    assert len(members("Everyone Big")) == BIG


def test_a_group_handed_out_in_ranges_is_read_whole(dc):
    """Samba (4.17) returns a large member attribute whole; Active Directory returns it in
    ranges of 1,500. A proxy in front of Samba answers as AD does — `member;range=0-1499`,
    then `member;range=1500-*` when asked — and the sync still reads every member."""
    with RangingProxy(samba.URL, max_values=1500) as proxy:
        seen = proxy.first_answer(samba.ADMIN, samba.ADMIN_PW, samba.USERS, "(cn=Everyone Big)")
        assert seen == {"member;range=0-1499": 1500}  # what AD would send first
        configure(**{"sync.ldap.url": proxy.url})
        sync()
    assert len(members("Everyone Big")) == BIG
    assert proxy.range_requests >= 1  # the rest was asked for, range by range


def test_portal_log_in_by_samaccountname_or_upn_and_never_for_a_disabled_account(dc):
    configure(**{"sync.import-disabled": "true"})
    sync()
    for name in ("ann", "ann@example.org", "ANN@EXAMPLE.ORG"):
        r = Client().post("/user/login", {"username": name, "password": PASSWORD})
        assert r.status_code == 302, name
    r = Client().post("/user/login", {"username": "ann", "password": "wrong"})
    assert r.status_code == 200 and b"wrong" in r.content
    conn = dc.connect()
    try:
        dc.set_password(f"CN=bob,{samba.USERS}", PASSWORD)
        r = Client().post("/user/login", {"username": "bob", "password": PASSWORD})
        assert r.status_code == 200  # disabled in AD: refused, like a wrong password
    finally:
        conn.unbind()


def test_ldaps_with_its_own_certificate_and_the_refusal_of_plain_binds(dc, cli, tmp_path):
    configure(**{"sync.ldap.url": samba.LDAPS_URL, "sync.ldap.verify-certificate": "false"})
    assert "connected to ldaps://127.0.0.1:636" in cli("sync", "--test-connection").out
    config.set_value(key="sync.ldap.verify-certificate", raw="true", actor=ADMIN)
    r = cli("sync", "--test-connection")
    assert r.code == 1 and "is not trusted" in r.err
    # A DC that wants strong authentication refuses a simple bind without TLS, in words.
    dc.stop()
    strict = samba.SambaDC(dc.dir, strong_auth=True).start()
    try:
        configure()
        r = cli("sync", "--test-connection")
        assert r.code == 1 and "strong authentication required" in r.err
        assert "use ldaps://" in r.err and "sync.ldap.starttls" in r.err
        assert not User.objects.exists() and Card.objects.count() == 0
    finally:
        strict.stop()
        dc.start()


def test_numbers_are_written_back_to_ad_and_the_next_sync_changes_nothing(dc, cli):
    from cardid.cards import services as cards
    from cardid.outbound.models import Delivery

    configure(
        **{"sync.ldap.write-back": "primary", "sync.auto-generate-primary-when-blank": "true"}
    )
    assert "write-back of primary numbers to pager: ready" in cli("sync", "--test-connection").out
    sync()  # cy has no pager: a number is generated, and written back
    cy = User.objects.get(username="cy")
    number = numbers_of(cy)["primary"]
    r = cli("notifications", "send-pending")
    assert r.code == 0, r.err

    def pager() -> list[str]:
        conn = dc.connect()
        try:
            conn.search(samba.USERS, "(sAMAccountName=cy)", attributes=["pager"])
            return list(conn.entries[0].pager.values)
        finally:
            conn.unbind()

    assert pager() == [number]
    before = dict(Card.objects.values_list("user__username", "number"))
    again = sync()
    assert again.counts["numbers_imported"] == 0
    assert dict(Card.objects.values_list("user__username", "number")) == before
    assert not Delivery.objects.filter(status="pending").exists()
    config.set_value(key="sync.auto-generate-primary-when-blank", raw="false", actor=ADMIN)
    cards.clear_number(username="cy", slot="primary", actor=ADMIN)
    assert cli("notifications", "send-pending").code == 0
    assert pager() == []
