"""API tokens: created once (the secret shown once), stored hashed, checked per request."""

import hashlib
import ipaddress
import json
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from cardid import db
from cardid.access import guard
from cardid.access.models import ApiToken
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.errors import Conflict, Invalid, NotFound
from cardid.recent import Recent

PREFIX = "cid_"


def _hash(key: str) -> str:
    # Tokens carry 256 random bits: a fast hash is as safe as a slow one, and is cheap per call.
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def create(
    *,
    name: str,
    scope: str,
    actor: Actor,
    allow: list[str] | None = None,
    rule=None,
    expires_days: int | None = None,
) -> tuple[ApiToken, str]:
    """A new token; returns the row and the secret, which is not stored and not shown again.

    `rule` is the terminal's conversion rule (a ConversionRule the caller found by name)."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise Invalid("a token name has 1 to 100 printable characters", field="name")
    if scope not in ApiToken.Scope.values:
        raise Invalid(f"unknown scope {scope!r}; use read, lookup or write", field="scope")
    networks = []
    for a in allow or []:
        try:
            networks.append(str(ipaddress.ip_network(a.strip(), strict=False)))
        except ValueError:
            raise Invalid(
                f"{a!r} is not an IP address or network (e.g. 10.1.2.3 or 10.1.0.0/16)",
                field="allow",
            ) from None
    if expires_days is not None and expires_days < 1:
        raise Invalid("a token expires after 1 day or more", field="expires_days")
    if ApiToken.objects.filter(name=name).exists():
        raise Conflict(
            f"a token named {name!r} exists; revoke it or choose another name", field="name"
        )
    key = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        key_hash=_hash(key),
        prefix=key[:10],
        scope=scope,
        allowed_addresses=networks,
        conversion_rule=rule,
        created_by=str(actor),
        expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    audit.record(actor=actor, action="token.created", target=name, detail=scope)
    return token, key


@transaction.atomic
def revoke(*, name: str, actor: Actor) -> None:
    n = name.isprintable() and ApiToken.objects.filter(name=name, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not n:
        raise NotFound(f"no active token named {name!r}; `cardid tokens list` shows them")
    forget_recent()
    audit.record(actor=actor, action="token.revoked", target=name)


def listing(misses: list[tuple[str, int]] | None = None) -> list[tuple[ApiToken, int]]:
    """Every token by name, with its failed look-ups in the current window (`misses`: the
    counts of protection.failed_lookups() when the caller has them already)."""
    by_client = dict(guard.failures_by_client("lookup") if misses is None else misses)
    return [(t, by_client.get(client(t)[:100], 0)) for t in ApiToken.objects.order_by("name")]


def client(token: ApiToken) -> str:
    """How the guard names a terminal or script: by its token (unique and never renamed)."""
    return f"token:{token.name}"


class Denied(Exception):
    """Authentication failed: status and message for the door to send."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


WRITE_SCOPES = {"read": ("read", "write"), "lookup": ("lookup", "write"), "write": ("write",)}


# Every API request authenticates: one hand-written query, no ORM query building; the
# terminal's conversion rule comes with it, so a rule costs a look-up no extra query. What
# it read is kept for a second in the process (SPEC §8: a revocation takes effect in running
# servers within one second; in the process that revokes, at once).
TOKEN_ROW = (
    "SELECT t.id, t.name, t.scope, t.allowed_addresses, r.name, r.chain, "
    "t.revoked_at IS NOT NULL, t.expires_at "
    f"FROM {ApiToken._meta.db_table} t "
    # The rule's table through the token's own relation: the core below cards names no
    # cards module.
    f"LEFT JOIN {ApiToken.conversion_rule.field.related_model._meta.db_table} r "
    "ON r.id = t.conversion_rule_id "
    "WHERE t.key_hash = %s"
)
_recent = Recent()  # key hash: the token's row as TOKEN_ROW read it


def forget_recent() -> None:
    """Read tokens afresh (one was revoked, or its rule changed, in this process)."""
    _recent.forget()
    transaction.on_commit(_recent.forget)


def authenticate(key: str, *, address: str, need: str) -> ApiToken:
    """The active token for `key`, allowed from `address`, whose scope covers `need`.
    Refusals without a valid token are counted per address, and only the first in a while
    is written to the audit trail (a flood of bad requests cannot flood it)."""
    try:
        return _authenticate(key, address=address, need=need)
    except Denied as e:
        if e.status == 401 and guard.refusal("api-token", client=address):
            audit.record(
                actor=Actor(f"api:{address}"[:200], "api"),
                action="api.token-refused",
                detail=f"{e.message}; more refusals from this address in the next "
                f"{guard.REFUSAL_MINUTES} minutes are counted, not recorded one by one",
            )
        raise


def _authenticate(key: str, *, address: str, need: str) -> ApiToken:
    if not key:
        raise Denied(401, "an API token is required: Authorization: Bearer TOKEN")
    digest = _hash(key)
    seen = _recent.get(digest)
    if seen is None:
        seen = _read(digest)
        _recent.put(digest, seen)
    token, revoked, expires = seen
    if revoked:
        raise Denied(401, "the API token was revoked")
    if expires is not None and expires <= timezone.now():
        raise Denied(401, f"the API token expired on {expires:%Y-%m-%d}; create a new one")
    if token.allowed_addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise Denied(403, "the client address is not allowed for this token") from None
        if not any(ip in ipaddress.ip_network(n) for n in token.allowed_addresses):
            raise Denied(403, f"the token {token.name!r} may not be used from {address}")
    if token.scope not in WRITE_SCOPES[need]:
        raise Denied(403, f"the token {token.name!r} has scope {token.scope}; this needs {need}")
    return token


def _read(digest: str) -> tuple[ApiToken, bool, datetime | None]:
    """The token with this key hash, whether it was revoked, when it expires."""
    row = db.fetch_one(TOKEN_ROW, [digest])
    if row is None:
        raise Denied(401, "the API token is not valid")
    pk, name, scope, allowed, rule, chain, revoked, expires = row
    token = ApiToken(
        id=pk,
        name=name,
        scope=scope,
        allowed_addresses=json.loads(allowed) if isinstance(allowed, str) else allowed,
    )
    token.rule_name, token.rule_chain = rule or "", chain or ""  # its rule as it is now
    return token, bool(revoked), None if expires is None else db.read_datetime(expires)
