"""The guard: failed credential checks (look-ups, log-ins, registrations) counted per client
and per number or account in the database, so the limits hold across every server process.
Every door asks it; none owns it."""

import hashlib
import time
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from cardid import db
from cardid.access.models import LookupCounter
from cardid.config import services as config
from cardid.directory.keys import username_key
from cardid.errors import CardidError

# Wrong PINs for one number before that number is refused for the rest of the window.
NUMBER_MAX_MISSES = 10


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


def check_lookup(*, client: str, number: str, with_pin: bool) -> None:
    """Refuse a look-up from a client past its misses, or of a number past its wrong PINs."""
    start, max_misses, minutes = _window()
    if misses(f"client:{client}"[:100], start) >= max_misses:
        raise TooManyMisses(
            f"too many failed look-ups from this client; try again after {minutes} minutes"
        )
    if with_pin and misses(_number_key(number), start) >= NUMBER_MAX_MISSES:
        raise TooManyMisses(
            f"too many failed look-ups of this number; try again after {minutes} minutes"
        )


def lookup_missed(*, client: str, number: str, with_pin: bool) -> int:
    """Count a failed look-up against the client (and the number, for a wrong PIN); returns
    the client's misses in the window."""
    start, _, _ = _window()
    n = count_miss(f"client:{client}"[:100], start)
    if with_pin:
        count_miss(_number_key(number), start)
    return n


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
