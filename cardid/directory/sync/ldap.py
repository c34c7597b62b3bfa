"""The LDAP / Active Directory source (ldap3: paged search, LDAPS or StartTLS)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import ldap3
from ldap3.core import exceptions as lx

from cardid.directory.sync.base import Snapshot, SourceError, SourceUser, reshape

NONE = "none"  # an attribute set to this is not synced


@dataclass(frozen=True)
class Preset:
    user_filter: str
    group_filter: str
    attrs: dict[str, str]  # our field -> LDAP attribute
    member_attrs: tuple[str, ...]  # on groups: member DNs and/or memberUid names


PRESETS = {
    # Active Directory: the reference product reads the card number from `pager` by default.
    "ad": Preset(
        user_filter="(&(objectCategory=person)(objectClass=user))",
        group_filter="(objectClass=group)",
        attrs={
            "username": "sAMAccountName",
            "full-name": "displayName",
            "email": "mail",
            "department": "department",
            "office": "physicalDeliveryOfficeName",
            "primary-card": "pager",
            "secondary-card": NONE,
        },
        member_attrs=("member",),
    ),
    # OpenLDAP with inetOrgPerson/posix schemas: the card number in `employeeNumber`.
    "openldap": Preset(
        user_filter="(objectClass=inetOrgPerson)",
        group_filter="(|(objectClass=posixGroup)(objectClass=groupOfNames)"
        "(objectClass=groupOfUniqueNames))",
        attrs={
            "username": "uid",
            "full-name": "cn",
            "email": "mail",
            "department": "departmentNumber",
            "office": "physicalDeliveryOfficeName",
            "primary-card": "employeeNumber",
            "secondary-card": NONE,
        },
        member_attrs=("member", "uniqueMember", "memberUid"),
    ),
}

FIELDS = (
    "username",
    "full-name",
    "email",
    "department",
    "office",
    "primary-card",
    "secondary-card",
)
PAGE = 500


@dataclass
class LdapConfig:
    url: str
    bind_dn: str = ""
    bind_password: str = ""
    base_dns: str = ""
    preset: str = "openldap"
    user_filter: str = ""
    group_filter: str = ""
    attrs: dict[str, str] | None = None  # overrides of the preset's attributes
    starttls: bool = False
    verify: bool = True
    ca_file: str = ""
    card_regex: object = None  # compiled pattern or None
    timeout: int = 30


class LdapSource:
    kind = "ldap"

    def __init__(self, cfg: LdapConfig):
        if not cfg.url:
            raise SourceError(
                "sync.ldap.url is not set; `cardid config set sync.ldap.url ldaps://dc.example.org`"
            )
        self.cfg = cfg
        self.preset = PRESETS[cfg.preset]
        self.attrs = {f: (cfg.attrs or {}).get(f) or self.preset.attrs[f] for f in FIELDS}
        self.bases = [b.strip() for b in cfg.base_dns.split(";") if b.strip()]
        if not self.bases:
            raise SourceError(
                "sync.ldap.base-dns is not set; give one or more base DNs separated by ';'"
            )

    # -- connection -----------------------------------------------------------------------
    def connect(self) -> ldap3.Connection:
        cfg = self.cfg
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if cfg.verify else ssl.CERT_NONE,
            ca_certs_file=cfg.ca_file or None,
        )
        try:
            server = ldap3.Server(
                cfg.url,
                use_ssl=cfg.url.lower().startswith("ldaps://"),
                tls=tls,
                get_info=ldap3.NONE,
                connect_timeout=cfg.timeout,
            )
            conn = ldap3.Connection(
                server,
                user=cfg.bind_dn or None,
                password=cfg.bind_password or None,
                receive_timeout=cfg.timeout,
                raise_exceptions=True,
                read_only=True,
            )
            conn.open()
        except lx.LDAPException as e:
            raise SourceError(_words(e, cfg.url)) from None
        if cfg.starttls and not cfg.url.lower().startswith("ldaps://"):
            try:
                conn.start_tls()
            except lx.LDAPException as e:
                raise SourceError(
                    f"StartTLS with {cfg.url} failed ({e}); check the server's "
                    "TLS set-up, sync.ldap.ca-file, or turn off "
                    "sync.ldap.starttls; nothing was changed"
                ) from None
        try:
            conn.bind()
        except lx.LDAPException as e:
            raise SourceError(_words(e, cfg.url)) from None
        return conn

    def test(self) -> str:
        conn = self.connect()
        try:
            found = 0
            for base in self.bases:
                found += len(
                    self._search(conn, base, self._user_filter(), [self.attrs["username"]], limit=5)
                )
            return f"connected to {self.cfg.url}; users found under the base DNs: {found}" + (
                "+" if found >= 5 else ""
            )
        finally:
            conn.unbind()

    def authenticate(self, username: str, password: str) -> bool:
        """Whether `password` is the directory password of `username` (a simple bind as the
        user's entry; the password is not kept)."""
        if not password:
            return False  # an empty password would be an anonymous bind, which "succeeds"
        from ldap3.utils.conv import escape_filter_chars

        conn = self.connect()
        try:
            flt = (
                f"(&{self._user_filter()}"
                f"({self.attrs['username']}={escape_filter_chars(username)}))"
            )
            dns = [
                e["dn"]
                for base in self.bases
                for e in self._search(conn, base, flt, [self.attrs["username"]], limit=2)
                if e.get("type") == "searchResEntry"
            ]
        finally:
            conn.unbind()
        if len(dns) != 1:
            return False
        cfg = self.cfg
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if cfg.verify else ssl.CERT_NONE,
            ca_certs_file=cfg.ca_file or None,
        )
        server = ldap3.Server(
            cfg.url,
            use_ssl=cfg.url.lower().startswith("ldaps://"),
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=cfg.timeout,
        )
        user_conn = ldap3.Connection(
            server, user=dns[0], password=password, receive_timeout=cfg.timeout, read_only=True
        )
        try:
            user_conn.open()
            if cfg.starttls and not cfg.url.lower().startswith("ldaps://"):
                user_conn.start_tls()
            return bool(user_conn.bind())
        except lx.LDAPException:
            return False
        finally:
            try:
                user_conn.unbind()
            except lx.LDAPException:
                pass

    # -- reading --------------------------------------------------------------------------
    def _user_filter(self) -> str:
        return self.cfg.user_filter or self.preset.user_filter

    def _search(self, conn, base: str, flt: str, attributes: list[str], limit: int = 0):
        try:
            if limit:
                conn.search(base, flt, attributes=attributes, size_limit=limit)
                return list(conn.response or [])
            return list(
                conn.extend.standard.paged_search(
                    base, flt, attributes=attributes, paged_size=PAGE, generator=True
                )
            )
        except lx.LDAPNoSuchObjectResult:
            raise SourceError(
                f"the base DN {base!r} does not exist on the server; check sync.ldap.base-dns"
            ) from None
        except lx.LDAPException as e:
            raise SourceError(_words(e, self.cfg.url, flt)) from None

    def fetch(self) -> Snapshot:
        conn = self.connect()
        try:
            return self._fetch(conn)
        finally:
            try:
                conn.unbind()
            except lx.LDAPException:
                pass

    def _fetch(self, conn) -> Snapshot:
        snap = Snapshot()
        wanted = [a for a in self.attrs.values() if a != NONE]
        by_dn: dict[str, str] = {}
        missing = 0
        for base in self.bases:
            for entry in self._search(conn, base, self._user_filter(), wanted):
                if entry.get("type") != "searchResEntry":
                    continue
                values = entry["attributes"]
                username = _first(values.get(self.attrs["username"]))
                if not username:
                    missing += 1
                    continue
                user = SourceUser(
                    username=username,
                    full_name=_first(values.get(self.attrs["full-name"])),
                    email=_first(values.get(self.attrs["email"])),
                    department=_first(values.get(self.attrs["department"])),
                    office=_first(values.get(self.attrs["office"])),
                    primary=self._card(values, "primary-card"),
                    secondary=self._card(values, "secondary-card"),
                )
                snap.users.append(user)
                by_dn[entry["dn"].lower()] = username
        if missing:
            snap.warnings.append(
                f"{missing} entr(y/ies) without the username attribute "
                f"{self.attrs['username']} were skipped"
            )
        group_filter = self.cfg.group_filter or self.preset.group_filter
        for base in self.bases:
            for entry in self._search(conn, base, group_filter, ["cn", *self.preset.member_attrs]):
                if entry.get("type") != "searchResEntry":
                    continue
                values = entry["attributes"]
                name = _first(values.get("cn"))
                if not name:
                    continue
                members: list[str] = []
                for attr in self.preset.member_attrs:
                    for v in _all(values.get(attr)):
                        if attr == "memberUid":
                            members.append(v)
                        elif v.lower() in by_dn:
                            members.append(by_dn[v.lower()])
                snap.groups.setdefault(name, []).extend(members)
        return snap

    def _card(self, values: dict, field: str) -> str:
        attr = self.attrs[field]
        if attr == NONE:
            return ""
        return reshape(_first(values.get(attr)), self.cfg.card_regex)


