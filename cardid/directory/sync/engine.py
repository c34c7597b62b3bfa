"""The sync engine: read the whole source, diff it against the database in sets, guard, then
apply in one transaction and auto-generate blank primary numbers."""

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
from cardid.audit.actor import Actor, mask
from cardid.audit.models import AuditEvent
from cardid.cards import numbers
from cardid.cards import services as cards
from cardid.cards.models import CARD_ROW, Card, RetiredNumber
from cardid.config import services as config
from cardid.directory.models import USER_ROW, Group, Membership, SyncLock, SyncRun, User
from cardid.directory.sync import sources
from cardid.directory.sync.base import SourceUser, check_unique
from cardid.errors import CardidError
from cardid.notifications.models import OutboxMessage

log = logging.getLogger(__name__)
DETAIL_FIELDS = ("full_name", "email", "department", "office")
STALE_LOCK = timedelta(hours=6)
SAMPLE = 10  # lines of each kind a dry run shows


@dataclass
class Plan:
    kind: str
    create: list[SourceUser] = field(default_factory=list)
    update: list[tuple[int, SourceUser, list[str]]] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)  # (id, username)
    missing_action: str = "keep"
    base: int = 0  # users of this source before the sync
    groups_create: list[str] = field(default_factory=list)
    groups_delete: list[int] = field(default_factory=list)
    members_add: set[tuple[str, str]] = field(default_factory=set)  # (group key, user key)
    members_remove: set[tuple[int, int]] = field(default_factory=set)  # (group id, user id)
    card_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (ukey, slot, no.)
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        removed = len(self.missing) if self.missing_action != "keep" else 0
        return {
            "in_source": 0,
            "added": len(self.create),
            "updated": len(self.update),
            "disabled": removed if self.missing_action == "disable" else 0,
            "deleted": removed if self.missing_action == "delete" else 0,
            "kept_missing": len(self.missing) if self.missing_action == "keep" else 0,
            "groups_added": len(self.groups_create),
            "groups_removed": len(self.groups_delete),
            "memberships_added": len(self.members_add),
            "memberships_removed": len(self.members_remove),
            "numbers_imported": len(self.card_changes),
            "numbers_generated": 0,
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


def test_connection() -> str:
    """Connect to the configured source and say what was found (no change is made)."""
    return sources.current().test()


def run(*, actor: Actor, dry_run: bool = False, trigger: str = "manual") -> SyncResult:
    """One sync of the configured source. Everything is read before anything is written; a
    source that answers badly, or a guard that trips, changes nothing."""
    kind = config.get("sync.source")
    source = sources.current()
    opts = config.get_many(
        "sync.missing-users",
        "sync.guard.max-removal-percent",
        "sync.import-card-numbers",
        "sync.auto-generate-primary-when-blank",
        "notify.card-auto-generated",
    )
    sync_run = SyncRun.objects.create(
        source=kind, trigger=trigger, dry_run=dry_run, started_at=timezone.now(), actor=str(actor)
    )
    if not _take_lock(kind, sync_run):
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
        counts = plan.counts()
        counts["in_source"] = len(snapshot.users)
        errors = [*snapshot.warnings, *plan.errors]
        stop = _guard(plan, len(snapshot.users), opts["sync.guard.max-removal-percent"])
        if stop:
            return _end(
                sync_run, SyncRun.Status.GUARD_STOPPED, counts, errors, stop, diff=_diff(plan)
            )
        if dry_run:
            return _end(
                sync_run,
                SyncRun.Status.SUCCEEDED,
                counts,
                errors,
                "dry run: nothing was changed",
                diff=_diff(plan),
            )
        _apply(plan, actor)
        message = "sync finished"
        status = SyncRun.Status.SUCCEEDED
        if opts["sync.auto-generate-primary-when-blank"]:
            try:
                generated = cards.generate(
                    selection=cards.Selection(source=kind),
                    slot="primary",
                    replace=False,
                    actor=actor,
                    notify=opts["notify.card-auto-generated"],
                    reason=OutboxMessage.Reason.AUTO,
                    label=f"sync {sync_run.pk}",
                )
                counts["numbers_generated"] = generated.issued
                errors += [m for m in generated.messages if "skipped" not in m]
                if generated.failed:
                    status = SyncRun.Status.FAILED
                    message = f"{generated.failed} user(s) got no number"
            except CardidError as e:
                status = SyncRun.Status.FAILED
                message = f"users synced, but auto-generation was refused: {e}"
        return _end(sync_run, status, counts, errors, message)
    except CardidError as e:
        return _end(sync_run, SyncRun.Status.FAILED, {}, [], str(e))
    except Exception as e:
        log.exception("sync %s failed", sync_run.pk)
        _end(sync_run, SyncRun.Status.FAILED, {}, [], f"internal error: {type(e).__name__}")
        raise
    finally:
        SyncLock.objects.filter(name=kind, holder=_holder(sync_run)).update(
            holder="", taken_at=None
        )


def _holder(sync_run: SyncRun) -> str:
    return f"run {sync_run.pk} on {socket.gethostname()} pid {os.getpid()}"


def _take_lock(kind: str, sync_run: SyncRun) -> bool:
    SyncLock.objects.get_or_create(name=kind)
    now = timezone.now()
    # One conditional UPDATE: of two runs, one takes it. A lock older than STALE_LOCK is
    # from a run that died.
    return bool(
        SyncLock.objects.filter(Q(holder="") | Q(taken_at__lt=now - STALE_LOCK), name=kind).update(
            holder=_holder(sync_run), taken_at=now
        )
    )


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


def _guard(plan: Plan, found: int, max_percent: int) -> str:
    if found == 0:
        return (
            "sync stopped: the source returned no users; check the source and its "
            "filter (nothing was changed)"
        )
    if plan.missing_action == "keep" or not plan.missing:
        return ""
    share = 100 * len(plan.missing) / max(plan.base, 1)
    if share > max_percent:
        verb = "disabled" if plan.missing_action == "disable" else "deleted"
        return (
            f"sync stopped: {share:.0f}% of users would be {verb} ({len(plan.missing)} of "
            f"{plan.base}; guard is {max_percent}%); run with --dry-run to see them, or "
            "raise sync.guard.max-removal-percent (nothing was changed)"
        )
    return ""


# -- planning ---------------------------------------------------------------------------------


def _plan(snapshot, kind: str, opts: dict) -> Plan:
    plan = Plan(kind=kind, missing_action=opts["sync.missing-users"])
    incoming = {u.username.strip().lower(): u for u in snapshot.users}
    existing = {}
    for row in User.objects.values_list(
        "id", "username_key", "username", *DETAIL_FIELDS, "enabled", "source"
    ).iterator(chunk_size=5000):
        existing[row[1]] = row
    plan.base = sum(1 for r in existing.values() if r[-1] == kind and r[-2])
    for key, u in incoming.items():
        row = existing.get(key)
        if row is None:
            plan.create.append(u)
            continue
        uid, _, username, *details, enabled, source = row
        new = [u.full_name, u.email, u.department, u.office]
        changed = [f for f, old, val in zip(DETAIL_FIELDS, details, new, strict=True) if old != val]
        if username != u.username:
            changed.append("username")
        if not enabled:
            changed.append("enabled")
        if source != kind:
            changed.append("source")
        if changed:
            plan.update.append((uid, u, changed))
    for key, row in existing.items():
        if row[-1] == kind and key not in incoming and (row[-2] or plan.missing_action == "delete"):
            plan.missing.append((row[0], row[2]))
    _plan_groups(plan, snapshot, incoming, existing)
    if opts["sync.import-card-numbers"]:
        _plan_cards(plan, incoming, existing)
    return plan


def _plan_groups(plan: Plan, snapshot, incoming, existing) -> None:
    groups = {g.name_key: g for g in Group.objects.all()}
    wanted = {name.strip().lower(): name.strip() for name in snapshot.groups if name.strip()}
    plan.groups_create = [name for key, name in wanted.items() if key not in groups]
    plan.groups_delete = [
        g.id for key, g in groups.items() if g.source == plan.kind and key not in wanted
    ]
    desired = set()
    unknown = 0
    for name, members in snapshot.groups.items():
        gkey = name.strip().lower()
        for m in members:
            ukey = m.strip().lower()
            if ukey in incoming or ukey in existing:
                desired.add((gkey, ukey))
            else:
                unknown += 1
    if unknown:
        plan.errors.append(f"{unknown} group member name(s) are not users; they were ignored")
    managed = {g.id: key for key, g in groups.items() if g.source == plan.kind or key in wanted}
    current = set()
    ids = {row[0]: key for key, row in existing.items()}
    for gid, uid in (
        Membership.objects.filter(group_id__in=list(managed))
        .values_list("group_id", "user_id")
        .iterator(chunk_size=5000)
    ):
        current.add((managed[gid], ids[uid]))
    plan.members_add = desired - current
    key_to_gid = {key: g.id for key, g in groups.items()}
    key_to_uid = {key: row[0] for key, row in existing.items()}
    plan.members_remove = {
        (key_to_gid[g], key_to_uid[u])
        for g, u in current - desired
        if g in wanted or groups[g].source == plan.kind
    }


def _plan_cards(plan: Plan, incoming: dict[str, SourceUser], existing) -> None:
    from cardid.cards import rules

    rule = config.get("sync.card-conversion")
    if rule:
        rules.get_steps(rule)  # a rule that does not exist stops the sync before it writes
    key_to_uid = {key: row[0] for key, row in existing.items()}
    uid_to_key = {v: k for k, v in key_to_uid.items()}
    current: dict[tuple[str, str], tuple[str, str]] = {}  # (ukey, slot) -> (number key, origin)
    holders: dict[str, tuple[str, str]] = {}  # number key -> (ukey, slot)
    for uid, slot, nkey, origin in Card.objects.values_list(
        "user_id", "slot", "number_key", "origin"
    ).iterator(chunk_size=5000):
        ukey = uid_to_key[uid]
        current[(ukey, slot)] = (nkey, origin)
        holders[nkey] = (ukey, slot)
    wanted: dict[str, tuple[str, str, str]] = {}  # number key -> (ukey, slot, number)
    for ukey, u in incoming.items():
        for slot, raw in (("primary", u.primary), ("secondary", u.secondary)):
            if not raw:
                continue  # a blank source value never clears a number
            try:
                number = numbers.clean(rules.convert(raw, rule=rule or None))
            except (numbers.NumberError, CardidError) as e:
                plan.errors.append(f"{u.username}: {slot} card number from the source: {e}")
                continue
            nkey = numbers.key(number)
            have = current.get((ukey, slot))
            if have and have[1] == Card.Origin.SELF_REGISTERED:
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
        if uk and current.get((uk, s), ("",))[0] != nk
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


# -- applying ---------------------------------------------------------------------------------


@transaction.atomic
def _apply(plan: Plan, actor: Actor) -> None:
    now = timezone.now()
    at = db.adapt_datetime(now)
    events = []

    def event(action: str, target: str, detail: str = "") -> None:
        events.append((at, actor.name[:200], actor.door, action, target[:200], detail[:500]))

    db.insert_rows(
        User,
        USER_ROW,
        [
            (
                u.username,
                u.username.lower(),
                u.full_name,
                u.email,
                u.department,
                u.office,
                True,
                plan.kind,
                "",
                "",
                at,
                at,
            )
            for u in plan.create
        ],
    )
    for u in plan.create:
        event("user.added", u.username)
    if plan.update:
        objs = []
        for uid, u, changed in plan.update:
            objs.append(
                User(
                    id=uid,
                    username=u.username,
                    username_key=u.username.lower(),
                    full_name=u.full_name,
                    email=u.email,
                    department=u.department,
                    office=u.office,
                    enabled=True,
                    source=plan.kind,
                    updated_at=now,
                )
            )
            event("user.updated", u.username, ", ".join(changed))
        User.objects.bulk_update(
            objs, ["username", *DETAIL_FIELDS, "enabled", "source", "updated_at"], batch_size=500
        )
    missing_ids = [uid for uid, _ in plan.missing]
    if plan.missing_action == "disable" and missing_ids:
        for part in db.chunked(missing_ids, 5000):
            User.objects.filter(id__in=part).update(enabled=False, updated_at=now)
        for _, name in plan.missing:
            event("user.disabled", name, "gone from the source")
    elif plan.missing_action == "delete" and missing_ids:
        for part in db.chunked(missing_ids, 5000):
            # Their numbers are retired first, so a lost card cannot open another account.
            db.insert_rows(
                RetiredNumber,
                ("number_hash", "keypad_length", "user", "slot", "retired_at"),
                [
                    (numbers.retired_hash(k), kl, None, s, at)
                    for k, kl, s in Card.objects.filter(user_id__in=part).values_list(
                        "number_key", "keypad_length", "slot"
                    )
                ],
            )
            User.objects.filter(id__in=part).delete()
        for _, name in plan.missing:
            event("user.deleted", name, "gone from the source")
    # Groups and membership.
    Group.objects.bulk_create(
        [Group(name=n, name_key=n.lower(), source=plan.kind) for n in plan.groups_create],
        batch_size=500,
    )
    if plan.groups_delete:
        Group.objects.filter(id__in=plan.groups_delete).delete()
    for gid, uid in plan.members_remove:
        Membership.objects.filter(group_id=gid, user_id=uid).delete()
    if plan.members_add:
        gids = dict(Group.objects.values_list("name_key", "id"))
        uids = {}
        wanted_users = list({u for _, u in plan.members_add})
        for part in db.chunked(wanted_users, 5000):
            uids.update(
                User.objects.filter(username_key__in=part).values_list("username_key", "id")
            )
        db.insert_rows(
            Membership, ("user", "group"), [(uids[u], gids[g]) for g, u in plan.members_add]
        )
    # Card numbers from the source.
    if plan.card_changes:
        _apply_cards(plan, actor, at, event)
    db.insert_rows(AuditEvent, ("at", "actor", "door", "action", "target", "detail"), events)


def _apply_cards(plan: Plan, actor: Actor, at, event) -> None:
    ukeys = list({uk for uk, _, _ in plan.card_changes})
    uids = {}
    for part in db.chunked(ukeys, 5000):
        uids.update(User.objects.filter(username_key__in=part).values_list("username_key", "id"))
    changing = {(uids[uk], s) for uk, s, _ in plan.card_changes}
    new_keys = {numbers.key(n) for _, _, n in plan.card_changes}
    old = []
    for part in db.chunked(list({uid for uid, _ in changing}), 2000):
        old += [c for c in Card.objects.filter(user_id__in=part) if (c.user_id, c.slot) in changing]
    # Clear before set: numbers may move between users and slots within one sync.
    Card.objects.filter(id__in=[c.id for c in old]).delete()
    db.insert_rows(
        RetiredNumber,
        ("number_hash", "keypad_length", "user", "slot", "retired_at"),
        [
            (numbers.retired_hash(c.number_key), c.keypad_length, c.user_id, c.slot, at)
            for c in old
            if c.number_key not in new_keys
        ],
    )
    db.insert_rows(
        Card,
        CARD_ROW,
        [
            (
                uids[uk],
                s,
                n,
                numbers.key(n),
                numbers.keypad_length(n),
                Card.Origin.SYNCED,
                at,
                actor.name[:200],
            )
            for uk, s, n in plan.card_changes
        ],
    )
    names = {uid: uk for uk, uid in uids.items()}
    for uk, s, n in plan.card_changes:
        event("card.synced", names[uids[uk]], f"{s} {mask(n)}")


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
    some("problems", plan.errors)
    return lines
