"""Look-up protection: failed look-ups are counted per client and per number in the
database, so the limits hold across every server process."""

import hashlib
import time
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from cardid import db
from cardid.api.models import LookupCounter
from cardid.cards import services as cards
from cardid.config import services as config
from cardid.directory.models import User, username_key
from cardid.errors import CardidError

# Wrong PINs for one number before that number is refused for the rest of the window.
NUMBER_MAX_MISSES = 10
MAX_DELAY = 1.0  # seconds: the slow-down after repeated misses grows to this


class TooManyMisses(CardidError):
    """The client or the number is locked out until the window has passed."""


def _bucket(now: datetime) -> datetime:
    """Misses are counted per key in one-minute buckets (one row each)."""
    return now.replace(second=0, microsecond=0)


def since(minutes: int) -> datetime:
    """The start of the look-back: the buckets of the last `minutes` minutes."""
    return _bucket(timezone.now()) - timedelta(minutes=minutes - 1)


def _window() -> tuple[datetime, int, int]:
    o = config.get_many("api.lookup.max-misses", "api.lookup.window-minutes")
    minutes = o["api.lookup.window-minutes"]
    return since(minutes), o["api.lookup.max-misses"], minutes


def _number_key(number: str) -> str:
    return "number:" + hashlib.sha256(number.strip().lower().encode()).hexdigest()[:40]


KEY = connection.ops.quote_name("key")


def misses(key: str, start: datetime) -> int:
    table = LookupCounter._meta.db_table
    row = db.fetch_one(
        f"SELECT COALESCE(SUM(misses), 0) FROM {table} WHERE {KEY} = %s AND window_start >= %s",
        [key, db.adapt_datetime(start)],
    )
    return int(row[0]) if row else 0


def count_miss(key: str, window_start: datetime | None = None) -> int:
    """Add one miss to `key`'s current bucket; returns the misses since `window_start`."""
    bucket = _bucket(timezone.now())
    window_start = window_start or bucket
    for _ in range(3):
        n = LookupCounter.objects.filter(key=key, window_start=bucket).update(
            misses=F("misses") + 1
        )
        if n:
            break
        try:
            with transaction.atomic():
                LookupCounter.objects.create(key=key, window_start=bucket, misses=1)
            break
        except IntegrityError:
            continue  # another process created it meanwhile: count again
    return misses(key, window_start)


def lookup(
    *, client: str, number: str, pin: str | None = None, rule: str = "", chain: str = ""
) -> User | None:
    """The owner of `number` (and PIN), counting a miss against the client and the number.

    `rule` (the terminal's conversion rule, or its steps in `chain`) turns what the reader
    sent into the number first. No such number and a wrong PIN give the same answer (None)."""
    from cardid.cards import rules

    # The token brings its rule's steps along (`chain`); a name alone is looked up.
    number = rules.convert(number, chain=chain) if chain else rules.convert(number, rule=rule)
    start, max_misses, minutes = _window()
    ckey, nkey = f"client:{client}"[:100], _number_key(number)
    if misses(ckey, start) >= max_misses:
        raise TooManyMisses(
            f"too many failed look-ups from this client; try again after {minutes} minutes"
        )
    if pin is not None and misses(nkey, start) >= NUMBER_MAX_MISSES:
        raise TooManyMisses(
            f"too many failed look-ups of this number; try again after {minutes} minutes"
        )
    user = cards.lookup(number=number, pin=pin)
    if user is None:
        n = count_miss(ckey, start)
        if pin is not None:
            count_miss(nkey, start)
        # Slow down a client that keeps missing: a terminal mistypes now and then, a walk
        # through the number space misses all the time.
        time.sleep(min(MAX_DELAY, 0.01 * max(0, n - 10)))
    return user


def failed_lookups() -> list[tuple[str, int]]:
    """Clients with failed look-ups in the current window, most first."""
    start, _, _ = _window()
    rows = (
        LookupCounter.objects.filter(window_start__gte=start, key__startswith="client:")
        .values_list("key")
        .annotate(n=Sum("misses"))
        .order_by("-n")
    )
    return [(k.removeprefix("client:"), n) for k, n in rows]


def check_client(client: str) -> None:
    """Refuse a client past its misses (look-ups and failed registrations count alike)."""
    start, max_misses, minutes = _window()
    if misses(f"client:{client}"[:100], start) >= max_misses:
        raise TooManyMisses(
            f"too many failed attempts from this client; try again after {minutes} minutes"
        )


def count_client_miss(client: str) -> None:
    count_miss(f"client:{client}"[:100])


def quarantine_q():
    from cardid.cards.selectors import quarantine_filter

    return quarantine_filter()


class LoginRefused(CardidError):
    """A log-in refused: wrong credentials, or too many failures lately."""


class LoginThrottle:
    """Failed log-ins per account and per address, counted in the database (every server
    process sees them); past a limit, log-ins wait out the window, and each failure is
    slower than the last."""

    def __init__(self, prefix: str, *, per_user: int = 5, per_address: int = 30, minutes=15):
        self.prefix, self.per_user, self.per_address = prefix, per_user, per_address
        self.minutes = minutes

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return (
            f"{self.prefix}:user:{username_key(username)}"[:100],
            f"{self.prefix}:addr:{address}"[:100],
        )

    def check(self, username: str, address: str) -> None:
        ukey, akey = self._keys(username, address)
        start = since(self.minutes)
        if misses(ukey, start) >= self.per_user or misses(akey, start) >= self.per_address:
            raise LoginRefused(
                f"too many failed log-ins; wait {self.minutes} minutes and try again"
            )

    def failed(self, username: str, address: str) -> None:
        ukey, akey = self._keys(username, address)
        count_miss(akey)
        n = count_miss(ukey, since(self.minutes))
        time.sleep(min(2.0, 0.2 * n))

    def succeeded(self, username: str, address: str) -> None:
        LookupCounter.objects.filter(key=self._keys(username, address)[0]).delete()
