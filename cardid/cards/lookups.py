"""The terminal's look-up: what the reader sent, through the terminal's conversion rule, to
the enabled owner of the number (and PIN), with every miss counted by the guard."""

import time

from django.contrib.auth.hashers import make_password

from cardid.access import guard
from cardid.cards import rules, selectors
from cardid.cards.services import verify_pin
from cardid.directory.models import User

MAX_DELAY = 1.0  # seconds: the slow-down after repeated misses grows to this


def owner(*, number: str, pin: str | None = None) -> User | None:
    """The enabled owner of `number`, and only if `pin` matches when one is given."""
    user = selectors.find_owner(number)
    if pin is not None:
        if user is None:
            make_password(pin)  # as much work as a wrong PIN: the time tells nothing
            return None
        if not verify_pin(user, pin):
            return None
    if user is None or not user.enabled:
        return None
    return user


def lookup(*, client: str, number: str, pin: str | None = None, chain: str = "") -> User | None:
    """The owner of `number` (and PIN), counting a miss against the client and the number.

    `chain` is the terminal's conversion rule (its steps), applied first. No such number
    and a wrong PIN give the same answer (None)."""
    number = rules.convert(number, chain=chain) if chain else number
    guard.check_lookup(client=client, number=number, with_pin=pin is not None)
    user = owner(number=number, pin=pin)
    if user is None:
        n = guard.lookup_missed(client=client, number=number, with_pin=pin is not None)
        # Slow down a client that keeps missing: a terminal mistypes now and then, a walk
        # through the number space misses all the time.
        time.sleep(min(MAX_DELAY, 0.01 * max(0, n - 10)))
    return user
