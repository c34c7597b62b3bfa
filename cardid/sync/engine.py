"""The sync engine: read the whole source, plan the change against the database in sets —
users, groups, imported numbers, and the numbers auto-generation will issue — guard, then
apply exactly that plan: the directory in one transaction, numbers through the card ledger.
A dry run is the plan without its application, so it says what the real run does."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cardid import db
from cardid.audit import services as audit
from cardid.audit.actor import Actor, mask
from cardid.cards import generation, ledger, numbers, rules, selectors
from cardid.cards.models import Card, NotifyReason
from cardid.config import services as config
from cardid.directory.keys import username_problem
from cardid.directory.models import (
    USER_ROW,
    Group,
    Membership,
    SyncLock,
    SyncRun,
    User,
    group_key,
    username_key,
)
from cardid.directory.signals import announce
from cardid.directory.sync import sources
from cardid.directory.sync.base import SourceUser, check_unique
from cardid.errors import CardidError
from cardid.jobs.models import Job
from cardid.outbound import services as outbound
from cardid.outbound import writeback

log = logging.getLogger(__name__)
DETAIL_FIELDS = ("full_name", "email", "department", "office", "language")
STALE_LOCK = timedelta(hours=6)
SAMPLE = 10  # lines of each kind a dry run shows
# What `cardid sync --format json` prints, dry run or not (SPEC §8).
FIGURES = (
    "added",
    "updated",
    "disabled",
    "deleted",
    "numbers_imported",
    "numbers_generated",
    "notifications",
    "without_email",
    "refused",
)


@dataclass
class Plan:
    kind: str
    create: list[SourceUser] = field(default_factory=list)
    update: list[tuple[int, SourceUser, list[str]]] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)  # (id, username)
    missing_action: str = "keep"
    base: int = 0  # users of this source before the sync
    in_source: int = 0
    groups_create: list[str] = field(default_factory=list)
    groups_delete: list[int] = field(default_factory=list)
    members_add: set[tuple[str, str]] = field(default_factory=set)  # (group key, user key)
    members_remove: set[tuple[int, int]] = field(default_factory=set)  # (group id, user id)
    card_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (ukey, slot, no.)
    # Users the directory itself marks disabled: existing ones are disabled here (id, name);
    # new ones are left out unless sync.import-disabled says otherwise.
    disabled_in_source: list[tuple[int, str]] = field(default_factory=list)
    left_out_disabled: int = 0
    # Auto-generation: the primary numbers the sync will issue once the directory is applied.
    generation: generation.Plan | None = None
    errors: list[str] = field(default_factory=list)
    refused: str | None = None  # the guard's stop

    def counts(self) -> dict:
        """What the run records (SyncRun.counts): the SPEC's figures and the rest."""
        removed = len(self.missing) if self.missing_action != "keep" else 0
        gen = self.generation.figures() if self.generation else {}
        stopped = self.refused is not None
        missing_disabled = removed if self.missing_action == "disable" else 0
        return {
            "in_source": self.in_source,
            "added": len(self.create),
            "updated": len(self.update),
            "disabled": missing_disabled + len(self.disabled_in_source),
            "disabled_in_source": len(self.disabled_in_source),
            "left_out_disabled": self.left_out_disabled,
            "deleted": removed if self.missing_action == "delete" else 0,
            "kept_missing": len(self.missing) if self.missing_action == "keep" else 0,
            "groups_added": len(self.groups_create),
            "groups_removed": len(self.groups_delete),
            "memberships_added": len(self.members_add),
            "memberships_removed": len(self.members_remove),
            "numbers_imported": len(self.card_changes),
            "numbers_generated": 0 if stopped else gen.get("issued", 0),
            "notifications": 0 if stopped else gen.get("notifications", 0),
            "without_email": 0 if stopped else gen.get("without_email", 0),
            "refused": self.refused or gen.get("refused"),
        }


