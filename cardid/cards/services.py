"""Every write to Card/ID numbers: set, clear, generate, PINs, import."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cardid import db
from cardid.audit import services as audit
from cardid.audit.actor import Actor, mask
from cardid.audit.models import AuditEvent
from cardid.cards import generator, numbers, selectors
from cardid.cards.models import CARD_ROW, Card, RetiredNumber
from cardid.cards.policy import PolicyError
from cardid.config import services as config
from cardid.directory.models import User, username_key
from cardid.directory.selectors import get_group, get_user, users_by_names
from cardid.directory.services import decode, sniff_delimiter
from cardid.errors import Conflict, Invalid
from cardid.notifications.models import OutboxMessage

# Users handled per transaction in bulk generation: large enough that per-statement overhead
# vanishes, small enough that a chunk's candidate list fits in one IN (...) and that a
# concurrent writer waits at most a moment for the lock.
CHUNK = 5000
MAX_CHUNK_RETRIES = 10


def _clean(raw: str) -> str:
    try:
        return numbers.clean(raw)
    except numbers.NumberError as e:
        raise Invalid(str(e)) from None


def _slot(raw: str) -> str:
    try:
        return numbers.slot(raw)
    except numbers.NumberError as e:
        raise Invalid(str(e)) from None


# -- one user's numbers ----------------------------------------------------------------------


def set_number(
    *, username: str, number: str, slot: str, actor: Actor, origin: str = Card.Origin.MANUAL
) -> Card:
    """Give the user `number` in `slot`, replacing what was there (which is retired)."""
    user = get_user(username)
    change_numbers(user=user, changes={_slot(slot): number}, actor=actor, origin=origin)
    return Card.objects.get(user=user, slot=_slot(slot))


def clear_number(*, username: str, slot: str, actor: Actor) -> bool:
    """Empty the slot (its number is retired); False when it was empty already."""
    user = get_user(username)
    return bool(change_numbers(user=user, changes={_slot(slot): None}, actor=actor))


@transaction.atomic
def change_numbers(
    *,
    user: User,
    changes: dict[str, str | None],
    actor: Actor,
    origin: str = Card.Origin.MANUAL,
    move_within_user: bool = False,
) -> list[str]:
    """Set or clear (None) one or both slots as one change, checked on its result.

    Moving a number between the user's own slots is not a retirement; a number that leaves
    the user is retired. Returns the slots that changed.
    """
    wanted = {_slot(s): (None if v is None or v == "" else _clean(v)) for s, v in changes.items()}
    # Lock the user's row so two changes to one user's numbers queue up.
    User.objects.select_for_update().filter(pk=user.pk).first()
    current = {c.slot: c for c in Card.objects.filter(user=user)}
    if move_within_user:
        # Setting one slot to the number in the user's other slot moves it there (scripts
        # that swap the two numbers one property at a time rely on this).
        for s, v in list(wanted.items()):
            other = "secondary" if s == "primary" else "primary"
            held = current.get(other)
            if v and other not in wanted and held and held.number_key == numbers.key(v):
                wanted[other] = None
    final = {s: (c.number if c else None) for s, c in ((s, current.get(s)) for s in numbers.SLOTS)}
    final.update(wanted)
    keys = {s: numbers.key(n) for s, n in final.items() if n is not None}
    if len(keys) == 2 and keys["primary"] == keys["secondary"]:
        raise Conflict("the primary and secondary number would be the same; give two numbers")
    changed = [s for s in wanted if (current[s].number if s in current else None) != final[s]]
    if not changed:
        return []
    own = {c.number_key for c in current.values()}
    for s in changed:
        if final[s] is not None and keys[s] not in own:
            if Card.objects.filter(number_key=keys[s]).exists():
                raise Conflict(f"number {final[s]} already belongs to another user")
    now = timezone.now()
    # Clear before set: SQLite checks uniqueness per statement, so a swap must not pass
    # through a state where one number sits in both slots.
    Card.objects.filter(user=user, slot__in=changed).delete()
    kept = set(keys.values())
    retired = [
        RetiredNumber(
            number_hash=numbers.retired_hash(current[s].number_key),
            keypad_length=current[s].keypad_length,
            user=user,
            slot=s,
            retired_at=now,
        )
        for s in changed
        if s in current and current[s].number_key not in kept
    ]
    RetiredNumber.objects.bulk_create(retired)
    events = []
    try:
        with transaction.atomic():
            for s in changed:
                if final[s] is None:
                    events.append(
                        audit.event(
                            actor=actor,
                            action="card.cleared",
                            target=user.username,
                            detail=s,
                            at=now,
                        )
                    )
                    continue
                moved = any(c.number_key == keys[s] for c in current.values())
                Card.objects.create(
                    user=user,
                    slot=s,
                    number=final[s],
                    number_key=keys[s],
                    keypad_length=numbers.keypad_length(final[s]),
                    origin=next(
                        (c.origin for c in current.values() if c.number_key == keys[s]), origin
                    )
                    if moved
                    else origin,
                    issued_at=now,
                    issued_by=actor.name,
                )
                events.append(
                    audit.event(
                        actor=actor,
                        action="card.moved" if moved else "card.set",
                        target=user.username,
                        detail=f"{s} {mask(final[s])}",
                        at=now,
                    )
                )
    except IntegrityError:
        raise Conflict("that number already belongs to another user") from None
    AuditEvent.objects.bulk_create(events)
    return changed


# -- PINs ------------------------------------------------------------------------------------


@transaction.atomic
def set_pin(*, username: str, pin: str | None, actor: Actor) -> None:
    """Store the PIN hashed (None or "" removes it); digits only, length as configured."""
    user = get_user(username)
    if pin:
        lo, hi = config.get_many("cards.pin.min-length", "cards.pin.max-length").values()
        if not (pin.isascii() and pin.isdigit()):
            raise Invalid("a PIN has digits only")
        if not lo <= len(pin) <= hi:
            raise Invalid(f"a PIN has {lo} to {hi} digits, this one has {len(pin)}")
        user.pin_hash = make_password(pin)
    else:
        user.pin_hash = ""
    user.save(update_fields=["pin_hash", "updated_at"])
    audit.record(actor=actor, action="pin.set" if pin else "pin.cleared", target=user.username)


def verify_pin(user: User, pin: str) -> bool:
    """Whether `pin` is the user's PIN (False when the user has none)."""
    if not user.pin_hash:
        # Hash anyway, so that "no PIN" takes as long as "wrong PIN".
        make_password(pin or "")
        return False
    return check_password(pin or "", user.pin_hash)


