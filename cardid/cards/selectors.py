"""Reads about numbers: who owns one, how many are in use, the policy in force."""

from datetime import timedelta
from typing import NamedTuple

from django.db.models import Count
from django.utils import timezone

from cardid import db, keyed
from cardid.cards import numbers
from cardid.cards.models import Card, RetiredNumber
from cardid.cards.policy import Policy, PolicyError
from cardid.config import services as config
from cardid.directory.models import User
from cardid.errors import Invalid

CARD, RETIRED = Card._meta.db_table, RetiredNumber._meta.db_table


def current_policy() -> Policy:
    """The generation policy as the options set it."""
    o = config.get_many(
        "cards.length",
        "cards.no-leading-zero",
        "cards.check-digit",
        "cards.reject-weak-patterns",
        "cards.max-guess-probability",
    )
    try:
        return Policy(
            length=o["cards.length"],
            no_leading_zero=o["cards.no-leading-zero"],
            check_digit=o["cards.check-digit"],
            reject_weak_patterns=o["cards.reject-weak-patterns"],
            max_guess_probability=o["cards.max-guess-probability"],
        )
    except PolicyError as e:
        raise Invalid(f"the Card/ID number policy is not valid: {e}") from None


_OWNER_FIELDS = [f.attname for f in User._meta.concrete_fields]
_OWNER_COLUMNS = ", ".join(f"u.{User._meta.get_field(f).column}" for f in _OWNER_FIELDS)


def _key_of(number: str) -> str | None:
    try:
        return numbers.key(numbers.clean(number))
    except numbers.NumberError:
        return None


def find_owner(number: str) -> User | None:
    """The user holding `number` in either slot (matched by its normalised key), or None."""
    key = _key_of(number)
    if key is None:
        return None
    # Terminals call this for every swipe: one indexed join, written out.
    row = db.fetch_one(
        f"SELECT {_OWNER_COLUMNS} FROM {User._meta.db_table} u "
        f"JOIN {CARD} c ON c.user_id = u.id WHERE c.number_key = %s",
        [key],
    )
    return None if row is None else User.from_db("default", _OWNER_FIELDS, row)


class Owner(NamedTuple):
    """Who holds a number, as a terminal's look-up needs it."""

    pk: int
    username: str
    full_name: str
    enabled: bool
    pin_hash: str


def find_owner_with(number: str, sqls: list[str], params: list) -> tuple[list, Owner | None]:
    """(the values of the scalar subqueries `sqls`, the owner of `number` or None), read in
    one query: a terminal's look-up reads its client's failures with it."""
    row = db.fetch_one(
        f"SELECT {', '.join(sqls)}, u.id, u.username, u.full_name, u.enabled, u.pin_hash "
        f"FROM (SELECT 1 AS one) x LEFT JOIN {CARD} c ON c.number_key = %s "
        f"LEFT JOIN {User._meta.db_table} u ON u.id = c.user_id",
        [*params, _key_of(number) or ""],
    )
    n = len(sqls)
    pk, username, full_name, enabled, pin_hash = row[n:]
    owner = None if pk is None else Owner(pk, username, full_name, bool(enabled), pin_hash)
    return list(row[:n]), owner


def in_use(length: int) -> int:
    """Numeric numbers of `length` digits in use (what a keypad guess of that length hits)."""
    row = db.fetch_one(f"SELECT COUNT(*) FROM {CARD} WHERE keypad_length = %s", [length])
    return int(row[0])


def in_use_by_length() -> dict[int, int]:
    """Numeric numbers in use, counted by length."""
    rows = (
        Card.objects.filter(keypad_length__isnull=False)
        .values_list("keypad_length")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def retired_hash(number_key: str) -> str:
    """How a retired number is kept: a keyed digest (HMAC with the server's secret), so a
    dump of that table names no number — a plain hash of an 8-digit space would."""
    return keyed.digest("retired", numbers.digest(number_key))


def quarantine_days() -> int:
    """Days a retired number stays in quarantine (-1: for ever, 0: not at all)."""
    return config.get("cards.retired-quarantine-days")


def quarantine_cutoff():
    """Numbers retired after this moment are in quarantine (None: all of them, forever)."""
    days = quarantine_days()
    if days < 0:
        return None
    return timezone.now() - timedelta(days=days)


def taken_keys(keys: list[str], check_retired: bool = True) -> set[str]:
    """Those of `keys` that are held by a user or retired and in quarantine.

    `check_retired=False` skips the retired numbers, for a caller that knows there are none.
    """
    taken = {
        k for (k,) in db.select_in(f"SELECT number_key FROM {CARD} WHERE number_key IN_LIST", keys)
    }
    if check_retired:
        taken |= quarantined_keys([k for k in keys if k not in taken])
    return taken


def quarantined_keys(keys: list[str]) -> set[str]:
    """Those of `keys` that were retired and are still in quarantine."""
    if not keys or quarantine_days() == 0:
        return set()
    by_hash = {retired_hash(k): k for k in keys}
    sql = f"SELECT number_hash FROM {RETIRED} WHERE number_hash IN_LIST"
    cutoff = quarantine_cutoff()
    after = []
    if cutoff is not None:
        sql += " AND retired_at > %s"
        after = [db.adapt_datetime(cutoff)]
    return {by_hash[h] for (h,) in db.select_in(sql, list(by_hash), after=after)}


def quarantined_count(length: int) -> int:
    """Retired numbers of `length` digits still in quarantine."""
    return _quarantined(length).count()


def any_quarantined(length: int) -> bool:
    return _quarantined(length).exists()


def _quarantined(length: int):
    if quarantine_days() == 0:
        return RetiredNumber.objects.none()
    cutoff = quarantine_cutoff()
    retired = RetiredNumber.objects.filter(keypad_length=length)
    return retired if cutoff is None else retired.filter(retired_at__gt=cutoff)


def cards_of(user: User) -> dict[str, Card]:
    return {c.slot: c for c in Card.objects.filter(user=user)}


def numbers_of(user_ids: list[int]) -> dict[int, dict[str, str]]:
    """{user id: {slot: number}} for a page of users, in one query."""
    out: dict[int, dict[str, str]] = {}
    for uid, slot, number in Card.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "slot", "number"
    ):
        out.setdefault(uid, {})[slot] = number
    return out


def policy_figures() -> dict:
    """What the console shows beside the policy: numbers in use, space, guess chance."""
    policy = current_policy()
    used = in_use_by_length().get(policy.length, 0)
    return {
        "in_use": used,
        "space": policy.space_size(),
        "capacity": policy.capacity(),
        "guess_probability": policy.guess_probability(used),
        "bound": policy.max_guess_probability,
    }