@dataclass
class SyncResult:
    run_id: int
    status: str
    counts: dict
    errors: list[str]
    message: str
    diff: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == SyncRun.Status.SUCCEEDED

    def figures(self) -> dict:
        """The SPEC's figures, the same for a dry run and the real run on the same data."""
        return {k: self.counts.get(k, None if k == "refused" else 0) for k in FIGURES}


def test_connection() -> str:
    """Connect to the configured source and say what was found (no change is made); with
    write-back on, also whether it can write (the account, the attributes)."""
    said = sources.current().test()
    ready = writeback.check()
    return f"{said}; {ready}" if ready else said


def lock_holder() -> str:
    """Who holds the sync lock of the configured source ("" when free or stale)."""
    now = timezone.now()
    row = SyncLock.objects.filter(_held(now), name=config.get("sync.source")).first()
    return row.holder if row else ""


def _held(now) -> Q:
    """A lock held by a live run: taken, not stale, and its job (if any) still leased."""
    live = Job.objects.filter(status=Job.Status.RUNNING, lease_until__gte=now).values("id")
    return (
        ~Q(holder="")
        & Q(taken_at__gte=now - STALE_LOCK)
        & (Q(job_id__isnull=True) | Q(job_id__in=live))
    )


def run(
    *,
    actor: Actor,
    dry_run: bool = False,
    trigger: str = "manual",
    expect: dict | None = None,
    job_id: int | None = None,
) -> SyncResult:
    """One sync of the configured source. Everything is read before anything is written; a
    source that answers badly, or a guard that trips, changes nothing. With `expect` (the
    figures of a dry run someone reviewed), a plan with other figures changes nothing.
    `job_id`: the job it runs in; the sync lock is free again when that job's worker stops,
    and a job taken over runs the sync again from the start."""
    kind = config.get("sync.source")
    source = sources.current()
    opts = config.get_many(
        "sync.missing-users",
        "sync.guard.max-removal-percent",
        "sync.import-card-numbers",
        "sync.import-disabled",
        "sync.auto-generate-primary-when-blank",
        "notify.card-auto-generated",
    )
    sync_run = SyncRun.objects.create(
        source=kind, trigger=trigger, dry_run=dry_run, started_at=timezone.now(), actor=str(actor)
    )
    if not _take_lock(kind, sync_run, job_id):
        return _end(
            sync_run,
            SyncRun.Status.FAILED,
            {},
            [],
            f"another {kind} sync is running; wait for it to finish and try again",
        )
    try:
        # The source (LDAP server, program, file) is read with no database lock held.
        snapshot = source.fetch()
        check_unique(snapshot.users)
        for group, members in sources.additional_groups().items():
            snapshot.groups.setdefault(group, []).extend(members)
        plan = _plan(snapshot, kind, opts)
        errors = [*snapshot.warnings, *plan.errors]
        if plan.refused:
            return _end(
                sync_run,
                SyncRun.Status.GUARD_STOPPED,
                plan.counts(),
                errors,
                plan.refused,
                diff=_diff(plan),
            )
        outdated = _outdated(plan, expect)
        if outdated:
            return _end(sync_run, SyncRun.Status.FAILED, plan.counts(), errors, outdated)
        status, message = _outcome(plan)
        if dry_run:
            return _end(
                sync_run,
                status,
                plan.counts(),
                errors,
                f"dry run, nothing was changed; the sync would end: {message}",
                diff=_diff(plan),
            )
        _apply(plan, actor)
        counts = plan.counts()
        if plan.generation is not None and not plan.generation.refused:
            status, message = _generate(plan, actor, sync_run, counts, errors)
        return _end(sync_run, status, counts, errors, message, diff=_diff(plan))
    except CardidError as e:
        return _end(sync_run, SyncRun.Status.FAILED, {}, [], str(e))
    except Exception as e:
        log.exception("sync %s failed", sync_run.pk)
        _end(sync_run, SyncRun.Status.FAILED, {}, [], f"internal error: {type(e).__name__}")
        raise
    finally:
        SyncLock.objects.filter(name=kind, holder=_holder(sync_run)).update(
            holder="", taken_at=None, job_id=None
        )


