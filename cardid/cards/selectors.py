"""Reads about numbers: who owns one, how many are in use, the policy in force."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from cardid.cards import numbers
from cardid.cards.models import Card, RetiredNumber
from cardid.cards.policy import Policy, PolicyError
from cardid.config import services as config
from cardid.directory.models import User
from cardid.errors import Invalid


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


def find_owner(number: str) -> User | None:
    """The user holding `number` in either slot (matched by its normalised key), or None."""
    try:
        key = numbers.key(numbers.clean(number))
    except numbers.NumberError:
        return None
    card = Card.objects.select_related("user").filter(number_key=key).first()
    return card.user if card else None


def in_use_by_length() -> dict[int, int]:
    """Numeric numbers in use, counted by length."""
    rows = (
        Card.objects.filter(keypad_length__isnull=False)
        .values_list("keypad_length")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def quarantine_filter() -> Q:
    """Retired numbers still in quarantine."""
    days = config.get("cards.retired-quarantine-days")
    if days < 0:
        return Q()
    return Q(retired_at__gt=timezone.now() - timedelta(days=days))


def taken_keys(keys: list[str]) -> set[str]:
    """Those of `keys` that are held by a user or retired and in quarantine."""
    taken = set(Card.objects.filter(number_key__in=keys).values_list("number_key", flat=True))
    by_hash = {numbers.retired_hash(k): k for k in keys if k not in taken}
    if by_hash:
        retired = RetiredNumber.objects.filter(quarantine_filter(), number_hash__in=list(by_hash))
        taken.update(by_hash[h] for h in retired.values_list("number_hash", flat=True))
    return taken


def quarantined_count(length: int) -> int:
    days = config.get("cards.retired-quarantine-days")
    if days == 0:
        return 0
    return RetiredNumber.objects.filter(quarantine_filter(), keypad_length=length).count()


def cards_of(user: User) -> dict[str, Card]:
    return {c.slot: c for c in Card.objects.filter(user=user)}


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
