"""Sync from a real OpenLDAP slapd: users, groups, card numbers, guard and bad answers."""

import socket
import threading

import pytest
import trustme

from cardid.audit.models import AuditEvent
from cardid.cards import selectors
from cardid.cards.models import Card, RetiredNumber
from cardid.config import services as config
from cardid.directory.models import Group, SyncRun, User
from cardid.notifications.models import OutboxMessage
from cardid.sync import engine
from tests import ldapserver as L
from tests.conftest import free_port
from tests.factories import ADMIN, give_number, make_user, numbers_of

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(L.available() is not None, reason=str(L.available())),
]
SYNC = __import__("cardid.audit.actor", fromlist=["Actor"]).Actor("sync-test", "sync")


def directory(*extra: str) -> str:
    return (
        L.base_ldif()
        + L.person("ann", "Ann Smith", "ann@example.org", card="12345678", dept="Chem", office="B2")
        + L.person("bob", "Bob Jones", "bob@example.org")
        + L.person("zoe", "Zoë Ødegård")  # no mail attribute at all
        + L.posix_group("staff", ["ann", "bob"])
        + "".join(extra)
    )


def configure(url: str, **extra) -> None:
    L.use_as_source(url, **extra)


@pytest.fixture
def slapd(tmp_path):
    server = L.Slapd(tmp_path / "slapd", directory()).start()
    configure(server.url)
    yield server
    server.stop()


def sync(**kw):
    return engine.run(actor=SYNC, **kw)


def test_first_sync_brings_users_groups_and_card_numbers(slapd):
    result = sync()
    assert result.ok, result.message
    assert result.counts["added"] == 3 and result.counts["numbers_imported"] == 1
    ann = User.objects.get(username="ann")
    assert (ann.full_name, ann.email, ann.department, ann.office, ann.source) == (
        "Ann Smith",
        "ann@example.org",
        "Chem",
        "B2",
        "ldap",
    )
    assert numbers_of(ann) == {"primary": "12345678"}
    assert Card.objects.get(user=ann).origin == "synced"
    assert User.objects.get(username="zoe").full_name == "Zoë Ødegård"
    assert User.objects.get(username="zoe").email == ""
    staff = Group.objects.get(name="staff")
    assert sorted(staff.users.values_list("username", flat=True)) == ["ann", "bob"]
    run = SyncRun.objects.get()
    assert run.status == "succeeded" and run.finished_at is not None


def test_auto_generation_fills_blank_primaries_and_queues_the_notice(slapd):
    config.set_value(key="sync.auto-generate-primary-when-blank", raw="true", actor=ADMIN)
    config.set_value(key="notify.card-auto-generated", raw="true", actor=ADMIN)
    result = sync()
    assert result.counts["numbers_generated"] == 2
    assert numbers_of(User.objects.get(username="ann")) == {"primary": "12345678"}
    for name in ("bob", "zoe"):
        assert len(numbers_of(User.objects.get(username=name))["primary"]) == 8
    assert sorted(OutboxMessage.objects.values_list("user__username", "reason")) == [
        ("bob", "auto"),
        ("zoe", "auto"),
    ]


def test_a_second_sync_with_nothing_changed_changes_nothing(slapd):
    config.set_value(key="sync.auto-generate-primary-when-blank", raw="true", actor=ADMIN)
    sync()
    before = AuditEvent.objects.count()
    result = sync()
    assert result.ok
    assert {k: v for k, v in result.counts.items() if v and k != "in_source"} == {}
    assert AuditEvent.objects.count() == before


def test_directory_changes_are_applied(slapd):
    sync()
    slapd.modify(
        "dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: modify\n"
        "replace: cn\ncn: Robert Jones\n-\nreplace: employeeNumber\n"
        "employeeNumber: 04AABB\n"
    )
    result = sync()
    assert result.counts["updated"] == 1 and result.counts["numbers_imported"] == 1
    bob = User.objects.get(username="bob")
    assert bob.full_name == "Robert Jones" and numbers_of(bob) == {"primary": "04AABB"}