def _generate(plan: Plan, actor: Actor, sync_run, counts: dict, errors: list[str]):
    """Auto-generation, as planned, once the directory is applied; updates `counts` and
    `errors` and returns the run's (status, message)."""
    generated = generation.apply(plan.generation, actor=actor, label=f"sync {sync_run.pk}")
    counts.update(
        numbers_generated=generated.issued,
        notifications=generated.notifications,
        without_email=generated.without_email,
        refused=generated.refused,
    )
    errors += generated.messages
    if generated.failed or generated.refused:
        refused = f": {generated.refused}" if generated.refused else ""
        return (
            SyncRun.Status.FAILED,
            f"users synced, but {generated.failed} user(s) got no number{refused}",
        )
    return _outcome(plan)


def _outdated(plan: Plan, expect: dict | None) -> str:
    if not expect:
        return ""
    now = plan.counts()
    moved = [k for k in FIGURES if k != "refused" and k in expect and expect[k] != now[k]]
    if not moved:
        return ""
    was = ", ".join(f"{k.replace('_', ' ')} {expect[k]:,}" for k in moved)
    is_now = ", ".join(f"{now[k]:,}" for k in moved)
    return (
        f"sync stopped: the directory changed since the dry run you reviewed ({was}; now "
        f"{is_now}); run the dry run again (nothing was changed)"
    )


def _outcome(plan: Plan) -> tuple[str, str]:
    """The status and message the run ends with, as the plan foresees them."""
    if plan.generation is not None and plan.generation.refused:
        return (
            SyncRun.Status.FAILED,
            f"users synced, but auto-generation was refused: {plan.generation.refused}",
        )
    return SyncRun.Status.SUCCEEDED, "sync finished"


def _holder(sync_run: SyncRun) -> str:
    return f"run {sync_run.pk} on {socket.gethostname()} pid {os.getpid()}"


def _take_lock(kind: str, sync_run: SyncRun, job_id: int | None) -> bool:
    SyncLock.objects.get_or_create(name=kind)
    now = timezone.now()
    # One conditional UPDATE: of two runs, one takes it. A lock whose job stopped
    # heart-beating (or, without a job, older than STALE_LOCK) is from a run that died; the
    # same job, taken over, takes its own lock again.
    free = ~_held(now) | (Q(job_id=job_id) if job_id is not None else Q(pk__in=[]))
    taken = SyncLock.objects.filter(free, name=kind).update(
        holder=_holder(sync_run), taken_at=now, job_id=job_id
    )
    if taken:
        # Runs of this source still marked running were cut short by their worker's end.
        SyncRun.objects.filter(source=kind, status=SyncRun.Status.RUNNING).exclude(
            pk=sync_run.pk
        ).update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            message=f"interrupted: its worker stopped; run {sync_run.pk} took over",
        )
    return bool(taken)


def _end(
    sync_run: SyncRun,
    status: str,
    counts: dict,
    errors: list[str],
    message: str,
    diff: list[str] | None = None,
) -> SyncResult:
    sync_run.status, sync_run.counts, sync_run.errors = status, counts, errors[:500]
    sync_run.message, sync_run.finished_at = message, timezone.now()
    sync_run.save()
    return SyncResult(sync_run.pk, status, counts, errors, message, diff or [])


def _guard(plan: Plan, found: int, max_percent: int) -> str | None:
    if found == 0:
        return (
            "sync stopped: the source returned no users; check the source and its "
            "filter (nothing was changed)"
        )
    # Users gone from the source (disabled or deleted) and users the directory now marks
    # disabled count alike: a wrong filter or attribute must not switch off a whole school.
    gone = len(plan.missing) if plan.missing_action != "keep" else 0
    removed = gone + len(plan.disabled_in_source)
    if not removed:
        return None
    share = 100 * removed / max(plan.base, 1)
    if share > max_percent:
        verb = "deleted" if plan.missing_action == "delete" and gone else "disabled"
        if plan.missing_action == "delete" and gone and plan.disabled_in_source:
            verb = "disabled or deleted"
        return (
            f"sync stopped: {share:.0f}% of users would be {verb} ({removed} of "
            f"{plan.base}; guard is {max_percent}%); run with --dry-run to see them, or "
            "raise sync.guard.max-removal-percent (nothing was changed)"
        )
    return None


