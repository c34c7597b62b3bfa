"""The terminal's look-up: what the reader sent, through the terminal's conversion rule, to
the enabled owner of the number (and PIN), with every miss counted by the guard."""

from cardid.access import guard
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import numbers, rules, selectors
from cardid.cards.services import verify_pin
from cardid.directory.models import User
from cardid.telemetry import count_lookup

GUARD = Actor("look-up protection", "system")


def _match(number: str, pin: str | None) -> tuple[User | None, User | None]:
    """(the holder of `number` or None, the user the look-up finds or None)."""
    holder = selectors.find_owner(number)
    if pin is not None:
        if not verify_pin(holder, pin):  # no holder: the same work, the time tells nothing
            return holder, None
    if holder is None or not holder.enabled:
        return holder, None
    return holder, holder


def owner(*, number: str, pin: str | None = None) -> User | None:
    """The enabled owner of `number`, and only if `pin` matches when one is given."""
    return _match(number, pin)[1]


def lookup(
    *, client: str, number: str, pin: str | None = None, chain: str = ""
) -> selectors.Owner | None:
    """The owner of `number` (and PIN); a miss counts against the client, a wrong PIN also
    against the number (per client, and per day across clients). Refused at once (Locked)
    past a limit. No such number and a wrong PIN give the same answer (None)."""
    number = rules.convert(number, chain=chain) if chain else number
    try:
        key = numbers.key(numbers.clean(number))
    except numbers.NumberError:
        key = ""
    try:
        # The client's failures (and the number's wrong PINs) are read in the look-up's own
        # query: one query for a look-up that finds its user.
        gate = guard.gate("lookup", client=client)
        if pin is not None and key:
            gate += guard.gate("pin", client=client, subject=key)
        failures, holder = selectors.find_owner_with(number, gate.sqls, gate.params)
        gate.passes(failures)
    except guard.Locked:
        count_lookup("refused")
        raise
    # A wrong PIN, and no such number, take the same work: the time tells nothing.
    right = pin is None or verify_pin(holder, pin)
    user = holder if holder is not None and holder.enabled and right else None
    count_lookup("found" if user else "not_found")
    if user is None:
        guard.failed("lookup", client=client)
        if pin is not None and key:
            account = holder.username if holder else ""
            if guard.failed("pin", client=client, subject=key, account=account) and holder:
                audit.record(
                    actor=GUARD,
                    action="pin.locked-for-day",
                    target=holder.username,
                    detail="too many wrong PINs today; PIN look-ups of the number wait for "
                    "tomorrow",
                )
    return user
