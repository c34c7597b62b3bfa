"""Bulk generation, as a plan and its application: who is selected, who would get a number,
who would be told, and whether the policy allows it — then exactly that, in chunks through
the card ledger. A dry run, the console's review and the real run share the plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import QuerySet

from cardid import db
from cardid.audit.actor import Actor
from cardid.cards import ledger, selectors
from cardid.cards.errors import GenerationRefused, PlanOutdated
from cardid.cards.models import Card, NotifyReason
from cardid.cards.services import slot_of
from cardid.config import services as config
from cardid.directory.models import User
from cardid.directory.selectors import get_group, users_by_names
from cardid.errors import CardidError, Invalid

# Users handled per transaction: large enough that per-statement overhead vanishes, small
# enough that a chunk's candidate list fits in one IN (...) and that a concurrent writer
# waits at most a moment for the lock.
CHUNK = 5000
MAX_CHUNK_RETRIES = 10
FIGURES = ("users", "issued", "skipped", "failed", "notifications", "without_email", "refused")


@dataclass(frozen=True)
class Selection:
    """Whose numbers to generate: named users, one group, everyone, the enabled users a
    sync source manages, or the users a sync planned numbers for (`user_keys`, usernames
    folded; read in chunks, never as one query)."""

    usernames: tuple[str, ...] = ()
    group: str | None = None
    all: bool = False
    source: str | None = None
    user_keys: tuple[str, ...] | None = None

    def queryset(self) -> QuerySet[User]:
        chosen = sum(
            [
                bool(self.usernames),
                self.group is not None,
                self.all,
                self.source is not None,
                self.user_keys is not None,
            ]
        )
        if chosen != 1:
            raise Invalid("choose the users: a list of users, one group, or all users")
        if self.all:
            return User.objects.all()
        if self.source is not None:
            return User.objects.filter(source=self.source, enabled=True)
        if self.group is not None:
            return User.objects.filter(membership__group=get_group(self.group))
        if self.user_keys is not None:
            raise Invalid("users planned by a sync are read in chunks, not as one query")
        return User.objects.filter(id__in=[u.id for u in users_by_names(list(self.usernames))])

    def params(self) -> dict:
        """The selection as a job's parameters (and back with `from_params`)."""
        return {
            "usernames": list(self.usernames),
            "group": self.group,
            "all": self.all,
            "source": self.source,
            "user_keys": None if self.user_keys is None else list(self.user_keys),
        }

    @classmethod
    def from_params(cls, p: dict) -> Selection:
        return cls(
            usernames=tuple(p.get("usernames") or ()),
            group=p.get("group"),
            all=bool(p.get("all")),
            source=p.get("source"),
            user_keys=None if p.get("user_keys") is None else tuple(p["user_keys"]),
        )


@dataclass
class Plan:
    """What a generation would do on the data as it is now."""

    selection: Selection
    slot: str
    replace: bool
    notify: bool
    reason: str
    users: int = 0
    to_issue: int = 0
    without_email: int = 0
    refused: str | None = None

    def figures(self) -> dict:
        """What the run would report (SPEC §8 `--format json`)."""
        return {
            "users": self.users,
            "issued": 0 if self.refused else self.to_issue,
            "skipped": self.users - self.to_issue if not self.refused else 0,
            "failed": 0,
            "notifications": self.to_issue if self.notify and not self.refused else 0,
            "without_email": self.without_email if not self.refused else 0,
            "refused": self.refused,
        }


@dataclass
class Result:
    users: int = 0
    issued: int = 0
    skipped: int = 0
    failed: int = 0
    notifications: int = 0
    without_email: int = 0
    refused: str | None = None
    messages: list[str] = field(default_factory=list)

    def figures(self) -> dict:
        return {k: getattr(self, k) for k in FIGURES}


Progress = Callable[[Result], None]
Checkpoint = Callable[[Result, dict], None]


def plan(
    *,
    selection: Selection,
    slot: str,
    replace: bool,
    notify: bool | None = None,
    reason: str = NotifyReason.ADMIN,
) -> Plan:
    """The plan of a generation (`notify` None: as notify.card-admin-generated says)."""
    slot = slot_of(slot)
    if notify is None:  # the administrator's switch, whichever door asked
        notify = config.get("notify.card-admin-generated")
    users = selection.queryset()
    p = Plan(selection=selection, slot=slot, replace=replace, notify=notify, reason=reason)
    p.users = users.count()
    targets = users if replace else users.exclude(cards__slot=slot)
    p.to_issue = p.users if replace else targets.count()
    if notify:
        p.without_email = targets.filter(email="").count()
    try:
        policy = selectors.current_policy()
        leaving = (
            Card.objects.filter(user__in=users, slot=slot, keypad_length=policy.length).count()
            if replace
            else 0
        )
        ledger.check_room(policy, p.to_issue, **ledger.replaced(policy, leaving))
    except CardidError as e:
        p.refused = str(e)
    return p