# -- planning ---------------------------------------------------------------------------------


@dataclass
class Existing:
    """A user as the database holds it before the sync."""

    id: int
    username: str
    details: tuple[str, str, str, str, str]
    enabled: bool
    source: str


def _plan(snapshot, kind: str, opts: dict) -> Plan:
    plan = Plan(kind=kind, missing_action=opts["sync.missing-users"])
    plan.in_source = len(snapshot.users)
    existing: dict[str, Existing] = {}
    for uid, key, username, *details, enabled, source in User.objects.values_list(
        "id", "username_key", "username", *DETAIL_FIELDS, "enabled", "source"
    ).iterator(chunk_size=5000):
        existing[key] = Existing(uid, username, tuple(details), enabled, source)
    plan.base = sum(1 for e in existing.values() if e.source == kind and e.enabled)
    incoming = {}
    for u in snapshot.users:
        problem = username_problem(u.username.strip())
        if problem:
            plan.errors.append(f"{problem}; the source's record was left out")
            continue
        key = username_key(u.username)
        if not u.enabled and not opts["sync.import-disabled"] and key not in existing:
            plan.left_out_disabled += 1  # a disabled account cardid never knew: left out
            continue
        incoming[key] = u
    for key, u in incoming.items():
        e = existing.get(key)
        if e is None:
            plan.create.append(u)
            continue
        new = (u.full_name, u.email, u.department, u.office, u.language)
        changed = [
            f for f, old, val in zip(DETAIL_FIELDS, e.details, new, strict=True) if old != val
        ]
        if e.username != u.username:
            changed.append("username")
        if e.enabled != u.enabled:
            changed.append("enabled" if u.enabled else "disabled")
            if not u.enabled:
                plan.disabled_in_source.append((e.id, u.username))
        if e.source != kind:
            changed.append("source")
        if changed:
            plan.update.append((e.id, u, changed))
    for key, e in existing.items():
        if (
            e.source == kind
            and key not in incoming
            and (e.enabled or plan.missing_action == "delete")
        ):
            plan.missing.append((e.id, e.username))
    _plan_groups(plan, snapshot, incoming, existing)
    cards = _cards()
    if opts["sync.import-card-numbers"]:
        _plan_cards(plan, incoming, existing, cards)
    plan.refused = _guard(plan, len(snapshot.users), opts["sync.guard.max-removal-percent"])
    if opts["sync.auto-generate-primary-when-blank"] and not plan.refused:
        plan.generation = _plan_generation(
            plan, incoming, existing, cards, notify=opts["notify.card-auto-generated"]
        )
    return plan


def _plan_groups(plan: Plan, snapshot, incoming, existing: dict[str, Existing]) -> None:
    groups = {g.name_key: g for g in Group.objects.all()}
    wanted = {group_key(name): name.strip() for name in snapshot.groups if name.strip()}
    plan.groups_create = [name for key, name in wanted.items() if key not in groups]
    plan.groups_delete = [
        g.id for key, g in groups.items() if g.source == plan.kind and key not in wanted
    ]
    desired = set()
    unknown = 0
    for name, members in snapshot.groups.items():
        gkey = group_key(name)
        for m in members:
            ukey = username_key(m)
            if ukey in incoming or ukey in existing:
                desired.add((gkey, ukey))
            else:
                unknown += 1
    if unknown:
        plan.errors.append(f"{unknown} group member name(s) are not users; they were ignored")
    managed = {g.id: key for key, g in groups.items() if g.source == plan.kind or key in wanted}
    current = set()
    ids = {e.id: key for key, e in existing.items()}
    for gid, uid in (
        Membership.objects.filter(group_id__in=list(managed))
        .values_list("group_id", "user_id")
        .iterator(chunk_size=5000)
    ):
        current.add((managed[gid], ids[uid]))
    plan.members_add = desired - current
    key_to_gid = {key: g.id for key, g in groups.items()}
    plan.members_remove = {
        (key_to_gid[g], existing[u].id)
        for g, u in current - desired
        if g in wanted or groups[g].source == plan.kind
    }


