"""Directory write-back (SPEC §13): a user's numbers written to the card attributes of their
LDAP / Active Directory entry — the numbers they hold when the message is delivered, so a
late delivery never writes an old number; a cleared slot deletes the attribute's value."""

from __future__ import annotations

from dataclasses import dataclass, replace

import ldap3
from ldap3.core import exceptions as lx

from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.keys import username_key
from cardid.directory.sync import sources
from cardid.directory.sync.base import SourceError
from cardid.directory.sync.ldap import NONE, LdapSource

SLOTS = {"primary": ("primary",), "secondary": ("secondary",), "both": ("primary", "secondary")}
# Result codes that mean "not now" rather than "never": busy, unavailable, unwilling
# (AD during replication), and time-outs.
TRANSIENT = {3, 51, 52, 53, 80}


@dataclass(frozen=True)
class Outcome:
    kind: str  # "sent" | "failed" | "cancelled" | "retry"
    words: str = ""


def slots() -> tuple[str, ...]:
    """The slots written back (none when write-back is off or the source is not LDAP)."""
    o = config.get_many("sync.ldap.write-back", "sync.source")
    if o["sync.source"] != "ldap":
        return ()
    return SLOTS.get(o["sync.ldap.write-back"], ())


def source() -> tuple[LdapSource, dict[str, str]]:
    """The LDAP source with the write account when one is set, and the attribute of each
    written slot. SourceError or NotConfigured when it cannot be used."""
    src = sources.current()
    if not isinstance(src, LdapSource):
        raise SourceError("directory write-back needs the LDAP / Active Directory sync source")
    o = config.get_many("sync.ldap.write-back.bind-dn", "sync.ldap.write-back.bind-password")
    if o["sync.ldap.write-back.bind-dn"]:
        src.cfg = replace(
            src.cfg,
            bind_dn=o["sync.ldap.write-back.bind-dn"],
            bind_password=o["sync.ldap.write-back.bind-password"],
        )
    attrs = {}
    for slot in slots():
        attr = src.attrs[f"{slot}-card"]
        if attr == NONE:
            raise SourceError(
                f"write-back of the {slot} number needs its attribute: set "
                f"sync.ldap.attr.{slot}-card"
            )
        attrs[slot] = attr
    return src, attrs


def check() -> str:
    """What `cardid check` and "Test connection" say about write-back ("" when it is off):
    the write account binds and the directory has the attributes."""
    if not slots():
        return ""
    src, attrs = source()
    conn = src.connect(write=True, schema=True)
    try:
        unknown = src.unknown_attributes(conn, list(attrs.values()))
    finally:
        conn.unbind()
    if unknown:
        raise SourceError(
            f"the directory has no attribute {', '.join(unknown)} to write numbers to; "
            "choose an attribute it has (sync.ldap.attr.primary-card / secondary-card)"
        )
    return f"write-back of {' and '.join(attrs)} numbers to {', '.join(attrs.values())}: ready"


def deliver(rows: list) -> dict[int, Outcome]:
    """Write the current numbers of the users of these outbox rows; an outcome per row id.
    A directory that cannot be reached leaves every row to be retried."""
    out: dict[int, Outcome] = {}
    live = []
    for row in rows:
        if row.user is None:
            out[row.pk] = Outcome("cancelled", "the user was deleted before the write")
        else:
            live.append(row)
    if not live:
        return out
    try:
        src, attrs = source()
        if not attrs:
            for row in live:
                out[row.pk] = Outcome("cancelled", "write-back was turned off before the write")
            return out
        conn = src.connect(write=True)
    except SourceError as e:
        return out | {row.pk: Outcome("retry", str(e)) for row in live}
    try:
        dns = src.entries(conn, sorted({row.user.username for row in live}))
        held = {
            (uid, slot): number
            for uid, slot, number in Card.objects.filter(
                user_id__in=[r.user_id for r in live]
            ).values_list("user_id", "slot", "number")
        }
        for i, row in enumerate(live):
            dn = dns.get(username_key(row.user.username))
            if dn is None:
                out[row.pk] = Outcome(
                    "failed",
                    f"the directory has no entry for {row.user.username} under the base DNs",
                )
                continue
            changes = {
                attr: [(ldap3.MODIFY_REPLACE, [v] if (v := held.get((row.user_id, s))) else [])]
                for s, attr in attrs.items()
            }
            try:
                conn.modify(dn, changes)
                out[row.pk] = Outcome("sent")
            except lx.LDAPOperationResult as e:
                words = f"the directory refused to write {dn}: {e.description} {e.message}"
                if e.result in TRANSIENT:
                    for rest in live[i:]:
                        out[rest.pk] = Outcome("retry", words.strip())
                    break
                out[row.pk] = Outcome("failed", words.strip())
            except lx.LDAPException as e:
                for rest in live[i:]:
                    out[rest.pk] = Outcome("retry", f"the directory stopped answering: {e}")
                break
    except SourceError as e:
        for row in live:
            out.setdefault(row.pk, Outcome("retry", str(e)))
    finally:
        try:
            conn.unbind()
        except lx.LDAPException:
            pass
    return out
