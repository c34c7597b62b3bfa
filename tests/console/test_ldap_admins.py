"""The console against a real slapd: configure the LDAP source in the Options form, test the
connection, sync, and let the members of a directory group log in with their directory
password."""

import pytest
from django.test import Client

from cardid.directory.models import User
from cardid.jobs import runner
from cardid.jobs.models import Job
from tests import ldapserver as L
from tests.console.test_console import options_post

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(L.available() is not None, reason=str(L.available())),
]


@pytest.fixture
def slapd(tmp_path):
    server = L.Slapd(
        tmp_path / "slapd",
        L.base_ldif()
        + L.person("carol", "Carol Admin", "carol@example.org")
        + L.person("dave", "Dave Student", "dave@example.org")
        + L.posix_group("it-admins", ["carol"])
        + L.posix_group("pupils", ["dave"]),
    ).start()
    yield server
    server.stop()


def test_ldap_source_set_up_in_the_console_and_directory_admins_log_in(console, slapd):
    shown = console.get("/admin/options/sync")
    data = options_post(
        shown,
        sync__source="ldap",
        sync__ldap__url=slapd.url,
        sync__ldap__bind_dn=L.ADMIN_DN,
        sync__ldap__base_dns=L.SUFFIX,
        sync__auto_generate_primary_when_blank=True,
    )
    data["sync.ldap.bind-password"] = "wrong"
    assert console.post("/admin/options/sync", data).status_code == 302
    r = console.post("/admin/options/sync/test")
    assert r.status_code == 400  # the wrong bind password, said in words
    assert "the LDAP server refused the bind DN or password" in r.content.decode()
    data = options_post(console.get("/admin/options/sync"))
    data["sync.ldap.bind-password"] = L.ADMIN_PW
    assert console.post("/admin/options/sync", data).status_code == 302
    r = console.post("/admin/options/sync/test", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "connected to" in r.content.decode()
    r = console.post("/admin/options/sync/run")  # the review: a dry run
    review = Job.objects.get(kind="sync")
    runner.run(review.pk)
    assert not User.objects.exists()
    page = console.get(r["Location"]).content.decode()
    assert 'id="sync-apply"' in page
    r = console.post(f"/admin/options/sync/apply/{review.pk}")
    runner.run(Job.objects.exclude(pk=review.pk).get(kind="sync").pk)
    assert set(User.objects.values_list("username", flat=True)) == {"carol", "dave"}

    shown = console.get("/admin/options/security")
    r = console.post(
        "/admin/options/security", options_post(shown, console__admin_group="it-admins")
    )
    assert r.status_code == 302

    carol, dave = Client(), Client()
    assert (
        carol.post("/admin/login", {"username": "carol", "password": "pw-carol"}).status_code == 302
    )
    assert carol.get("/admin/").status_code == 200
    r = dave.post("/admin/login", {"username": "dave", "password": "pw-dave"})
    assert r.status_code == 400 and b"the username or password is wrong" in r.content
    r = Client().post("/admin/login", {"username": "carol", "password": "not-hers"})
    assert r.status_code == 400
    # Changing her numbers is recorded under her name.
    r = carol.post(
        f"/admin/users/{User.objects.get(username='dave').pk}/numbers",
        {"primary": "24682468", "secondary": ""},
    )
    assert r.status_code == 302
    from cardid.audit.models import AuditEvent

    assert AuditEvent.objects.filter(actor="carol", door="console", target="dave").exists()