@dataclass(frozen=True)
class HeldCard:
    key: str
    keypad_length: int | None
    origin: str


def _cards() -> dict[tuple[int, str], HeldCard]:
    """Every card, by (user id, slot)."""
    return {
        (uid, slot): HeldCard(nkey, kl, origin)
        for uid, slot, nkey, kl, origin in Card.objects.values_list(
            "user_id", "slot", "number_key", "keypad_length", "origin"
        ).iterator(chunk_size=5000)
    }


def _plan_cards(plan: Plan, incoming: dict[str, SourceUser], existing, cards) -> None:
    rule = config.get("sync.card-conversion")
    chain = rules.get_rule(rule).chain if rule else ""  # a missing rule stops the sync
    id_to_key = {e.id: k for k, e in existing.items()}
    current = {(id_to_key[uid], s): c for (uid, s), c in cards.items()}
    holders = {c.key: k for k, c in current.items()}  # number key -> (ukey, slot)
    wanted: dict[str, tuple[str, str, str]] = {}  # number key -> (ukey, slot, number)
    # Numbers changed here and not yet written back: the directory still holds the old ones.
    written = writeback.slots()
    awaiting = outbound.awaiting_write_back() if written else set()
    for ukey, u in incoming.items():
        for slot, raw in (("primary", u.primary), ("secondary", u.secondary)):
            if not raw:
                continue  # a blank source value never clears a number
            if slot in written and ukey in existing and existing[ukey].id in awaiting:
                continue
            try:
                number = numbers.clean(rules.convert(raw, chain=chain or None))
            except (numbers.NumberError, CardidError) as e:
                plan.errors.append(f"{u.username}: {slot} card number from the source: {e}")
                continue
            nkey = numbers.key(number)
            have = current.get((ukey, slot))
            if have and have.origin == Card.Origin.SELF_REGISTERED:
                continue  # registered at a terminal by the user: the source never overrides
            if nkey in wanted:
                other = wanted[nkey]
                plan.errors.append(
                    f"{u.username}: {slot} card number {mask(number)} is also "
                    f"given to {incoming[other[0]].username} in the source; "
                    "neither was applied"
                )
                wanted[nkey] = ("", "", "")
                continue
            wanted[nkey] = (ukey, slot, number)
    changes = {
        (uk, s): (nk, n)
        for nk, (uk, s, n) in wanted.items()
        if uk and (current[(uk, s)].key if (uk, s) in current else "") != nk
    }
    for (ukey, slot), (nkey, number) in changes.items():
        holder = holders.get(nkey)
        if holder and holder != (ukey, slot):
            # Held elsewhere: fine only if the holder's slot gets another number in this sync.
            moving = holder in changes and changes[holder][0] != nkey
            if holder[0] != ukey and not moving:
                plan.errors.append(
                    f"{incoming[ukey].username}: {slot} card number "
                    f"{mask(number)} from the source already belongs to "
                    "another user; not applied"
                )
                continue
            if holder[0] == ukey and not moving:
                plan.errors.append(
                    f"{incoming[ukey].username}: the source gives the same "
                    f"number for both slots; {slot} not applied"
                )
                continue
        plan.card_changes.append((ukey, slot, number))