def test_missing_users_are_disabled_within_the_guard(slapd):
    sync()
    slapd.modify("dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: delete\n")
    config.set_value(key="sync.missing-users", raw="disable", actor=ADMIN)
    # One of three is 33%: above the default guard of 10%, so nothing changes.
    result = sync()
    assert result.status == "guard-stopped"
    assert "33% of users would be disabled (1 of 3; guard is 10%)" in result.message
    assert User.objects.get(username="bob").enabled
    config.set_value(key="sync.guard.max-removal-percent", raw="50", actor=ADMIN)
    assert sync().ok
    assert not User.objects.get(username="bob").enabled


def test_missing_users_can_be_deleted_and_their_numbers_retired(slapd):
    sync()
    give_number(User.objects.get(username="bob"), "777777")
    slapd.modify("dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: delete\n")
    config.set_value(key="sync.missing-users", raw="delete", actor=ADMIN)
    config.set_value(key="sync.guard.max-removal-percent", raw="50", actor=ADMIN)
    assert sync().counts["deleted"] == 1
    assert not User.objects.filter(username="bob").exists()
    assert RetiredNumber.objects.filter(number_hash=selectors.retired_hash("777777")).exists()


def test_a_source_that_returns_no_users_stops_the_sync(slapd):
    sync()
    config.set_value(key="sync.missing-users", raw="disable", actor=ADMIN)
    config.set_value(key="sync.ldap.user-filter", raw="(uid=nobody-matches)", actor=ADMIN)
    result = sync()
    assert result.status == "guard-stopped" and "returned no users" in result.message
    assert User.objects.filter(enabled=True).count() == 3


def test_an_unreachable_server_changes_nothing(slapd):
    sync()
    config.set_value(key="sync.missing-users", raw="disable", actor=ADMIN)
    slapd.stop()
    result = sync()
    assert result.status == "failed"
    assert "cannot reach the LDAP server" in result.message
    assert User.objects.filter(enabled=True).count() == 3


def test_a_wrong_password_is_reported(slapd):
    config.set_value(key="sync.ldap.bind-password", raw="wrong", actor=ADMIN)
    result = sync()
    assert result.status == "failed" and "refused the bind DN or password" in result.message
    assert User.objects.count() == 0


def test_a_bad_filter_is_reported(slapd):
    config.set_value(key="sync.ldap.user-filter", raw="(uid=ann", actor=ADMIN)
    result = sync()
    assert result.status == "failed" and "filter '(uid=ann' is not valid" in result.message


def test_starttls_refused_by_a_server_without_tls(slapd):
    config.set_value(key="sync.ldap.starttls", raw="true", actor=ADMIN)
    result = sync()
    assert result.status == "failed" and "TLS" in result.message
    assert User.objects.count() == 0


def test_duplicate_usernames_differing_in_case_change_nothing(tmp_path):
    other = L.person("ANN", "Other Ann").replace("dn: uid=ANN,", "dn: cn=Other Ann,")
    server = L.Slapd(tmp_path / "s", directory(other)).start()
    try:
        configure(server.url)
        result = sync()
        assert result.status == "failed"
        assert "differ only in letter case" in result.message and "'ANN'" in result.message
        assert User.objects.count() == 0
    finally:
        server.stop()


def test_a_card_number_held_by_another_user_is_reported_not_applied(slapd):
    holder = make_user(username="local-holder")
    give_number(holder, "12345678")
    result = sync()
    assert any("already belongs to another user" in e for e in result.errors)
    assert numbers_of(holder) == {"primary": "12345678"}
    assert numbers_of(User.objects.get(username="ann")) == {}


def test_card_regex_reshapes_the_imported_value(slapd):
    config.set_value(key="sync.ldap.card-regex", raw=r"^0*(\d+)$", actor=ADMIN)
    slapd.modify(
        "dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: modify\n"
        "add: employeeNumber\nemployeeNumber: 000424242\n"
    )
    sync()
    assert numbers_of(User.objects.get(username="bob")) == {"primary": "424242"}


def test_a_self_registered_number_is_never_overwritten_by_sync(slapd):
    sync()
    ann = User.objects.get(username="ann")
    Card.objects.filter(user=ann).update(number="ABCD", number_key="abcd", origin="self-registered")
    sync()
    assert numbers_of(ann) == {"primary": "ABCD"}


