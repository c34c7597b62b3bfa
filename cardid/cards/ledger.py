"""The card ledger: the one place where Card/ID numbers are written.

Every change of a number passes through here, from every door: set, clear and swap, an
import, the sync (imported numbers, deleted users), self-registration, the portal and bulk
generation. A caller says *what* should change — `commit` for numbers it names, `issue` for
numbers drawn here — and the ledger decides whether it may (uniqueness, the policy for
numbers people choose, quarantine, the guess bound) and writes, set-based and in the
caller's transaction: the cards (cleared before set, so a swap never passes through a
state that holds one number twice), the retired numbers, the audit rows and the
announcement that queues notifications.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cardid import db
from cardid.audit import services as audit
from cardid.audit.actor import Actor, mask, mask_many
from cardid.cards import generator, numbers, selectors, signals
from cardid.cards.errors import (
    GenerationRefused,
    NumberNotAllowed,
    NumberRetired,
    NumberTaken,
    SameNumberTwice,
)
from cardid.cards.models import CARD_ROW, Card, RetiredNumber
from cardid.cards.policy import Policy, PolicyError
from cardid.directory.models import User
from cardid.errors import CardidError

CARD = Card._meta.db_table
RETIRED = RetiredNumber._meta.db_table
USER = User._meta.db_table
RETIRED_ROW = ("number_hash", "keypad_length", "user", "slot", "retired_at")
# One advisory lock for the number space: generation counts the numbers in use and inserts
# under it, so generations running at once can never together pass the guess bound.
SPACE_LOCK = 0x0CA2D1D


@dataclass(frozen=True)
class Change:
    """What a slot should hold after the change: a cleaned number, or None (cleared)."""

    user_id: int
    slot: str
    number: str | None


@dataclass(frozen=True)
class Held:
    """A card as it is now."""

    number: str
    key: str
    keypad_length: int | None
    origin: str


@dataclass(frozen=True)
class Checks:
    """The extra rules for numbers people choose for themselves (SPEC §1): the generation
    policy, and no number that was retired from someone and is still in quarantine."""

    policy: Policy | None = None
    quarantine: bool = False


PLAIN = Checks()  # numbers set by administrators, imports and syncs: characters, uniqueness


Slots = dict[tuple[int, str], Held]


# -- reading ----------------------------------------------------------------------------------


def held(user_ids: Iterable[int], slot: str | None = None) -> Slots:
    """The cards of these users, by (user id, slot); one query per 5,000 users."""
    out: Slots = {}
    ids = list(dict.fromkeys(user_ids))
    where = "slot = %s AND " if slot else ""
    for part in db.chunked(ids, 5000):
        for uid, s, n, k, kl, origin in db.select_in(
            f"SELECT user_id, slot, number, number_key, keypad_length, origin FROM {CARD} "
            f"WHERE {where}user_id IN_LIST",
            part,
            before=[slot] if slot else [],
        ):
            out[(uid, s)] = Held(n, k, kl, origin)
    return out


def holders(keys: Iterable[str]) -> dict[str, tuple[int, str, str]]:
    """Who holds these number keys: {key: (user id, slot, username)}."""
    out = {}
    for part in db.chunked(list(dict.fromkeys(keys)), 5000):
        for k, uid, s, name in db.select_in(
            f"SELECT c.number_key, c.user_id, c.slot, u.username FROM {CARD} c "
            f"JOIN {USER} u ON u.id = c.user_id WHERE c.number_key IN_LIST",
            part,
        ):
            out[k] = (uid, s, name)
    return out


# -- checking ---------------------------------------------------------------------------------


def problems(
    changes: list[Change], *, checks: Checks = PLAIN, current: Slots | None = None
) -> list[tuple[Change, CardidError]]:
    """Every change that may not be made, with the refusal, judged on the result of all of
    them together (numbers may move between slots and users within one change)."""
    if current is None:
        current = held(c.user_id for c in changes)
    wanted = {(c.user_id, c.slot): c for c in changes}
    # Every slot of the users involved as it will be (None: empty); slots of other users
    # keep what they hold.
    final: dict[tuple[int, str], str | None] = {k: h.key for k, h in current.items()}
    for k, c in wanted.items():
        final[k] = None if c.number is None else numbers.key(c.number)
    found: list[tuple[Change, CardidError]] = []
    claimed: dict[str, tuple[int, str]] = {}
    for k, c in wanted.items():
        if c.number is None or (k in current and current[k].number == c.number):
            continue
        key = final[k]
        other = (c.user_id, "secondary" if c.slot == "primary" else "primary")
        if final.get(other) == key:
            found.append(
                (
                    c,
                    SameNumberTwice(
                        "the primary and secondary number would be the same; give two numbers",
                        field=c.slot,
                    ),
                )
            )
            continue
        if key in claimed and claimed[key] != k:
            found.append((c, NumberTaken(f"number {c.number} is given twice", field=c.slot)))
            continue
        claimed[key] = k
    # Numbers held outside what changes, or in a slot that keeps its number.
    new_keys = {final[k]: k for k, c in wanted.items() if c.number is not None}
    for key, (uid, s, name) in holders(new_keys).items():
        k = new_keys[key]
        if (uid, s) == k or final.get((uid, s), key) != key or uid == k[0]:
            continue  # its own, freed by this change, or caught above
        c = wanted[k]
        found.append(
            (
                c,
                NumberTaken(
                    f"number {c.number} already belongs to another user",
                    field=c.slot,
                    holder=name,
                    holder_slot=s,
                ),
            )
        )
    if checks.policy is not None or checks.quarantine:
        found += _chosen_number_problems(wanted, current, checks)
    return found


def _chosen_number_problems(wanted, current: Slots, checks: Checks):
    found = []
    own = {(uid, h.key) for (uid, _), h in current.items()}
    fresh = [
        c
        for k, c in wanted.items()
        if c.number is not None
        and (c.user_id, numbers.key(c.number)) not in own
        and not (k in current and current[k].number == c.number)
    ]
    if checks.policy is not None:
        for c in fresh:
            if not checks.policy.accepts(c.number):
                found.append((c, NumberNotAllowed(_policy_words(checks.policy), field=c.slot)))
    if checks.quarantine:
        retired = selectors.quarantined_keys([numbers.key(c.number) for c in fresh])
        found += [
            (
                c,
                NumberRetired(
                    "that number was in use before and cannot be given out again yet; "
                    "choose another",
                    field=c.slot,
                ),
            )
            for c in fresh
            if numbers.key(c.number) in retired
        ]
    return found


def _policy_words(policy: Policy) -> str:
    parts = [f"{policy.length} digits"]
    if policy.no_leading_zero:
        parts.append("not starting with 0")
    if policy.check_digit != "none":
        parts.append(f"ending in a valid {policy.check_digit.title()} check digit")
    weak = " and no easy pattern (one digit repeated, or a run like 123456)"
    return "choose a number of " + ", ".join(parts) + (weak if policy.reject_weak_patterns else "")


# -- committing named numbers -----------------------------------------------------------------


def commit(
    changes: list[Change],
    *,
    actor: Actor,
    origin: str,
    action: str,
    checks: Checks = PLAIN,
    notify: str | None = None,
    label: str = "",
) -> list[Change]:
    """Make the changes as one, or raise the first refusal (nothing changed). Returns the
    changes that changed something. `action` names the audit event of a new number;
    `notify` (a reason) queues a notification for each user given a new number."""
    if not changes:
        return []
    with transaction.atomic():
        # Cards are inserted under the number-space lock, so that generation's tally sees
        # them in the order of their ids (see Tally).
        _lock_space()
        _lock_users(sorted({c.user_id for c in changes}))
        current = held(c.user_id for c in changes)
        found = problems(changes, checks=checks, current=current)
        if found:
            raise found[0][1]
        final = {(c.user_id, c.slot): c.number for c in changes}
        if checks.policy is not None:
            # Numbers people choose are typed at keypads like generated ones: the guess
            # bound holds for them too, checked under the same lock (SPEC §2).
            _room_for_chosen(final, current, checks.policy)
        try:
            with transaction.atomic():
                done = _write(
                    final,
                    current,
                    actor=actor,
                    origin=origin,
                    action=action,
                    notify=notify,
                    label=label,
                )
            return [Change(uid, s, n) for (uid, s), n in done]
        except IntegrityError:
            # A concurrent writer took one of the numbers after the check.
            raise NumberTaken("that number already belongs to another user") from None


def _room_for_chosen(final: dict[tuple[int, str], str | None], current: Slots, policy: Policy):
    """Refuse (GenerationRefused) when the chosen numbers of the policy's length that come
    into use would break the guess bound; those that leave use make room (a swap of one
    user's slots changes nothing)."""
    length = policy.length
    before: dict[int, set[str]] = {}
    after: dict[int, set[str]] = {}
    for (uid, slot), h in current.items():
        if h.keypad_length == length:
            before.setdefault(uid, set()).add(h.key)
        if (uid, slot) not in final and h.keypad_length == length:
            after.setdefault(uid, set()).add(h.key)
    for (uid, _), number in final.items():
        if number is not None and numbers.keypad_length(number) == length:
            after.setdefault(uid, set()).add(numbers.key(number))
    users = before.keys() | after.keys()
    entering = sum(len(after.get(u, set()) - before.get(u, set())) for u in users)
    leaving = sum(len(before.get(u, set()) - after.get(u, set())) for u in users)
    check_room(policy, entering, **replaced(policy, leaving))


def _lock_users(user_ids: list[int]) -> None:
    # Two changes to one user's numbers queue up. SQLite's write transaction (IMMEDIATE)
    # already serialises every writer.
    if connection.vendor == "postgresql":
        for part in db.chunked(user_ids, 5000):
            db.select_in(f"SELECT id FROM {USER} WHERE id IN_LIST ORDER BY id FOR UPDATE", part)


# -- issuing random numbers -------------------------------------------------------------------


def issue(
    users: list[tuple[int, str]],
    *,
    slot: str,
    replace: bool,
    policy: Policy,
    actor: Actor,
    origin: str,
    action: str = "card.generated",
    notify: str | None = None,
    label: str = "",
    tally: Tally | None = None,
) -> tuple[list[int], int]:
    """Random numbers for these users in `slot` (only where blank, or replacing), in the
    caller's transaction; returns (ids of the users given one, how many were skipped).
    The guess bound is checked under the number-space lock together with the insert:
    GenerationRefused when it would not hold. A run of many chunks passes one `tally`, so
    that each chunk counts only the numbers added since the last."""
    _lock_space()
    current = held((uid for uid, _ in users), slot)
    skipped = 0
    if not replace:
        skipped = sum(1 for uid, _ in users if (uid, slot) in current)
        users = [(uid, name) for uid, name in users if (uid, slot) not in current]
    if not users:
        return [], skipped
    leaving = sum(
        1
        for uid, _ in users
        if (uid, slot) in current and current[(uid, slot)].keypad_length == policy.length
    )
    (tally or Tally(policy)).check(len(users), **replaced(policy, leaving))
    # Hashing every candidate to check it against retired numbers is skipped when no number
    # of this length is in quarantine.
    check_retired = selectors.any_quarantined(policy.length)
    # Sorted, so that concurrent writers insert into the unique index in one order and
    # rarely deadlock; which user gets which random number stays random.
    drawn = sorted(
        generator.draw_exactly(
            policy, len(users), lambda keys: selectors.taken_keys(keys, check_retired)
        )
    )
    final = {(uid, slot): n for (uid, _), n in zip(users, drawn, strict=True)}
    _write(
        final,
        current,
        actor=actor,
        origin=origin,
        action=action,
        notify=notify,
        label=label,
        names=dict(users),
        drawn_length=policy.length,
    )
    return [uid for uid, _ in users], skipped


class Tally:
    """The numbers of the policy's length in use and in quarantine, for the chunks of one
    generation. The first chunk counts them exactly (under the number-space lock); later
    chunks add only the rows inserted since — by anyone: every insert of a card or a
    retired number happens under the lock, in the order of their ids — which is an upper
    bound, as removals only make room. Before refusing, it counts exactly again."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.in_use = self.unavailable = 0
        self.last_card = self.last_retired = None

    def check(self, to_issue: int, *, in_use_delta: int = 0, unavailable_delta: int = 0) -> None:
        exact = self.last_card is None
        if exact:
            self._count()
        else:
            self._add_since()
        deltas = {"in_use_delta": in_use_delta, "unavailable_delta": unavailable_delta}
        if not exact and not self._fits(to_issue, **deltas):
            self._count()  # the bound says no: be sure before refusing
        if not self._fits(to_issue, **deltas):
            check_room(self.policy, to_issue, **deltas)  # refuses, naming the length to use

    def _fits(self, to_issue: int, *, in_use_delta: int, unavailable_delta: int) -> bool:
        length = self.policy.length
        try:
            self.policy.check_room(
                in_use={length: self.in_use + in_use_delta},
                to_issue=to_issue,
                unavailable=self.unavailable + unavailable_delta,
            )
        except PolicyError:
            return False
        return True

    def _count(self) -> None:
        length = self.policy.length
        self.in_use = selectors.in_use(length)
        self.unavailable = selectors.quarantined_count(length)
        self.last_card = db.fetch_one(f"SELECT COALESCE(MAX(id), 0) FROM {CARD}")[0]
        self.last_retired = db.fetch_one(f"SELECT COALESCE(MAX(id), 0) FROM {RETIRED}")[0]

    def _add_since(self) -> None:
        length = self.policy.length
        for table, last, attr in (
            (CARD, self.last_card, "in_use"),
            (RETIRED, self.last_retired, "unavailable"),
        ):
            added, top = db.fetch_one(
                "SELECT COUNT(CASE WHEN keypad_length = %s THEN 1 END), COALESCE(MAX(id), 0) "
                f"FROM {table} WHERE id > %s",
                [length, last],
            )
            setattr(self, attr, getattr(self, attr) + added)
            if table == CARD:
                self.last_card = max(last, top)
            else:
                self.last_retired = max(last, top)


def _lock_space() -> None:
    if connection.vendor == "postgresql":
        db.fetch_one("SELECT pg_advisory_xact_lock(%s)", [SPACE_LOCK])


def check_room(
    policy: Policy, to_issue: int, *, in_use_delta: int = 0, unavailable_delta: int = 0
) -> None:
    """Refuse (GenerationRefused, naming the length to choose) when `to_issue` more numbers
    of the policy's length would not fit. The deltas adjust the numbers of that length in
    use and in quarantine for changes made before the numbers are issued (numbers being
    replaced, a sync's imports and deletions)."""
    if to_issue <= 0:
        return
    used = selectors.in_use(policy.length) + in_use_delta
    unavailable = selectors.quarantined_count(policy.length) + unavailable_delta
    try:
        policy.check_room(in_use={policy.length: used}, to_issue=to_issue, unavailable=unavailable)
        return
    except PolicyError:
        pass
    # Refused: count every length, so that the message names the length that fits.
    in_use = selectors.in_use_by_length()
    in_use[policy.length] = used
    try:
        policy.check_room(in_use=in_use, to_issue=to_issue, unavailable=unavailable)
    except PolicyError as e:
        raise GenerationRefused(str(e), field="slot") from None


def replaced(policy: Policy, leaving: int) -> dict[str, int]:
    """The check_room deltas for `leaving` numbers of the policy's length being replaced:
    out of use, and into quarantine unless there is none."""
    into_quarantine = leaving if selectors.quarantine_days() != 0 else 0
    return {"in_use_delta": -leaving, "unavailable_delta": into_quarantine}


# -- writing ----------------------------------------------------------------------------------


def _write(
    final: dict[tuple[int, str], str | None],
    current: Slots,
    *,
    actor: Actor,
    origin: str,
    action: str,
    notify: str | None,
    label: str,
    names: dict[int, str] | None = None,
    drawn_length: int = 0,
) -> list[tuple[tuple[int, str], str | None]]:
    """Write the slots of `final` that differ from `current`; returns them ((user, slot),
    number). `drawn_length`: the new numbers are drawn digits of that length (their key is
    themselves), so bulk generation skips working that out per number."""
    get = current.get
    changed = (
        [(k, n) for k, n in final.items() if n is not None]  # nothing held: only sets count
        if not current
        else [(k, n) for k, n in final.items() if ((h := get(k)) and h.number) != n]
    )
    if not changed:
        return []
    at = db.adapt_datetime(timezone.now())
    if names is None:
        names = _usernames({uid for (uid, _), _ in changed})
    replaced = [(k, h) for k, _ in changed if (h := get(k)) is not None]
    own: dict[tuple[int, str], Held] = {}
    if replaced:
        own = {(uid, h.key): h for (uid, _), h in current.items()}
        # Numbers that stay with somebody after the change are moved, not retired.
        staying = {numbers.key(n) for n in final.values() if n} | {
            h.key for k, h in current.items() if k not in final
        }
        for s in numbers.SLOTS:
            gone = [uid for (uid, slot), _ in replaced if slot == s]
            for part in db.chunked(gone, 5000):
                db.select_in(
                    f"DELETE FROM {CARD} WHERE slot = %s AND user_id IN_LIST",
                    part,
                    before=[s],
                    fetch=False,
                )
        db.insert_rows(
            RetiredNumber,
            RETIRED_ROW,
            (
                (selectors.retired_hash(h.key), h.keypad_length, uid, s, at)
                for (uid, s), h in replaced
                if h.key not in staying
            ),
        )
    suffix = f" ({label})"[:400] if label else ""  # the detail stays within its column
    who = actor.name[:200]
    name_of = names.get
    if drawn_length and not own:
        # Bulk generation: every number new, drawn, of one length, into one slot: the card
        # and audit rows in one comprehension each.
        cards = [(uid, s, n, n, drawn_length, origin, at, who) for (uid, s), n in changed]
        masked = mask_many([n for _, n in changed], drawn_length)
        door, act = actor.door, action[:60]
        audit.record_rows(
            [
                (at, who, door, act, name_of(uid, ""), f"{s} {m}{suffix}")
                for ((uid, s), _), m in zip(changed, masked, strict=True)
            ]
        )
        db.insert_rows(Card, CARD_ROW, cards)
        signals.numbers_issued.send(
            sender=Change,
            user_ids=[uid for (uid, _), _ in changed],
            slot=changed[0][0][1],
            notify=notify,
            at=at,
        )
        _announce_changes(changed, current, origin, at)
        return changed
    cards, events, announced = [], [], {}
    key, keypad_length = numbers.key, numbers.keypad_length
    for (uid, s), n in changed:
        if n is None:
            events.append(("card.cleared", name_of(uid, ""), s))
            continue
        k = key(n)
        moved = own.get((uid, k)) if own else None
        cards.append((uid, s, n, k, keypad_length(n), moved.origin if moved else origin, at, who))
        events.append(
            (
                action if moved is None else "card.moved",
                name_of(uid, ""),
                f"{s} {mask(n)}{suffix}",
            )
        )
        if moved is None:
            announced.setdefault(s, []).append(uid)
    db.insert_rows(Card, CARD_ROW, cards)
    audit.record_many(actor=actor, events=events, at=at)
    for s, uids in announced.items():
        signals.numbers_issued.send(sender=Change, user_ids=uids, slot=s, notify=notify, at=at)
    _announce_changes(changed, current, origin, at)
    return changed


def _announce_changes(changed, current: Slots, origin: str, at) -> None:
    if signals.numbers_changed.receivers:
        signals.numbers_changed.send(
            sender=Change,
            changes=[(uid, s, n, (uid, s) in current) for (uid, s), n in changed],
            origin=origin,
            at=at,
        )


def _usernames(user_ids: set[int]) -> dict[int, str]:
    out = {}
    for part in db.chunked(list(user_ids), 5000):
        out.update(db.select_in(f"SELECT id, username FROM {USER} WHERE id IN_LIST", part))
    return out