def lookup(*, number: str, pin: str | None = None) -> User | None:
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


# -- bulk generation -------------------------------------------------------------------------


@dataclass
class Selection:
    """Whose numbers to generate: named users, one group, or everyone."""

    usernames: list[str] = field(default_factory=list)
    group: str | None = None
    all: bool = False
    source: str | None = None  # the enabled users a sync source manages

    def queryset(self) -> QuerySet[User]:
        chosen = sum(
            [bool(self.usernames), self.group is not None, self.all, self.source is not None]
        )
        if chosen != 1:
            raise Invalid("choose the users: a list of users, one group, or all users")
        if self.all:
            return User.objects.all()
        if self.source is not None:
            return User.objects.filter(source=self.source, enabled=True)
        if self.group is not None:
            return User.objects.filter(membership__group=get_group(self.group))
        return User.objects.filter(id__in=[u.id for u in users_by_names(self.usernames)])

    def describe(self) -> str:
        if self.all:
            return "all users"
        if self.group is not None:
            return f"group {self.group}"
        return ", ".join(self.usernames[:5]) + (" …" if len(self.usernames) > 5 else "")


@dataclass
class GenerationResult:
    total: int = 0
    issued: int = 0
    skipped: int = 0
    failed: int = 0
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "issued": self.issued,
            "skipped": self.skipped,
            "failed": self.failed,
            "messages": self.messages,
        }


Progress = Callable[[GenerationResult], None]


def generate(
    *,
    selection: Selection,
    slot: str,
    replace: bool,
    actor: Actor,
    notify: bool | None = None,
    reason: str = OutboxMessage.Reason.ADMIN,
    origin: str = Card.Origin.GENERATED,
    progress: Progress | None = None,
    label: str = "",
) -> GenerationResult:
    """Give every selected user a new random number in `slot` (`notify` None: as the option
    notify.card-admin-generated says).

    Only where blank, or replacing (and retiring) what is there. Refuses before issuing
    anything if the policy cannot hold the numbers to issue. Chunked, one transaction per
    chunk; a concurrent writer's collision redraws the chunk.
    """
    slot = _slot(slot)
    if notify is None:  # the administrator's switch, whichever door asked
        notify = config.get("notify.card-admin-generated")
    policy = selectors.current_policy()
    users = selection.queryset()
    result = GenerationResult(total=users.count())
    blank = users.exclude(cards__slot=slot)
    to_issue = result.total if replace else blank.count()
    try:
        policy.check_room(
            in_use=selectors.in_use_by_length(),
            to_issue=to_issue,
            unavailable=selectors.quarantined_count(policy.length),
        )
    except PolicyError as e:
        raise Invalid(str(e)) from None
    if progress:
        progress(result)
    last_id = 0
    while True:
        # Walk the selection by id; each chunk finds its own users that already have a
        # number (one indexed query), which stays cheap however many cards exist.
        chunk = list(
            users.filter(id__gt=last_id).order_by("id").values_list("id", "username")[:CHUNK]
        )
        if not chunk:
            break
        last_id = chunk[-1][0]
        _generate_chunk(
            chunk,
            slot=slot,
            replace=replace,
            policy=policy,
            actor=actor,
            notify=notify,
            reason=reason,
            origin=origin,
            result=result,
            label=label,
        )
        if progress:
            progress(result)
    if result.skipped:
        result.messages.append(
            f"{result.skipped} user(s) skipped: they already have a {slot} number"
        )
    return result


