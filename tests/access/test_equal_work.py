"""Log-in answers do the same work whether the account exists, has a local password, or
not (SPEC §9): exactly one password check in every case, so the answer's time tells
nothing (the times themselves are measured by bench/timing.py). Each attempt comes from its
own address, so the guard's locks stay out of the way."""

from unittest import mock

import ldap3
import pytest
from django.test import Client

from cardid.access import passwords
from cardid.directory import services as directory
from tests import ldapserver as L
from tests.access.hashing import password_checks
from tests.factories import ADMIN, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def checks_per_case(path: str, cases: dict[str, str]) -> dict[str, int]:
    """The password checks made for a wrong password, for each case's username."""
    found = {}
    for i, (case, username) in enumerate(cases.items()):
        client = Client(REMOTE_ADDR=f"127.0.1.{10 + i}")
        with password_checks() as checks:
            r = client.post(path, {"username": username, "password": "wrong guess"})
        assert r.status_code in (200, 400) and b"wrong" in r.content
        found[case] = len(checks)
    return found


def test_portal_log_in_does_the_same_work_for_every_account():
    make_user(username="nopass")
    make_user(username="haspass")
    directory.set_password(username="haspass", password=PASSWORD, actor=ADMIN)
    found = checks_per_case(
        "/user/login",
        {
            "unknown user": "ghost",
            "user without a local password": "nopass",
            "user with a local password": "haspass",
        },
    )
    assert found == dict.fromkeys(found, 1)


def test_console_log_in_does_the_same_work_for_every_account(django_user_model):
    django_user_model.objects.create_user("boss", password=PASSWORD, is_staff=True)
    make_user(username="holder")  # a card holder, not an administrator
    found = checks_per_case(
        "/admin/login",
        {"unknown name": "ghost", "a card holder's name": "holder", "an administrator": "boss"},
    )
    assert found == dict.fromkeys(found, 1)


@pytest.mark.skipif(L.available() is not None, reason=str(L.available()))
def test_with_the_directory_as_source_an_unknown_name_asks_the_directory_as_a_user_does(
    tmp_path,
):
    """A directory user's wrong password costs a search, a bind and a hash; a name that is
    nobody's costs the same (it used to cost a hash alone: 318 ms against 403 ms)."""
    server = L.Slapd(tmp_path / "slapd", L.base_ldif() + L.person("ann", "Ann Smith")).start()
    try:
        L.use_as_source(server.url)
        make_user(username="ann", source="ldap")
        work = {}
        for case, name in {"directory user": "ann", "nobody": "ghost"}.items():
            binds = []
            real_bind = ldap3.Connection.bind

            def bind(conn, *a, binds=binds, real_bind=real_bind, **kw):
                binds.append(conn.user)
                return real_bind(conn, *a, **kw)

            with mock.patch.object(ldap3.Connection, "bind", bind), password_checks() as checks:
                assert passwords.by_password(name, "wrong guess") is None
            work[case] = (len(binds), len(checks))
        assert work["directory user"] == work["nobody"] == (2, 1), work  # service + user bind
        assert passwords.by_password("ann", "pw-ann").username == "ann"
    finally:
        server.stop()
