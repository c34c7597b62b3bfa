"""The guard: one mechanism for every credential check — console and portal log-ins,
self-registration, the portal's PIN change, PIN look-ups and look-ups — that counts
failures in the database (so limits hold across every server process and machine) and
refuses at once, never by making a request wait.

Failures are counted per subject (an account, or a number) and client *together*, and
per client: failures from one address lock that address's attempts on that account, never
the right credentials from another address, so nobody can lock someone else out. PINs
also have a cap per number across all clients per day (SPEC §9). Counter keys are keyed
digests: a dump of the table names no number.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from cardid import db, keyed
from cardid.access.models import LookupCounter
from cardid.config import services as config
from cardid.directory.keys import username_key
from cardid.errors import CardidError, NotFound
from cardid.recent import Recent

LOG_IN = (5, 30, 15)  # failures per account and address, per address; minutes


class Locked(CardidError):
    """Too many failures lately: refused without looking further, until `retry_after`
    seconds have passed (the door sends HTTP 429 with Retry-After, a fault, a form error)."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, retry_after)


@dataclass(frozen=True)
class Limit:
    pair: int  # failures of one subject from one client (0: no subject)
    client: int  # failures from one client, any subject
    minutes: int  # the window
    daily: int = 0  # failures of one subject from all clients in a day (0: no cap)
    what: str = "attempts"


def limit(kind: str) -> Limit:
    """The limits of a kind of check, as the options say now."""
    if kind in ("console", "password"):
        pair, client, minutes = LOG_IN
        return Limit(pair, client, minutes, what="failed log-ins")
    o = config.get_recent(  # a look-up's limits: read at most once a second per process
        "api.lookup.max-misses",
        "api.lookup.window-minutes",
        "cards.pin.max-misses",
        "cards.pin.max-misses-per-day",
    )
    minutes, misses = o["api.lookup.window-minutes"], o["api.lookup.max-misses"]
    if kind == "pin-change":
        # Wrong current PINs in the portal: as failed log-ins, and under the same daily cap
        # as wrong PINs at the terminals (SPEC §9), per account.
        pair, client, minutes = LOG_IN
        return Limit(pair, client, minutes, o["cards.pin.max-misses-per-day"], "wrong PINs")
    if kind == "pin":
        return Limit(
            o["cards.pin.max-misses"],
            0,
            minutes,
            o["cards.pin.max-misses-per-day"],
            "wrong PINs",
        )
    if kind == "register":
        pair, client, _ = LOG_IN
        return Limit(pair, client, minutes, what="refused registrations")
    if kind == "lookup":
        return Limit(0, misses, minutes, what="failed look-ups")
    raise ValueError(f"unknown kind of check {kind!r}")


# -- counting ---------------------------------------------------------------------------------


def _bucket(now: datetime) -> datetime:
    """Failures are counted per key in one-minute buckets (one row each)."""
    return now.replace(second=0, microsecond=0)


def since(minutes: int) -> datetime:
    """The start of the look-back: the buckets of the last `minutes` minutes."""
    return _bucket(timezone.now()) - timedelta(minutes=minutes - 1)


def _today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def _key(kind: str, scope: str, value: str) -> str:
    if scope == "c":  # a client (a terminal's token, an address): worked out once per process
        return _client_key(kind, value, settings.SECRET_KEY)
    return f"{kind}:{scope}:{keyed.digest(f'guard.{kind}', value)[:40]}"


@functools.lru_cache(maxsize=4096)
def _client_key(kind: str, client: str, _secret: str) -> str:
    return f"{kind}:c:{keyed.digest(f'guard.{kind}', client)[:40]}"