def _generate_chunk(
    chunk, *, slot, replace, policy, actor, notify, reason, origin, result, label
) -> None:
    for _attempt in range(MAX_CHUNK_RETRIES):
        try:
            with transaction.atomic():
                issued, skipped = _issue_chunk(
                    chunk,
                    slot=slot,
                    replace=replace,
                    policy=policy,
                    actor=actor,
                    notify=notify,
                    reason=reason,
                    origin=origin,
                    label=label,
                )
        except (IntegrityError, OperationalError) as e:
            # Another writer took a drawn number (or filled a blank slot) between our check
            # and our insert, or two writers waited on each other's new keys (a deadlock on
            # PostgreSQL): the chunk rolled back whole; draw again.
            if isinstance(e, OperationalError) and not db.is_transient(e):
                raise
            continue
        result.issued += issued
        result.skipped += skipped
        return
    result.failed += len(chunk)
    result.messages.append(
        f"{len(chunk)} user(s) failed: numbers kept colliding with concurrent writers "
        f"after {MAX_CHUNK_RETRIES} tries; run the same command again"
    )


def _issue_chunk(chunk, *, slot, replace, policy, actor, notify, reason, origin, label):
    ids = [uid for uid, _ in chunk]
    card_table = Card._meta.db_table
    old = dict(
        db.select_in(
            f"SELECT user_id, number_key FROM {card_table} WHERE slot = %s AND user_id IN_LIST",
            ids,
            before=[slot],
        )
    )
    skipped = 0
    if not replace and old:
        # Only where blank: users with a number (also one set meanwhile) are left alone.
        chunk = [(uid, name) for uid, name in chunk if uid not in old]
        ids = [uid for uid, _ in chunk]
        skipped = len(old)
    if not chunk:
        return 0, skipped
    # Sorted, so that concurrent writers insert into the unique index in one order and
    # rarely deadlock; which user gets which random number stays random.
    # Hashing every candidate to check it against retired numbers is skipped when no number
    # of this length is in quarantine (checked inside this chunk's transaction).
    check_retired = selectors.any_quarantined(policy.length)
    drawn = sorted(
        generator.draw_exactly(
            policy, len(chunk), lambda keys: selectors.taken_keys(keys, check_retired)
        )
    )
    now = timezone.now()
    at = db.adapt_datetime(now)
    if replace and old:
        # A number is unique across both slots, so the replaced one is not kept elsewhere.
        db.insert_rows(
            RetiredNumber,
            ("number_hash", "keypad_length", "user", "slot", "retired_at"),
            (
                (numbers.retired_hash(k), numbers.keypad_length(k), uid, slot, at)
                for uid, k in old.items()
            ),
        )
        db.select_in(
            f"DELETE FROM {card_table} WHERE slot = %s AND user_id IN_LIST",
            list(old),
            before=[slot],
            fetch=False,
        )
    length = policy.length
    db.insert_rows(
        Card,
        CARD_ROW,
        (
            (uid, slot, n, n, length, origin, at, actor.name[:200])
            for (uid, _), n in zip(chunk, drawn, strict=True)
        ),
    )
    suffix = f" ({label})" if label else ""
    db.insert_rows(
        AuditEvent,
        ("at", "actor", "door", "action", "target", "detail"),
        (
            (
                at,
                actor.name[:200],
                actor.door,
                "card.generated",
                name[:200],
                f"{slot} {mask(n)}{suffix}",
            )
            for (_, name), n in zip(chunk, drawn, strict=True)
        ),
    )
    if notify:
        queue_notifications(user_ids=ids, slot=slot, reason=reason, at=at)
    return len(chunk), skipped