def apply(
    p: Plan,
    *,
    actor: Actor,
    origin: str = Card.Origin.GENERATED,
    action: str = "card.generated",
    progress: Progress | None = None,
    label: str = "",
    expect: dict | None = None,
    resume: tuple[dict, Result] | None = None,
    checkpoint: Checkpoint | None = None,
) -> Result:
    """Carry out the plan: every selected user in chunks of CHUNK, one transaction each.
    A refused plan issues nothing. With `expect` (the figures a person reviewed), a plan that
    no longer has those figures is refused: PlanOutdated.

    `checkpoint(result, cursor)` is called in each chunk's transaction, so that where the
    run stands commits with the chunk; `resume` (that cursor and result) continues a run
    whose worker stopped after the last committed chunk: no user is numbered twice, none
    is skipped."""
    if expect is not None and resume is None:
        _check_expected(p, expect)
    cursor, result = resume if resume else ({}, Result(users=p.users))
    if p.refused:
        result.refused = p.refused
        return result
    policy = selectors.current_policy()
    tally = ledger.Tally(policy)  # the numbers in use, counted once and then kept up
    if progress:
        progress(result)
    for chunk, after in _chunks(p.selection, cursor):
        # Each chunk finds its own users that already have a number, so a user given one
        # meanwhile is skipped, never numbered twice.
        try:
            _chunk(chunk, after, p, policy, tally, actor, origin, action, label, result, checkpoint)
        except GenerationRefused as e:
            # Another generation took the room meanwhile: what is issued stays, the rest
            # is refused with the bound's words.
            result.refused = str(e)
            result.failed = result.users - result.issued - result.skipped
            break
        if progress:
            progress(result)
    if progress:
        progress(result)
    return result


def generate(*, selection: Selection, slot: str, replace: bool, actor: Actor, **kw) -> Result:
    """Plan and apply at once (a single user's number, a door that shows no review)."""
    p = plan(
        selection=selection,
        slot=slot,
        replace=replace,
        notify=kw.pop("notify", None),
        reason=kw.pop("reason", NotifyReason.ADMIN),
    )
    return apply(p, actor=actor, **kw)


def _chunks(selection: Selection, cursor: dict):
    """The selected users as lists of (id, username, e-mail), CHUNK at a time, each with
    the cursor that says it is done; from `cursor` on (a resumed run)."""
    if selection.user_keys is not None:
        keys = sorted(k for k in selection.user_keys if k > cursor.get("after_key", ""))
        for part in db.chunked(keys, CHUNK):
            chunk = list(
                User.objects.filter(username_key__in=part)
                .order_by("id")
                .values_list("id", "username", "email")
            )
            yield chunk, {"after_key": part[-1]}
        return
    users = selection.queryset()
    last_id = cursor.get("after_id", 0)
    while True:
        chunk = list(
            users.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "username", "email")[:CHUNK]
        )
        if not chunk:
            return
        last_id = chunk[-1][0]
        yield chunk, {"after_id": last_id}


def _check_expected(p: Plan, expect: dict) -> None:
    now = p.figures()
    moved = [k for k in ("users", "issued") if k in expect and expect[k] != now[k]]
    if moved:
        was = ", ".join(f"{k} {expect[k]:,}" for k in moved)
        is_now = ", ".join(f"{k} {now[k]:,}" for k in moved)
        raise PlanOutdated(
            f"the users changed since the review ({was}; now {is_now}); "
            "review the action again before running it"
        )


def _chunk(chunk, after, p, policy, tally, actor, origin, action, label, result, checkpoint):
    users = [(uid, name) for uid, name, _ in chunk]
    for _attempt in range(MAX_CHUNK_RETRIES):
        try:
            with transaction.atomic():
                issued, skipped = ledger.issue(
                    users,
                    slot=p.slot,
                    replace=p.replace,
                    policy=policy,
                    actor=actor,
                    origin=origin,
                    action=action,
                    notify=p.reason if p.notify else None,
                    label=label,
                    tally=tally,
                )
                done = replace(result, messages=list(result.messages))
                done.issued += len(issued)
                done.skipped += skipped
                if p.notify:
                    done.notifications += len(issued)
                    got = set(issued)
                    done.without_email += sum(
                        1 for uid, _, email in chunk if uid in got and not email
                    )
                if checkpoint:
                    checkpoint(done, after)  # commits with the chunk
        except (IntegrityError, OperationalError) as e:
            # Another writer took a drawn number (or filled a blank slot) between our check
            # and our insert, or two writers waited on each other's new keys (a deadlock on
            # PostgreSQL): the chunk rolled back whole; draw again.
            if isinstance(e, OperationalError) and not db.is_transient(e):
                raise
            continue
        result.__dict__.update(done.__dict__)
        return
    result.failed += len(chunk)
    result.messages.append(
        f"{len(chunk)} user(s) failed: numbers kept colliding with concurrent writers "
        f"after {MAX_CHUNK_RETRIES} tries; run the same command again"
    )
    if checkpoint:
        checkpoint(result, after)
