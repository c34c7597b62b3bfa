"""The LDAP / Active Directory source (ldap3: paged search, LDAPS or StartTLS).

Active Directory as it is: an account whose userAccountControl has the ACCOUNTDISABLE bit
(on OpenLDAP, a configured attribute such as nsAccountLock or pwdAccountLockedTime) is
reported disabled; a group's members include, transitively, the members of the groups it
contains (nested groups, cycles safe), resolved from the one search that reads every group
— no search per member; multi-valued attributes that the server returns in ranges
(`member;range=0-1499`, past 1,500 values on AD) are read whole (ldap3's auto_range).
The AD preset's user filter, `(&(objectCategory=person)(objectClass=user))`, takes every
person account, built-in ones (Administrator, Guest, krbtgt) included; the disabled ones
among them are left out or synced disabled as sync.import-disabled says — nothing else is
filtered silently."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import ldap3
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars

from cardid.config.screens import NotConfigured
from cardid.directory.keys import language_tag, username_key
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
            "disabled": "userAccountControl",
            "language": "preferredLanguage",
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
            "disabled": NONE,
            "language": "preferredLanguage",
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
    "disabled",
    "language",
)
PAGE = 500
ACCOUNTDISABLE = 0x2  # the bit of userAccountControl that marks a disabled AD account


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
            raise NotConfigured("no LDAP server is set", "sync.ldap.url", "ldaps://dc.example.org")
        self.cfg = cfg
        self.preset = PRESETS[cfg.preset]
        self.attrs = {f: (cfg.attrs or {}).get(f) or self.preset.attrs[f] for f in FIELDS}
        self.bases = [b.strip() for b in cfg.base_dns.split(";") if b.strip()]
        if not self.bases:
            raise NotConfigured(
                "no base DN is set (one or more, separated by ';')",
                "sync.ldap.base-dns",
                "'ou=people,dc=example,dc=org'",
            )

    # -- connection -----------------------------------------------------------------------
    def _server(self, info=ldap3.NONE) -> ldap3.Server:
        cfg = self.cfg
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if cfg.verify else ssl.CERT_NONE,
            ca_certs_file=cfg.ca_file or None,
        )
        return ldap3.Server(
            cfg.url,
            use_ssl=cfg.url.lower().startswith("ldaps://"),
            tls=tls,
            get_info=info,
            connect_timeout=cfg.timeout,
        )

    def connect(self, *, write: bool = False, schema: bool = False) -> ldap3.Connection:
        """A bound connection; read-only unless `write`; with the server's schema read
        when `schema`."""
        cfg = self.cfg
        try:
            conn = ldap3.Connection(
                self._server(ldap3.SCHEMA if schema else ldap3.NONE),
                user=cfg.bind_dn or None,
                password=cfg.bind_password or None,
                receive_timeout=cfg.timeout,
                raise_exceptions=True,
                read_only=not write,
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

    def authenticate(self, username: str, password: str) -> str | None:
        """The directory's username of the account whose password this is (a simple bind
        as the user's entry; the password is not kept), or None. On Active Directory the
        userPrincipalName (ann@example.org) works too; a disabled account never does."""
        if not password:
            return None  # an empty password would be an anonymous bind, which "succeeds"
        attr = self.attrs["username"]
        wanted = [attr] + ([self.attrs["disabled"]] if self.attrs["disabled"] != NONE else [])
        who = f"({attr}={escape_filter_chars(username)})"
        if self.cfg.preset == "ad" and "@" in username:
            who = f"(|{who}(userPrincipalName={escape_filter_chars(username)}))"
        conn = self.connect()
        try:
            found = [
                (e["dn"], _first(e["attributes"].get(attr)), self._enabled(e["attributes"]))
                for base in self.bases
                for e in self._search(conn, base, f"(&{self._user_filter()}{who})", wanted, 2)
                if e.get("type") == "searchResEntry"
            ]
        finally:
            conn.unbind()
        if len(found) != 1 or not found[0][2]:
            # No such account (or a disabled one): a bind all the same, as a name that
            # exists nowhere, so that the answer takes as long as a wrong password does.
            self._bind_as(f"cn=cardid-no-such-account,{self.bases[0]}", password)
            return None
        dn, canonical, _ = found[0]
        return canonical if self._bind_as(dn, password) else None

    def _bind_as(self, dn: str, password: str) -> bool:
        """A simple bind as `dn` on a connection of its own (the password is not kept)."""
        user_conn = ldap3.Connection(
            self._server(),
            user=dn,
            password=password,
            receive_timeout=self.cfg.timeout,
            read_only=True,
        )
        try:
            user_conn.open()
            if self.cfg.starttls and not self.cfg.url.lower().startswith("ldaps://"):
                user_conn.start_tls()
            return bool(user_conn.bind())
        except lx.LDAPException:
            return False
        finally:
            try:
                user_conn.unbind()
            except lx.LDAPException:
                pass

    # -- writing back -----------------------------------------------------------------------
    def unknown_attributes(self, conn, attributes: list[str]) -> list[str]:
        """Those of `attributes` the server's schema does not have (a connection opened
        with `schema`); none when the server does not publish its schema."""
        schema = conn.server.schema
        if schema is None or not schema.attribute_types:
            return []
        return [a for a in attributes if a not in schema.attribute_types]

    def entries(self, conn, usernames: list[str]) -> dict[str, str]:
        """The DNs of these users' entries, by username folded to lower case; several at a
        time in one search."""
        attr = self.attrs["username"]
        found: dict[str, str] = {}
        for i in range(0, len(usernames), 50):
            part = usernames[i : i + 50]
            who = "".join(f"({attr}={escape_filter_chars(n)})" for n in part)
            flt = f"(&{self._user_filter()}(|{who}))"
            for base in self.bases:
                for e in self._search(conn, base, flt, [attr]):
                    if e.get("type") == "searchResEntry":
                        name = _first(e["attributes"].get(attr))
                        found.setdefault(username_key(name), e["dn"])
        return found

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
                    language=language_tag(_first(values.get(self.attrs["language"]))),
                    primary=self._card(values, "primary-card"),
                    secondary=self._card(values, "secondary-card"),
                    enabled=self._enabled(values),
                )
                snap.users.append(user)
                by_dn[entry["dn"].lower()] = username
        if missing:
            snap.warnings.append(
                f"{missing} entr(y/ies) without the username attribute "
                f"{self.attrs['username']} were skipped"
            )
        self._fetch_groups(conn, snap, by_dn)
        return snap

    def _fetch_groups(self, conn, snap: Snapshot, by_dn: dict[str, str]) -> None:
        """Every group with its members, nested groups resolved in memory: one search."""
        group_filter = self.cfg.group_filter or self.preset.group_filter
        names: dict[str, str] = {}  # group DN -> name
        direct: dict[str, list[str]] = {}  # group DN -> member DNs (lower case)
        uids: dict[str, list[str]] = {}  # group DN -> memberUid names
        for base in self.bases:
            for entry in self._search(conn, base, group_filter, ["cn", *self.preset.member_attrs]):
                if entry.get("type") != "searchResEntry":
                    continue
                values = _ranged(entry["attributes"])
                name = _first(values.get("cn"))
                if not name:
                    continue
                dn = entry["dn"].lower()
                names[dn] = name
                direct[dn] = [
                    v.lower()
                    for attr in self.preset.member_attrs
                    if attr != "memberUid"
                    for v in _all(values.get(attr))
                ]
                uids[dn] = _all(values.get("memberUid"))
        outside = set()
        for dn, name in names.items():
            members = set(uids[dn])
            seen, todo = {dn}, [dn]
            while todo:  # the groups reachable from this one, each once (cycles end here)
                for member in direct[todo.pop()]:
                    if member in by_dn:
                        members.add(by_dn[member])
                    elif member in names:
                        if member not in seen:
                            seen.add(member)
                            todo.append(member)
                    elif not any(member.endswith(b.lower()) for b in self.bases):
                        outside.add(member)
            snap.groups.setdefault(name, []).extend(sorted(members))
        if outside:
            snap.warnings.append(
                f"{len(outside)} group member(s) outside the base DNs were ignored "
                "(add their base DN to sync.ldap.base-dns to include them)"
            )

    def _enabled(self, values: dict) -> bool:
        attr = self.attrs["disabled"]
        if attr == NONE:
            return True
        raw = _first(values.get(attr))
        if attr.lower() == "useraccountcontrol":
            try:
                return not int(raw or 0) & ACCOUNTDISABLE
            except ValueError:
                return True
        # nsAccountLock: TRUE/FALSE; pwdAccountLockedTime and the like: present = locked.
        return raw.lower() in ("", "false", "0", "no")

    def _card(self, values: dict, field: str) -> str:
        attr = self.attrs[field]
        if attr == NONE:
            return ""
        return reshape(_first(values.get(attr)), self.cfg.card_regex)


def _ranged(values: dict) -> dict:
    """The attributes with ranged values (`member;range=1500-*`) folded into their name.
    ldap3 fetches the following ranges itself (auto_range); a range left unfinished would
    be a partial group, so it stops the sync instead."""
    out = dict(values)
    for name in [n for n in values if ";range=" in n.lower()]:
        attr, _, span = name.partition(";")
        base = next((k for k in out if k.lower() == attr.lower() and ";" not in k), attr)
        out[base] = [*_all(out.get(base)), *_all(out.pop(name))]
        if not span.lower().endswith("-*"):
            raise SourceError(
                f"the directory returned {attr} in ranges and stopped at {span}; a group "
                "would be read in part, so nothing was changed"
            )
    return out


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
    if isinstance(e, lx.LDAPStrongerAuthRequiredResult) or "strong" in str(e).lower():
        return (
            f"{url} refused the bind: the directory requires an encrypted connection "
            "(strong authentication required); use ldaps:// in sync.ldap.url or turn on "
            "sync.ldap.starttls" + tail
        )
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