def queue_notifications(*, user_ids: list[int], slot: str, reason: str, at=None) -> None:
    """Queue one card notification per user, in the caller's transaction."""
    from cardid.notifications import services as notifications

    notifications.queue(user_ids=user_ids, slot=slot, reason=reason, at=at)


# -- import and export -----------------------------------------------------------------------


@dataclass
class ImportResult:
    lines: int = 0
    users: int = 0
    changed: int = 0
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False


HEADER = ["username", "primary", "secondary"]


def import_numbers(*, data: bytes, actor: Actor, dry_run: bool = False) -> ImportResult:
    """Set numbers from `username, primary[, secondary]` lines; all or nothing.

    A blank field leaves that slot as it is. Every problem is reported with its line; if
    there is any, nothing is applied.
    """
    text = decode(data)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise Invalid("the file is empty; each line needs username, primary[, secondary]")
    reader = csv.reader(io.StringIO(text), delimiter=sniff_delimiter(lines[0]))
    result = ImportResult(dry_run=dry_run)
    rows: list[tuple[int, str, dict[str, str]]] = []
    for lineno, raw in enumerate(reader, start=1):
        cells = [c.strip() for c in raw]
        if not any(cells):
            continue
        if lineno == 1 and [c.lower() for c in cells] == HEADER[: len(cells)] and len(cells) > 1:
            continue
        result.lines += 1
        if len(cells) < 2 or len(cells) > 3:
            result.errors.append(
                f"line {lineno}: {len(cells)} column(s); expected username, primary[, secondary]"
            )
            continue
        slots = {}
        for s, value in zip(numbers.SLOTS, cells[1:], strict=False):
            if value:
                try:
                    slots[s] = numbers.clean(value)
                except numbers.NumberError as e:
                    result.errors.append(f"line {lineno}: {s} number: {e}")
        rows.append((lineno, cells[0], slots))
    if not rows and not result.errors:
        raise Invalid("the file has a header but no lines to import")
    _check_import(rows, result)
    if result.errors or dry_run:
        return result
    _apply_import(rows, actor, result)
    return result


def _check_import(rows, result: ImportResult) -> None:
    keys = [username_key(name) for _, name, _ in rows]
    users = {u.username_key: u for u in User.objects.filter(username_key__in=keys)}
    seen_user: dict[str, int] = {}
    seen_number: dict[str, tuple[int, str]] = {}
    for (lineno, name, slots), key in zip(rows, keys, strict=True):
        if key not in users:
            result.errors.append(f"line {lineno}: unknown user {name!r}")
        if key in seen_user:
            result.errors.append(
                f"line {lineno}: user {name!r} already appears on line {seen_user[key]}"
            )
        seen_user[key] = lineno
        for s, n in slots.items():
            nk = numbers.key(n)
            if nk in seen_number:
                result.errors.append(
                    f"line {lineno}: {s} number {n} already appears on line {seen_number[nk][0]}"
                )
            else:
                seen_number[nk] = (lineno, key)
    # The lines of unknown users are reported above; the rest are still checked, so that one
    # reading of the report lists every problem of the file.
    result.users = len(rows)
    # The final state: users in the file take their new numbers, everybody else keeps theirs.
    file_ids = {users[k].id for k in keys if k in users}
    holders: dict[str, tuple[int, str, str]] = {}
    for part in db.chunked(list(seen_number), 5000):
        for uid, s, nk, uname in Card.objects.filter(number_key__in=part).values_list(
            "user_id", "slot", "number_key", "user__username"
        ):
            holders[nk] = (uid, s, uname)
    new_of = {
        (users[k].id, s): numbers.key(n)
        for (_, _, slots), k in zip(rows, keys, strict=True)
        if k in users
        for s, n in slots.items()
    }
    for nk, (lineno, key) in seen_number.items():
        holder = holders.get(nk)
        if holder is None or key not in users:
            continue
        uid, s, uname = holder
        if uid == users[key].id:
            continue
        # The holder keeps it unless the file gives that slot another number.
        if uid in file_ids and (uid, s) in new_of and new_of[(uid, s)] != nk:
            continue
        result.errors.append(
            f"line {lineno}: number already belongs to {uname} ({s}); "
            "free it first or leave it out of the file"
        )
    # One user's own two slots must still differ after the change.
    current = {}
    for uid, s, nk in Card.objects.filter(user_id__in=file_ids).values_list(
        "user_id", "slot", "number_key"
    ):
        current[(uid, s)] = nk
    for (lineno, _name, _slots), k in zip(rows, keys, strict=True):
        if k not in users:
            continue
        uid = users[k].id
        final = {s: new_of.get((uid, s), current.get((uid, s))) for s in numbers.SLOTS}
        if final["primary"] and final["primary"] == final["secondary"]:
            result.errors.append(f"line {lineno}: primary and secondary would be the same number")
    result.changed = sum(1 for key, nk in new_of.items() if current.get(key) != nk)


