"""A real OpenLDAP slapd on free loopback ports, from a throw-away config and LDIF."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port
from tests.environment import Missing

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PW = "admin-secret"
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SCHEMAS = ["core", "cosine", "inetorgperson", "nis"]


def available() -> str | None:
    if not Path(SLAPD).exists():
        return "slapd is not installed: apt-get install slapd ldap-utils (./dev test does it)"
    return None


def ldif_entry(dn: str, attrs: dict) -> str:
    lines = [f"dn: {dn}"]
    for key, value in attrs.items():
        for v in value if isinstance(value, list) else [value]:
            if any(ord(c) > 127 for c in str(v)) or str(v).startswith((" ", ":", "<")):
                import base64

                lines.append(f"{key}:: {base64.b64encode(str(v).encode()).decode()}")
            else:
                lines.append(f"{key}: {v}")
    return "\n".join(lines) + "\n\n"


def base_ldif() -> str:
    return (
        ldif_entry(
            SUFFIX, {"objectClass": ["dcObject", "organization"], "dc": "example", "o": "Example"}
        )
        + ldif_entry(f"ou=people,{SUFFIX}", {"objectClass": "organizationalUnit", "ou": "people"})
        + ldif_entry(f"ou=groups,{SUFFIX}", {"objectClass": "organizationalUnit", "ou": "groups"})
    )


def person(
    uid: str,
    cn: str = "",
    mail: str = "",
    card: str = "",
    dept: str = "",
    office: str = "",
    **extra,
) -> str:
    attrs = {
        "objectClass": ["inetOrgPerson", "posixAccount"],
        "uid": uid,
        "cn": cn or uid,
        "sn": (cn or uid).split()[-1],
        "uidNumber": str(10000 + abs(hash(uid)) % 50000),
        "gidNumber": "100",
        "homeDirectory": f"/home/{uid}",
        "userPassword": extra.pop("password", f"pw-{uid}"),
    }
    if mail:
        attrs["mail"] = mail
    if card:
        attrs["employeeNumber"] = card
    if dept:
        attrs["departmentNumber"] = dept
    if office:
        attrs["physicalDeliveryOfficeName"] = office
    attrs.update(extra)
    return ldif_entry(f"uid={uid},ou=people,{SUFFIX}", attrs)


def posix_group(name: str, members: list[str]) -> str:
    attrs = {"objectClass": "posixGroup", "cn": name, "gidNumber": str(2000 + len(name))}
    if members:
        attrs["memberUid"] = members
    return ldif_entry(f"cn={name},ou=groups,{SUFFIX}", attrs)


class Slapd:
    def __init__(self, workdir: Path, ldif: str, tls: tuple[str, str] | None = None):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "db").mkdir(exist_ok=True)
        self.port = free_port()
        self.ldaps_port = free_port() if tls else None
        conf = [f"include /etc/ldap/schema/{s}.schema" for s in SCHEMAS]
        conf += [
            f"pidfile {self.dir}/slapd.pid",
            "modulepath /usr/lib/ldap",
            "moduleload back_mdb",
            "sizelimit unlimited",
        ]
        if tls:
            conf += [f"TLSCertificateFile {tls[0]}", f"TLSCertificateKeyFile {tls[1]}"]
        conf += [
            "database mdb",
            f'suffix "{SUFFIX}"',
            f'rootdn "{ADMIN_DN}"',
            f"rootpw {ADMIN_PW}",
            f"directory {self.dir}/db",
            "maxsize 4294967296",
            "index uid eq",
            "access to * by * read",
        ]
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        (self.dir / "data.ldif").write_text(ldif)
        subprocess.run(
            ["slapadd", "-q", "-f", str(self.conf), "-l", str(self.dir / "data.ldif")],
            check=True,
            capture_output=True,
        )
        self.proc = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def start(self) -> "Slapd":
        urls = self.url + "/" + (f" {self.ldaps_url}/" if self.ldaps_port else "")
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h", urls, "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise Missing(
                        "slapd did not start: " + self.proc.stderr.read().decode()
                    ) from None
                time.sleep(0.05)
        raise Missing("slapd did not open its port within 20 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def modify(self, ldif: str) -> None:
        """Apply an LDIF change (ldapmodify) as the administrator."""
        subprocess.run(
            ["ldapmodify", "-x", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PW],
            input=ldif.encode(),
            check=True,
            capture_output=True,
        )


def use_as_source(url: str, **extra: str) -> None:
    """Make the slapd at `url` cardid's sync source (OpenLDAP schema), with `extra` options
    (keys as the options name them)."""
    from cardid.config import services as config
    from tests.factories import ADMIN

    settings = {
        "sync.source": "ldap",
        "sync.ldap.url": url,
        "sync.ldap.bind-dn": ADMIN_DN,
        "sync.ldap.bind-password": ADMIN_PW,
        "sync.ldap.base-dns": SUFFIX,
        "sync.ldap.preset": "openldap",
        **extra,
    }
    for k, v in settings.items():
        config.set_value(key=k, raw=v, actor=ADMIN)