def _first(value) -> str:
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip() if value is not None else ""


def _all(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        value = [value]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value]


def _words(e: Exception, url: str, flt: str = "") -> str:
    """An ldap3 exception in an administrator's words; nothing was changed by it."""
    tail = "; nothing was changed"
    if isinstance(e, lx.LDAPInvalidCredentialsResult | lx.LDAPBindError):
        return (
            "the LDAP server refused the bind DN or password; check sync.ldap.bind-dn "
            "and sync.ldap.bind-password" + tail
        )
    if isinstance(e, lx.LDAPInvalidFilterError):
        return f"the LDAP filter {flt!r} is not valid: {e}" + tail
    if isinstance(e, lx.LDAPStartTLSError | lx.LDAPSSLConfigurationError):
        return (
            f"TLS with {url} failed ({e}); check the certificate, sync.ldap.ca-file, "
            "or sync.ldap.starttls" + tail
        )
    if isinstance(e, lx.LDAPSocketOpenError):
        text = str(e)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return (
                f"the certificate of {url} is not trusted; set sync.ldap.ca-file to its "
                "CA, or turn off sync.ldap.verify-certificate" + tail
            )
        return f"cannot reach the LDAP server at {url} ({text}); is it running?" + tail
    if isinstance(
        e,
        lx.LDAPSocketReceiveError | lx.LDAPSessionTerminatedByServerError | lx.LDAPSocketSendError,
    ):
        return f"the connection to {url} broke during the search ({e})" + tail
    if isinstance(e, lx.LDAPOperationResult):
        return f"the LDAP server answered: {e.description} {e.message}".strip() + tail
    return f"LDAP error with {url}: {type(e).__name__}: {e}" + tail