@transaction.atomic
def _apply_import(rows, actor: Actor, result: ImportResult) -> None:
    keys = [username_key(name) for _, name, _ in rows]
    users = {u.username_key: u for u in User.objects.filter(username_key__in=keys)}
    now = timezone.now()
    current = {
        (c.user_id, c.slot): c
        for c in Card.objects.filter(user_id__in=[u.id for u in users.values()])
    }
    new = {}
    for (_, _, slots), k in zip(rows, keys, strict=True):
        for s, n in slots.items():
            old = current.get((users[k].id, s))
            if old is None or old.number != n:
                new[(users[k], s)] = n
    changed_slots = {(u.id, s) for u, s in new}
    # Numbers that stay in use after the import (moved to another slot or user).
    final_keys = {numbers.key(n) for n in new.values()} | {
        c.number_key for key, c in current.items() if key not in changed_slots
    }
    # Clear every changed slot first, then set: numbers may move between users in one file.
    for part in db.chunked(list(new), 500):
        q = Q(pk__in=[])
        for u, s in part:
            q |= Q(user=u, slot=s)
        Card.objects.filter(q).delete()
    RetiredNumber.objects.bulk_create(
        [
            RetiredNumber(
                number_hash=numbers.retired_hash(c.number_key),
                keypad_length=c.keypad_length,
                user_id=c.user_id,
                slot=c.slot,
                retired_at=now,
            )
            for key, c in current.items()
            if key in changed_slots and c.number_key not in final_keys
        ],
        batch_size=500,
    )
    Card.objects.bulk_create(
        [
            Card(
                user=u,
                slot=s,
                number=n,
                number_key=numbers.key(n),
                keypad_length=numbers.keypad_length(n),
                origin=Card.Origin.IMPORTED,
                issued_at=now,
                issued_by=actor.name,
            )
            for (u, s), n in new.items()
        ],
        batch_size=500,
    )
    AuditEvent.objects.bulk_create(
        [
            audit.event(
                actor=actor,
                action="card.imported",
                target=u.username,
                detail=f"{s} {mask(n)}",
                at=now,
            )
            for (u, s), n in new.items()
        ],
        batch_size=500,
    )
    result.changed = len(new)


def export_rows(*, group: str | None = None):
    """(username, primary, secondary) for every user, ordered by username."""
    users = User.objects.order_by("username_key")
    if group:
        users = users.filter(membership__group=get_group(group))
    return _export_rows(users)


def _export_rows(users):
    last = ""
    while True:
        batch = list(
            users.filter(username_key__gt=last).values_list("id", "username", "username_key")[:5000]
        )
        if not batch:
            return
        cards = {}
        for uid, s, n in Card.objects.filter(user_id__in=[b[0] for b in batch]).values_list(
            "user_id", "slot", "number"
        ):
            cards[(uid, s)] = n
        for uid, name, _ in batch:
            yield name, cards.get((uid, "primary"), ""), cards.get((uid, "secondary"), "")
        last = batch[-1][2]


def print_cards(
    *, selection: Selection, slot: str, paper: str, with_qr: bool, out, progress=None
) -> tuple[int, int]:
    """A PDF of ID cards for the selected users that have a number in `slot`; returns (cards
    drawn, users skipped for having no number). Users are read in chunks; `progress(done,
    total)` is called after each chunk."""
    from cardid.cards import printing

    if paper not in printing.PAPERS:
        raise Invalid(f"unknown paper {paper!r}; use a4 or letter")
    slot = _slot(slot)
    users = selection.queryset()
    total = users.count()
    holders = users.filter(cards__slot=slot)
    if not holders.exists():
        raise Invalid(f"none of the {total} selected user(s) has a {slot} number: nothing to print")

    drawn_so_far = [0]

    def rows():
        last = ""
        while True:
            part = list(
                holders.filter(username_key__gt=last)
                .order_by("username_key")
                .values_list("username_key", "full_name", "username", "cards__number")[:1000]
            )
            if not part:
                return
            for _, full_name, username, number in part:
                yield (full_name or username), number
            last = part[-1][0]
            drawn_so_far[0] += len(part)
            if progress:
                progress(drawn_so_far[0], total)

    drawn = printing.render(rows(), out, paper=paper, with_qr=with_qr)
    return drawn, total - drawn