def _plan_generation(
    plan: Plan, incoming: dict[str, SourceUser], existing, cards, *, notify: bool
) -> generation.Plan:
    """The primary numbers auto-generation will issue after this sync: every enabled user
    of the source whose primary slot is still blank once the imported numbers are in,
    judged against the guess bound as the numbers in use will stand then."""
    gone = {uid for uid, _ in plan.missing} if plan.missing_action != "keep" else set()
    emails = {key: u.email for key, u in incoming.items() if u.enabled}
    for key, e in existing.items():
        if key not in incoming and e.source == plan.kind and e.enabled and e.id not in gone:
            emails[key] = e.details[1]  # kept although gone from the source
    key_to_id = {key: e.id for key, e in existing.items()}
    imported = {(uk, s): n for uk, s, n in plan.card_changes}
    targets = sorted(
        key
        for key in emails
        if (key, "primary") not in imported
        and (key not in key_to_id or (key_to_id[key], "primary") not in cards)
    )
    p = generation.Plan(
        selection=generation.Selection(user_keys=tuple(targets)),
        slot="primary",
        replace=False,
        notify=notify,
        reason=NotifyReason.AUTO,
        users=len(targets),
        to_issue=len(targets),
        without_email=sum(1 for k in targets if not emails[k]) if notify else 0,
    )
    if not targets:
        return p
    try:
        policy = selectors.current_policy()
        p.refused = _room_after(plan, policy, cards, key_to_id, gone, len(targets))
    except CardidError as e:
        p.refused = str(e)
    return p


def _room_after(plan: Plan, policy, cards, key_to_id, gone: set[int], to_issue: int):
    """The guess-bound check for `to_issue` numbers once the sync's own changes are in:
    imported numbers replace what their slots held, deleted users' numbers are retired."""
    length = policy.length
    quarantine = selectors.quarantine_days() != 0
    in_use, retired = 0, 0
    for uk, s, n in plan.card_changes:
        in_use += numbers.keypad_length(n) == length
        old = cards.get((key_to_id.get(uk), s))
        if old is not None and old.keypad_length == length:
            in_use -= 1
            retired += 1
    if plan.missing_action == "delete":
        for (uid, _), c in cards.items():
            if uid in gone and c.keypad_length == length:
                in_use -= 1
                retired += 1
    try:
        ledger.check_room(
            policy,
            to_issue,
            in_use_delta=in_use,
            unavailable_delta=retired if quarantine else 0,
        )
    except CardidError as e:
        return str(e)
    return None


# -- applying ---------------------------------------------------------------------------------


@transaction.atomic
def _apply(plan: Plan, actor: Actor) -> None:
    """The directory part of the plan, in one transaction: users, leavers, groups, then the
    imported numbers through the card ledger (which judges them once more)."""
    now = timezone.now()
    at = db.adapt_datetime(now)
    events = _apply_users(plan, now, at)
    events += _apply_missing(plan, actor, now)
    _apply_groups(plan)
    audit.record_many(actor=actor, events=events, at=at)
    if plan.card_changes:
        uids = _ids({uk for uk, _, _ in plan.card_changes})
        ledger.commit(
            [ledger.Change(uids[uk], s, n) for uk, s, n in plan.card_changes],
            actor=actor,
            origin=Card.Origin.SYNCED,
            action="card.synced",
        )


