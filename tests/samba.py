"""A real Active Directory domain controller for the tests: Samba, provisioned for
EXAMPLE.ORG into a temp dir (no DNS), its LDAP on 127.0.0.1:389 and LDAPS on :636 with the
certificate it makes itself. Populated over LDAP, as an administrator would.

Samba's LDAP ports are fixed; a machine where something else listens on 389 skips these
tests with that reason (under CI, fails). They live in one file, and a parallel run sends a
file's tests to one worker (`--dist loadfile`); `ports_held` keeps a second test run's domain
controller waiting until the first has stopped."""

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import ldap3

from tests.environment import Missing

REALM, DOMAIN = "EXAMPLE.ORG", "EXAMPLE"
BASE = "DC=example,DC=org"
USERS = f"CN=Users,{BASE}"
ADMIN, ADMIN_PW = f"Administrator@{REALM}", "Passw0rd-Admin!"
URL, LDAPS_URL = "ldap://127.0.0.1:389", "ldaps://127.0.0.1:636"
LOCK = "/tmp/cardid-tests-samba.lock"
NORMAL, DISABLED = 512, 514  # userAccountControl: a normal account; the same disabled
NO_PASSWORD = 32  # PASSWD_NOTREQD: accounts the tests make without a password


def available() -> str | None:
    if not shutil.which("samba-tool") or not Path("/usr/sbin/samba").exists():
        return (
            "Samba is not installed: apt-get install samba samba-ad-provision "
            "samba-dsdb-modules samba-vfs-modules (./dev test does it)"
        )
    return None


@contextmanager
def ports_held():
    """Samba's ports for this process alone: the SQLite and PostgreSQL passes of ./dev test
    run side by side, and each has a domain controller to start; the second waits here."""
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", 389)) == 0:
                    raise Missing(
                        "something already listens on 127.0.0.1:389, the port Samba's LDAP "
                        "needs; stop it (ss -ltnp 'sport = :389' names it)"
                    )
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class SambaDC:
    def __init__(self, workdir: Path, strong_auth: bool = False):
        self.dir = workdir
        self.strong_auth = strong_auth
        self.proc: subprocess.Popen | None = None

    def provision(self) -> "SambaDC":
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "samba-tool",
                "domain",
                "provision",
                f"--realm={REALM}",
                f"--domain={DOMAIN}",
                "--server-role=dc",
                "--dns-backend=NONE",
                f"--adminpass={ADMIN_PW}",
                f"--targetdir={self.dir}",
                "--option=interfaces=lo",
                "--option=bind interfaces only=yes",
                "--option=server services=ldap",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        return self

    def start(self) -> "SambaDC":
        conf = self.dir / "etc" / "smb.conf"
        text = conf.read_text()
        extra = (
            f"\tpid directory = {self.dir}\n\tlog file = {self.dir}/log.%m\n"
            f"\tldap server require strong auth = {'yes' if self.strong_auth else 'no'}\n"
        )
        text = "\n".join(
            line
            for line in text.splitlines()
            if not line.strip().startswith(("pid directory", "log file", "ldap server require"))
        )
        conf.write_text(text.replace("[global]\n", "[global]\n" + extra, 1) + "\n")
        self.proc = subprocess.Popen(
            ["/usr/sbin/samba", "-i", "-M", "single", "-s", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.connect(ldaps=self.strong_auth).unbind()
                return self
            except ldap3.core.exceptions.LDAPException:
                time.sleep(0.3)
        self.stop()
        raise Missing("Samba did not start answering LDAP within a minute")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def connect(self, ldaps: bool = False) -> ldap3.Connection:
        tls = ldap3.Tls(validate=0)  # Samba's own self-signed certificate
        server = ldap3.Server(LDAPS_URL if ldaps else URL, use_ssl=ldaps, tls=tls)
        return ldap3.Connection(
            server, user=ADMIN, password=ADMIN_PW, auto_bind=True, raise_exceptions=True
        )

    # -- populating ------------------------------------------------------------------------
    def add_user(
        self,
        conn,
        name: str,
        *,
        pager: str = "",
        disabled: bool = False,
        mail: str = "",
        password: str = "",
    ) -> str:
        dn = f"CN={name},{USERS}"
        attrs = {
            "sAMAccountName": name,
            "userPrincipalName": f"{name}@example.org",
            "displayName": name.title(),
        }
        if pager:
            attrs["pager"] = pager
        if mail:
            attrs["mail"] = mail
        conn.add(dn, ["top", "person", "organizationalPerson", "user"], attrs)
        if password:
            self.set_password(dn, password)
        flags = (DISABLED if disabled else NORMAL) | (0 if password else NO_PASSWORD)
        conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [flags])]})
        return dn

    def set_password(self, dn: str, password: str) -> None:
        with self.connect(ldaps=True) as tls_conn:  # AD sets passwords over TLS only
            tls_conn.extend.microsoft.modify_password(dn, password)

    def set_disabled(self, conn, name: str, disabled: bool) -> None:
        dn = f"CN={name},{USERS}"
        conn.search(dn, "(objectClass=user)", ldap3.BASE, attributes=["userAccountControl"])
        flags = int(conn.entries[0].userAccountControl.value)
        flags = flags | 2 if disabled else flags & ~2
        conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [flags])]})

    def add_group(self, conn, name: str, members: list[str]) -> str:
        dn = f"CN={name},{USERS}"
        conn.add(dn, ["top", "group"], {"sAMAccountName": name})
        for i in range(0, len(members), 500):
            conn.modify(dn, {"member": [(ldap3.MODIFY_ADD, members[i : i + 500])]})
        return dn