@functools.lru_cache(maxsize=4096)
def client_group(client: str) -> str:
    """The client the guard counts: an IPv6 address stands for its /64 (one home or host
    holds a whole /64, and picks a new address in it at will); an IPv4-mapped address is
    the IPv4 one; anything else (an IPv4 address, `token:NAME`) as it is."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return client


def _plain(text: str) -> str:
    """Text as a counter row may keep it: a NUL byte, which PostgreSQL's text refuses,
    taken out (the failure is counted all the same)."""
    return text.replace("\x00", "")


def _keys(kind: str, subject: str, client: str) -> dict[str, str]:
    client = client_group(client)
    keys = {"client": _key(kind, "c", client)}
    if subject:
        keys["pair"] = _key(kind, "p", f"{subject}\x00{client}")
        keys["subject"] = _key(kind, "s", subject)
    return keys


KEY = connection.ops.quote_name("key")
SUM = (
    f"SELECT COALESCE(SUM(misses), 0) FROM {LookupCounter._meta.db_table} "
    f"WHERE {KEY} = %s AND window_start >= %s"
)


def misses(key: str, start: datetime) -> int:
    row = db.fetch_one(SUM, [key, db.adapt_datetime(start)])
    return int(row[0]) if row else 0


def _add(key: str, *, kind: str, account: str, client: str) -> None:
    bucket = _bucket(timezone.now())
    for _ in range(3):
        if LookupCounter.objects.filter(key=key, window_start=bucket).update(
            misses=F("misses") + 1
        ):
            return
        try:
            with transaction.atomic():
                LookupCounter.objects.create(
                    key=key,
                    window_start=bucket,
                    misses=1,
                    kind=kind,
                    account=account[:150],
                    client=client[:100],
                )
            return
        except IntegrityError:
            continue  # another process created it meanwhile: count again


def _until(key: str, start: datetime, allowed: int, minutes: int) -> int:
    """Seconds until the failures of `key` since `start` fall below `allowed` again."""
    total = 0
    buckets = list(
        LookupCounter.objects.filter(key=key, window_start__gte=start)
        .order_by("-window_start")
        .values_list("window_start", "misses")
    )
    for at, n in buckets:  # newest first: the bucket that brings the count to the limit
        total += n
        if total >= allowed:
            return int((at + timedelta(minutes=minutes) - timezone.now()).total_seconds()) + 1
    return 1


# -- the checks -------------------------------------------------------------------------------


# A look-up client found locked is remembered for a moment in this process: a flood from it
# is refused without two queries per request (what lets a terminal's look-ups go on beside
# it). Lifting the lock takes effect at once in this process, within a second in others.
_locked_lately = Recent()  # counter key: (message, when the lock ends)


def _refused_lately(keys: dict[str, str]) -> None:
    for key in keys.values():
        seen = _locked_lately.get(key)
        if seen:
            raise Locked(seen[0], retry_after=int(seen[1] - time.monotonic()) + 1)


def _remember(key: str, message: str, wait: int) -> None:
    _locked_lately.put(key, (message, time.monotonic() + wait), seconds=wait)


def check(kind: str, *, client: str, subject: str = "") -> None:
    """Refuse (Locked) when the client, or this subject from this client, or this subject
    for the day, has failed too often; otherwise do nothing. Never waits. One query."""
    g = gate(kind, client=client, subject=subject)
    if g.counts:
        g.passes(db.fetch_one(f"SELECT {', '.join(g.sqls)}", g.params))


@dataclass(frozen=True)
class Count:
    """One count a gate reads: the failures of `key` since `start`; `allowed` of them."""

    kind: str
    key: str
    start: datetime
    allowed: int
    limit: Limit
    daily: bool = False

    def refuse_at(self, failures: int) -> None:
        if failures < self.allowed:
            return
        if self.daily:
            wait = int((self.start + timedelta(days=1) - timezone.localtime()).total_seconds())
            whose = "this account" if self.kind == "pin-change" else "this number"
            raise Locked(
                f"too many {self.limit.what} for {whose} today; try again tomorrow",
                retry_after=wait + 1,
            )
        wait = _until(self.key, self.start, self.allowed, self.limit.minutes)
        message = f"too many {self.limit.what}; try again in {_words(wait)}"
        if self.kind == "lookup":
            _remember(self.key, message, wait)
        raise Locked(message, retry_after=wait)


@dataclass(frozen=True)
class Gate:
    """The counts a check reads, as scalar subqueries (`sqls`, `params`), so that a caller
    may read them in its own query — a terminal's look-up reads them with the number's
    owner: one query — then `passes` the counts it read."""

    counts: tuple[Count, ...]

    def __add__(self, other: Gate) -> Gate:
        return Gate(self.counts + other.counts)

    @property
    def sqls(self) -> list[str]:
        return [f"({SUM})"] * len(self.counts)

    @property
    def params(self) -> list:
        return [p for c in self.counts for p in (c.key, _adapted(c.start))]

    def passes(self, failures) -> None:
        """Refuse (Locked) at the first count read that reached its limit."""
        for count, n in zip(self.counts, failures, strict=True):
            count.refuse_at(int(n))


@functools.lru_cache(maxsize=8)
def _adapted(start: datetime):
    return db.adapt_datetime(start)  # a window's start changes once a minute


def gate(kind: str, *, client: str, subject: str = "") -> Gate:
    """What `check` reads for this kind of check. A look-up client found locked within the
    last second is refused at once, without reading anything."""
    keys = _keys(kind, subject, client)
    if kind == "lookup":
        _refused_lately(keys)
    lim = limit(kind)
    start = since(lim.minutes)
    counts = [
        Count(kind, keys[scope], start, allowed, lim)
        for scope, allowed in (("client", lim.client), ("pair", lim.pair))
        if allowed and scope in keys
    ]
    if lim.daily and subject:
        counts.append(Count(kind, keys["subject"], _today(), lim.daily, lim, daily=True))
    return Gate(tuple(counts))


def failed(kind: str, *, client: str, subject: str = "", account: str = "") -> bool:
    """Count a failure against the client and the subject (`account`: whose it is, for the
    lists and `unlock --user`). Returns True when it reached the subject's daily cap."""
    lim = limit(kind)
    keys = _keys(kind, subject, client)
    account = username_key(account) if account else ""
    for scope, key in keys.items():
        if scope == "client" and not lim.client:
            continue
        if scope == "subject" and not lim.daily:
            continue
        _add(
            key,
            kind=kind,
            # A client's own count belongs to no account; a number's daily one to no client.
            account="" if scope == "client" else _plain(account),
            client="" if scope == "subject" else _plain(client_group(client)),
        )
    return bool(lim.daily and subject and misses(keys["subject"], _today()) == lim.daily)