def _apply_users(plan: Plan, now, at) -> list[tuple[str, str, str]]:
    db.insert_rows(
        User,
        USER_ROW,
        [
            (
                u.username,
                username_key(u.username),
                u.full_name,
                u.email,
                u.department,
                u.office,
                u.enabled,
                plan.kind,
                "",
                "",
                at,
                at,
            )
            for u in plan.create
        ],
    )
    events = [
        ("user.added", u.username, "" if u.enabled else "disabled in the directory")
        for u in plan.create
    ]
    if plan.create:
        created = _ids({username_key(u.username) for u in plan.create})
        # The bulk insert leaves the language to the column's default (""): set where given.
        by_language: dict[str, list[int]] = {}
        for u in plan.create:
            if u.language:
                by_language.setdefault(u.language, []).append(created[username_key(u.username)])
        for language, ids in by_language.items():
            for part in db.chunked(ids, 5000):
                User.objects.filter(id__in=part).update(language=language)
        announce(
            "user.created",
            [(created[username_key(u.username)], u.username) for u in plan.create],
            at,
        )
    objs, disabled = [], []
    for uid, u, changed in plan.update:
        objs.append(
            User(
                id=uid,
                username=u.username,
                username_key=username_key(u.username),
                full_name=u.full_name,
                email=u.email,
                department=u.department,
                office=u.office,
                language=u.language,
                enabled=u.enabled,
                source=plan.kind,
                updated_at=now,
            )
        )
        if "disabled" in changed:
            events.append(("user.disabled", u.username, "disabled in the directory"))
            disabled.append((uid, u.username))
        events.append(("user.updated", u.username, ", ".join(changed)))
    User.objects.bulk_update(
        objs, ["username", *DETAIL_FIELDS, "enabled", "source", "updated_at"], batch_size=500
    )
    announce("user.disabled", disabled, at)
    return events


def _apply_missing(plan: Plan, actor: Actor, now) -> list[tuple[str, str, str]]:
    """Users gone from the source: disabled, or deleted with their numbers retired first
    (a lost card must not open another account)."""
    ids = [uid for uid, _ in plan.missing]
    if plan.missing_action == "keep" or not ids:
        return []
    if plan.missing_action == "disable":
        for part in db.chunked(ids, 5000):
            User.objects.filter(id__in=part).update(enabled=False, updated_at=now)
        announce("user.disabled", list(plan.missing), db.adapt_datetime(now))
        return [("user.disabled", name, "gone from the source") for _, name in plan.missing]
    ledger.commit(
        [ledger.Change(uid, s, None) for uid, s in ledger.held(ids)],
        actor=actor,
        origin=Card.Origin.SYNCED,
        action="card.synced",
    )
    announce("user.deleted", list(plan.missing), db.adapt_datetime(now))
    for part in db.chunked(ids, 5000):
        User.objects.filter(id__in=part).delete()
    return [("user.deleted", name, "gone from the source") for _, name in plan.missing]


def _apply_groups(plan: Plan) -> None:
    Group.objects.bulk_create(
        [Group(name=n, name_key=group_key(n), source=plan.kind) for n in plan.groups_create],
        batch_size=500,
    )
    if plan.groups_delete:
        Group.objects.filter(id__in=plan.groups_delete).delete()
    for gid, uid in plan.members_remove:
        Membership.objects.filter(group_id=gid, user_id=uid).delete()
    if plan.members_add:
        gids = dict(Group.objects.values_list("name_key", "id"))
        uids = _ids({u for _, u in plan.members_add})
        db.insert_rows(
            Membership, ("user", "group"), [(uids[u], gids[g]) for g, u in plan.members_add]
        )


def _ids(user_keys: set[str]) -> dict[str, int]:
    out = {}
    for part in db.chunked(list(user_keys), 5000):
        out.update(User.objects.filter(username_key__in=part).values_list("username_key", "id"))
    return out


def _diff(plan: Plan) -> list[str]:
    lines = []

    def some(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"{title}: {len(items)}")
            lines.extend(f"  {i}" for i in items[:SAMPLE])
            if len(items) > SAMPLE:
                lines.append(f"  … and {len(items) - SAMPLE} more")

    some("to add", [u.username for u in plan.create])
    some("to update", [f"{u.username} ({', '.join(c)})" for _, u, c in plan.update])
    verb = {"keep": "gone from the source, kept", "disable": "to disable", "delete": "to delete"}[
        plan.missing_action
    ]
    some(verb, [name for _, name in plan.missing])
    some("groups to add", plan.groups_create)
    some("card numbers to import", [f"{uk} {s} {mask(n)}" for uk, s, n in plan.card_changes])
    if plan.generation is not None:
        some("primary numbers to generate", list(plan.generation.selection.user_keys))
    some("problems", plan.errors)
    return lines