def test_dry_run_shows_the_diff_and_changes_nothing(slapd, cli):
    r = cli("sync", "--dry-run")
    assert r.code == 0, r.err
    assert "to add: 3" in r.out and "  ann" in r.out
    assert User.objects.count() == 0


def test_sync_cli_reports_and_exits_1_when_the_guard_stops_it(slapd, cli):
    assert cli("sync").code == 0
    slapd.modify("dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: delete\n")
    config.set_value(key="sync.missing-users", raw="disable", actor=ADMIN)
    r = cli("sync")
    assert r.code == 1
    assert r.err.strip().splitlines()[-1].startswith("cardid: sync stopped: 33% of users")


def test_test_connection_reports_without_changing_anything(slapd, cli):
    r = cli("sync", "--test-connection")
    assert r.code == 0 and "users found under the base DNs: 3" in r.out
    assert User.objects.count() == 0


def test_a_second_sync_is_refused_while_one_holds_the_lock(slapd):
    from cardid.directory.models import SyncLock

    SyncLock.objects.create(name="ldap", holder="run 0 elsewhere", taken_at="2999-01-01T00:00Z")
    result = sync()
    assert result.status == "failed" and "another ldap sync is running" in result.message


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def tls_slapd(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    server = L.Slapd(tmp_path / "slapd", directory(), tls=(str(cert_file), str(key_file)))
    server.start()
    yield server, str(ca_file)
    server.stop()


def test_ldaps_with_the_sites_ca_works(tls_slapd):
    server, ca_file = tls_slapd
    configure(server.ldaps_url, **{"sync.ldap.ca-file": ca_file})
    assert sync().counts["added"] == 3


def test_starttls_with_the_sites_ca_works(tls_slapd):
    server, ca_file = tls_slapd
    configure(server.url, **{"sync.ldap.ca-file": ca_file, "sync.ldap.starttls": "true"})
    assert sync().counts["added"] == 3


def test_an_untrusted_certificate_is_refused(tls_slapd):
    server, _ = tls_slapd
    configure(server.ldaps_url)
    result = sync()
    assert result.status == "failed" and "not trusted" in result.message
    assert User.objects.count() == 0


# -- a connection dropped mid-search ----------------------------------------------------------


class DroppingProxy:
    """Forwards to slapd and cuts the connection after `limit` bytes from the server."""

    def __init__(self, target_port: int, limit: int):
        self.port = free_port()
        self.target = target_port
        self.limit = limit
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(5)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, self.limit), daemon=True
            ).start()

    @staticmethod
    def _pipe(src, dst, limit):
        sent = 0
        try:
            while data := src.recv(4096):
                if limit is not None and sent + len(data) > limit:
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.sock.close()


def test_a_connection_dropped_mid_search_changes_nothing(tmp_path):
    people = "".join(L.person(f"u{i:04d}", f"User {i}") for i in range(1500))
    server = L.Slapd(tmp_path / "s", L.base_ldif() + people).start()
    proxy = DroppingProxy(server.port, limit=60_000)
    try:
        configure(f"ldap://127.0.0.1:{server.port}")
        assert sync().counts["added"] == 1500
        config.set_value(key="sync.missing-users", raw="disable", actor=ADMIN)
        config.set_value(key="sync.ldap.url", raw=f"ldap://127.0.0.1:{proxy.port}", actor=ADMIN)
        result = sync()
        assert result.status == "failed"
        assert "broke during the search" in result.message
        assert result.message.endswith("nothing was changed")
        assert User.objects.filter(enabled=True).count() == 1500
    finally:
        proxy.close()
        server.stop()


def test_the_users_language_comes_from_preferred_language(tmp_path):
    server = L.Slapd(
        tmp_path / "slapd",
        L.base_ldif()
        + L.person("ann", "Ann Smith", preferredLanguage="de-AT")
        + L.person("bob", "Bob Jones"),
    ).start()
    try:
        configure(server.url)
        assert sync().ok
        assert dict(User.objects.values_list("username", "language")) == {"ann": "de", "bob": ""}
        server.modify(
            "dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: modify\n"
            "add: preferredLanguage\npreferredLanguage: fr\n"
        )
        assert sync().counts["updated"] == 1
        assert User.objects.get(username="bob").language == "fr"
    finally:
        server.stop()