def succeeded(kind: str, *, client: str, subject: str) -> None:
    """The right credentials: this subject's failures from this client are forgiven."""
    LookupCounter.objects.filter(key=_keys(kind, subject, client)["pair"]).delete()


def login_lock_words(locked: Locked) -> str:
    """A log-in page's words for a lock, in the reader's language."""
    n = locked.retry_after
    if n < 90:
        wait = ngettext("%(n)s second", "%(n)s seconds", n) % {"n": n}
    else:
        minutes = (n + 59) // 60
        wait = ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}
    return gettext("too many failed log-ins; try again in %(wait)s") % {"wait": wait}


def _words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{(seconds + 59) // 60} minutes"


# -- refusals of unauthenticated requests, in aggregate ----------------------------------------

REFUSAL_MINUTES = 10


def refusal(kind: str, *, client: str) -> bool:
    """Count a refused unauthenticated request (a bad CSRF token, an unknown API token);
    True for the first of its kind from this client in REFUSAL_MINUTES — the one the
    caller records in the audit trail. The rest are counted, not recorded one by one."""
    client = client_group(client)
    key = _key(f"refused-{kind}", "c", client)
    first = misses(key, since(REFUSAL_MINUTES)) == 0
    _add(key, kind=f"refused-{kind}", account="", client=_plain(client))
    return first


def refusals(minutes: int = 60) -> list[tuple[str, str, int]]:
    """(kind, client, count) of refused unauthenticated requests in the last `minutes`."""
    rows = (
        LookupCounter.objects.filter(kind__startswith="refused-", window_start__gte=since(minutes))
        .values_list("kind", "client")
        .annotate(n=Sum("misses"))
        .order_by("-n")
    )
    return [(k.removeprefix("refused-"), c, n) for k, c, n in rows]


# -- what is locked, and lifting it ------------------------------------------------------------


@dataclass(frozen=True)
class Lock:
    kind: str
    account: str  # whose account or number ("" when the client alone is locked)
    client: str  # "" when a number is locked for the day from every client
    failures: int
    until: datetime


def locks() -> list[Lock]:
    """Everything refused right now, soonest to end first."""
    found = []
    kinds = ("console", "password", "pin-change", "register", "pin", "lookup")
    for kind in kinds:
        lim = limit(kind)
        window = since(lim.minutes)
        groups = [
            ("c:", lim.client, window, timedelta(minutes=lim.minutes)),
            ("p:", lim.pair, window, timedelta(minutes=lim.minutes)),
            ("s:", lim.daily, _today(), None),
        ]
        for scope, allowed, start, span in groups:
            if not allowed:
                continue
            rows = (
                LookupCounter.objects.filter(
                    kind=kind, key__startswith=f"{kind}:{scope}", window_start__gte=start
                )
                .values("key", "account", "client")
                .annotate(n=Sum("misses"), first=Min("window_start"), last=Max("window_start"))
                .filter(n__gte=allowed)
            )
            for r in rows:
                until = (
                    _today() + timedelta(days=1)
                    if span is None
                    else timezone.now()
                    + timedelta(seconds=_until(r["key"], start, allowed, lim.minutes))
                )
                found.append(Lock(kind, r["account"], r["client"], r["n"], until))
    return sorted(found, key=lambda lock: lock.until)


def unlock(*, user: str = "", address: str = "") -> int:
    """Forget the failures of an account (`user`: its log-ins, registrations and PINs)
    or of a client (`address`: an address, or `token:NAME`); returns how many counters
    went. NotFound when nothing was counted against it."""
    if bool(user) == bool(address):
        raise CardidError("name an account (--user) or a client (--address), one of them")
    q = Q(account=username_key(user)) if user else Q(client=client_group(address.strip()))
    gone = LookupCounter.objects.filter(q).exclude(kind__startswith="refused-").delete()[0]
    _locked_lately.forget()
    if not gone:
        who = f"user {user!r}" if user else f"address {address!r}"
        raise NotFound(f"nothing is locked or counted for {who}; `cardid access list` shows locks")
    return gone


def failures_by_client(kind: str = "lookup") -> list[tuple[str, int]]:
    """Clients with failures of `kind` in its current window, most first."""
    lim = limit(kind)
    rows = (
        LookupCounter.objects.filter(
            kind=kind, key__startswith=f"{kind}:c:", window_start__gte=since(lim.minutes)
        )
        .values_list("client")
        .annotate(n=Sum("misses"))
        .order_by("-n")
    )
    return list(rows)


def forget_expired() -> int:
    """Remove counters no window or day looks at any more (housekeeping)."""
    o = config.get_many("api.lookup.window-minutes")
    longest = max(LOG_IN[2], REFUSAL_MINUTES, o["api.lookup.window-minutes"], 2 * 24 * 60)
    cutoff = timezone.now() - timedelta(minutes=longest)
    return LookupCounter.objects.filter(window_start__lt=cutoff).delete()[0]
