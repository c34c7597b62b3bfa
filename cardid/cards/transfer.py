"""Numbers files: an import as a plan (every problem with its line) and its application
through the card ledger, all or nothing; the export, audited whichever door asks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction

from cardid import spreadsheet
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import ledger, numbers
from cardid.cards.errors import NumberTaken, PlanOutdated, SameNumberTwice
from cardid.cards.models import Card
from cardid.directory.models import User, username_key
from cardid.directory.selectors import get_group
from cardid.directory.services import decode
from cardid.errors import Invalid

HEADER = ["username", "primary", "secondary"]
FIGURES = ("users", "changed", "unchanged", "errors", "refused")


@dataclass
class Plan:
    """What an import would do: the users of the file, the changes, every problem."""

    lines: int = 0
    users: int = 0
    changed: int = 0  # users whose numbers change
    unchanged: int = 0  # users whose numbers are already as the file says
    errors: list[str] = field(default_factory=list)
    changes: list[ledger.Change] = field(default_factory=list)

    @property
    def refused(self) -> str | None:
        if not self.errors:
            return None
        return f"{len(self.errors)} problem(s) in the file; nothing was imported"

    def figures(self) -> dict:
        return {
            "users": self.users,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "errors": list(self.errors),
            "refused": self.refused,
        }


def plan_import(data: bytes) -> Plan:
    """Read `username, primary[, secondary]` lines (a header optional, comma or tab, a blank
    field leaves that slot as it is) and judge every line against the database."""
    text = decode(data)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise Invalid("the file is empty; each line needs username, primary[, secondary]")
    reader = csv.reader(io.StringIO(text), delimiter=spreadsheet.delimiter(lines[0]))
    p = Plan()
    rows: list[tuple[int, str, dict[str, str]]] = []
    for lineno, raw in enumerate(reader, start=1):
        cells = [spreadsheet.unescape(c.strip()) for c in raw]
        if not any(cells):
            continue
        if lineno == 1 and [c.lower() for c in cells] == HEADER[: len(cells)] and len(cells) > 1:
            continue
        p.lines += 1
        if len(cells) < 2 or len(cells) > 3:
            p.errors.append(
                f"line {lineno}: {len(cells)} column(s); expected username, primary[, secondary]"
            )
            continue
        slots = {}
        for s, value in zip(numbers.SLOTS, cells[1:], strict=False):
            if value:
                try:
                    slots[s] = numbers.clean(value)
                except numbers.NumberError as e:
                    p.errors.append(f"line {lineno}: {s} number: {e}")
        rows.append((lineno, cells[0], slots))
    if not rows and not p.errors:
        raise Invalid("the file has a header but no lines to import")
    _judge(rows, p)
    return p


def _judge(rows, p: Plan) -> None:
    keys = [username_key(name) for _, name, _ in rows]
    users = dict(User.objects.filter(username_key__in=keys).values_list("username_key", "id"))
    p.users = len(rows)
    seen_user: dict[str, int] = {}
    seen_number: dict[str, int] = {}
    line_of: dict[tuple[int, str], int] = {}
    for (lineno, name, slots), key in zip(rows, keys, strict=True):
        if key not in users:
            p.errors.append(f"line {lineno}: unknown user {name!r}")
        if key in seen_user:
            p.errors.append(
                f"line {lineno}: user {name!r} already appears on line {seen_user[key]}"
            )
        seen_user[key] = lineno
        for s, n in slots.items():
            nk = numbers.key(n)
            if nk in seen_number:
                p.errors.append(
                    f"line {lineno}: {s} number {n} already appears on line {seen_number[nk]}"
                )
                continue
            seen_number[nk] = lineno
            # The lines of unknown users are reported above; the rest are still judged, so
            # that one reading of the report lists every problem of the file.
            if key in users and (users[key], s) not in line_of:
                line_of[(users[key], s)] = lineno
                p.changes.append(ledger.Change(users[key], s, n))
    current = ledger.held(uid for uid, _ in line_of)
    for change, problem in ledger.problems(p.changes, current=current):
        lineno = line_of[(change.user_id, change.slot)]
        if isinstance(problem, NumberTaken) and problem.holder:
            p.errors.append(
                f"line {lineno}: number already belongs to {problem.holder} "
                f"({problem.holder_slot}); free it first or leave it out of the file"
            )
        elif isinstance(problem, SameNumberTwice):
            p.errors.append(f"line {lineno}: primary and secondary would be the same number")
        elif not isinstance(problem, NumberTaken):  # "given twice" is reported above
            p.errors.append(f"line {lineno}: {problem}")
    moving = {
        c.user_id
        for c in p.changes
        if (current[(c.user_id, c.slot)].number if (c.user_id, c.slot) in current else None)
        != c.number
    }
    p.changed = len(moving)
    p.unchanged = len({users[k] for k in keys if k in users} - moving)


def apply_import(p: Plan, *, actor: Actor) -> Plan:
    """Apply a plan without problems, all or nothing (the ledger judges it again, so a
    number taken meanwhile refuses the whole import)."""
    if p.refused:
        raise Invalid(p.refused)
    with transaction.atomic():
        ledger.commit(p.changes, actor=actor, origin=Card.Origin.IMPORTED, action="card.imported")
    return p


def import_reviewed(*, data: bytes, expect: dict, actor: Actor) -> Plan:
    """Apply the import a person reviewed: refused (PlanOutdated) if the same file would
    now do something else than the figures they saw."""
    p = plan_import(data)
    now = p.figures()
    if p.refused or any(now[k] != expect.get(k) for k in ("users", "changed", "unchanged")):
        why = p.refused or f"{now['changed']:,} user(s) would change now"
        raise PlanOutdated(f"the numbers changed since the review ({why}); check the file again")
    return apply_import(p, actor=actor)


def import_numbers(*, data: bytes, actor: Actor, dry_run: bool = False) -> Plan:
    """Plan the import, and apply it unless it is a dry run or has problems."""
    p = plan_import(data)
    if not dry_run and not p.refused:
        apply_import(p, actor=actor)
    return p


def export_numbers(*, actor: Actor, group: str | None = None) -> Iterator[tuple[str, str, str]]:
    """(username, primary, secondary) for every user (of `group`), ordered by username; the
    export is audited, whichever door asked for it."""
    users = User.objects.order_by("username_key")
    if group:
        users = users.filter(membership__group=get_group(group))
    audit.record(
        actor=actor, action="numbers.exported", detail=f"group {group}" if group else "all users"
    )
    return _rows(users)


def _rows(users) -> Iterator[tuple[str, str, str]]:
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
