"""Changes to one user's numbers (set, clear, swap) and PINs, through the card ledger."""

from __future__ import annotations

import hmac

from django.contrib.auth.hashers import check_password
from django.db import transaction

from cardid import keyed
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import ledger, numbers
from cardid.cards.errors import BadNumber
from cardid.cards.models import Card
from cardid.cards.selectors import Owner
from cardid.config import services as config
from cardid.directory.models import User
from cardid.directory.selectors import get_user
from cardid.errors import Invalid


def clean(raw: str, slot: str | None = None) -> str:
    """A number as it will be stored, or BadNumber naming the slot it was meant for."""
    try:
        return numbers.clean(raw)
    except numbers.NumberError as e:
        raise BadNumber(str(e), field=slot) from None


def slot_of(raw: str) -> str:
    try:
        return numbers.slot(raw)
    except numbers.NumberError as e:
        raise Invalid(str(e), field="slot") from None


def set_number(
    *, username: str, number: str, slot: str, actor: Actor, origin: str = Card.Origin.MANUAL
) -> Card:
    """Give the user `number` in `slot`, replacing what was there (which is retired)."""
    user = get_user(username)
    slot = slot_of(slot)
    change_numbers(user=user, changes={slot: number}, actor=actor, origin=origin)
    return Card.objects.get(user=user, slot=slot)


def clear_number(*, username: str, slot: str, actor: Actor) -> bool:
    """Empty the slot (its number is retired); False when it was empty already."""
    user = get_user(username)
    return bool(change_numbers(user=user, changes={slot_of(slot): None}, actor=actor))


def change_numbers(
    *,
    user: User,
    changes: dict[str, str | None],
    actor: Actor,
    origin: str = Card.Origin.MANUAL,
    move_within_user: bool = False,
    checks: ledger.Checks = ledger.PLAIN,
    action: str = "card.set",
    notify: str | None = None,
) -> list[str]:
    """Set or clear (None or "") one or both slots as one change, checked on its result.

    Moving a number between the user's own slots is not a retirement; a number that leaves
    the user is retired. With `move_within_user`, setting a slot to the number in the
    user's other slot moves it there (scripts that swap two numbers one property at a time
    rely on this). Returns the slots that changed."""
    wanted = {
        slot_of(s): (None if v is None or not v.strip() else clean(v, slot_of(s)))
        for s, v in changes.items()
    }
    with transaction.atomic():
        if move_within_user:
            held = ledger.held([user.pk])
            for s, v in list(wanted.items()):
                other = "secondary" if s == "primary" else "primary"
                h = held.get((user.pk, other))
                if v and other not in wanted and h and h.key == numbers.key(v):
                    wanted[other] = None
        done = ledger.commit(
            [ledger.Change(user.pk, s, v) for s, v in wanted.items()],
            actor=actor,
            origin=origin,
            action=action,
            checks=checks,
            notify=notify,
        )
    return [c.slot for c in done]


# -- PINs ------------------------------------------------------------------------------------


@transaction.atomic
def set_pin(*, username: str, pin: str | None, actor: Actor) -> None:
    """Store the PIN hashed (None or "" removes it); digits only, length as configured."""
    user = get_user(username)
    if pin:
        lo, hi = config.get_many("cards.pin.min-length", "cards.pin.max-length").values()
        if not (pin.isascii() and pin.isdigit()):
            raise Invalid("a PIN has digits only", field="pin")
        if not lo <= len(pin) <= hi:
            raise Invalid(f"a PIN has {lo} to {hi} digits, this one has {len(pin)}", field="pin")
        user.pin_hash = _pin_digest(user.pk, pin)
    else:
        user.pin_hash = ""
    user.save(update_fields=["pin_hash", "updated_at"])
    audit.record(actor=actor, action="pin.set" if pin else "pin.cleared", target=user.username)


# A PIN has 4 to 8 digits: a slow hash would hold off whoever reads the table for an hour at
# most, and would cost every terminal a third of a second per swipe. A keyed digest (its key
# comes from the server's secret, which the database does not hold) tells the reader of the
# table nothing, and costs microseconds; guessing through the terminals is the guard's to stop.
PIN_DIGEST = "hmac-sha256$"


def _pin_digest(user_id: int, pin: str) -> str:
    return PIN_DIGEST + keyed.digest("pin", f"{user_id}\x00{pin}")


def verify_pin(user: User | Owner | None, pin: str) -> bool:
    """Whether `pin` is the user's PIN (False when there is no user, or they have none)."""
    given = pin or ""
    if user is None or not user.pin_hash:
        _pin_digest(0, given)  # the same work: the time tells nothing
        return False
    if user.pin_hash.startswith(PIN_DIGEST):
        return hmac.compare_digest(user.pin_hash, _pin_digest(user.pk, given))
    # A PIN stored before cardid kept keyed digests: checked the old way, then kept anew.
    if not check_password(given, user.pin_hash):
        return False
    User.objects.filter(pk=user.pk, pin_hash=user.pin_hash).update(
        pin_hash=_pin_digest(user.pk, given)
    )
    return True
