"""Numbers flow out (SPEC §13): webhooks and directory write-back, through an outbox.

A change queues its messages in its own transaction (nothing is lost with a crash after
it), and the worker — or `cardid notifications send-pending` — delivers them: at least
once, the same message id on every attempt, in order per user in each lane (a webhook, or
the directory), with back-off while the receiver is away, and a permanent failure kept for
an administrator to see and retry.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import standardwebhooks
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from cardid import db, destinations, secretbox
from cardid.audit import services as audit
from cardid.audit.actor import Actor, mask
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.models import User
from cardid.errors import Conflict, Invalid, NotFound
from cardid.outbound import http, writeback
from cardid.outbound.models import Delivery, Webhook

log = logging.getLogger(__name__)

Status = Delivery.Status
# The events, with what each means.
MEANINGS = {
    "card.issued": gettext_lazy("a number given to a slot that had none"),
    "card.changed": gettext_lazy("a slot's number replaced by another"),
    "card.cleared": gettext_lazy("a slot's number removed"),
    "user.created": gettext_lazy("a user added by hand, import or sync"),
    "user.disabled": gettext_lazy("a user disabled"),
    "user.deleted": gettext_lazy("a user deleted by the sync"),
}
EVENTS = tuple(MEANINGS)
WRITE_BACK = "write-back"  # the event of a directory write
BATCH = 200
# How long a sender's claim on a batch lasts; it stops sending before the claim runs out.
LEASE = timedelta(minutes=5)
TURN = 20.0  # seconds the worker spends delivering before its other duties
# Seconds to wait after the 1st, 2nd … failed attempt; then every 12 hours, until the
# 15th attempt (about three days in all) fails for good.
BACK_OFF = (5, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200)
MAX_ATTEMPTS = 15
ROW = (
    "lane",
    "webhook",
    "user",
    "user_key",
    "event",
    "message_id",
    "body",
    "status",
    "attempts",
    "last_error",
    "lease_token",
    "created_at",
)


# -- queueing (in the transaction of the change) ---------------------------------------------


def on_numbers_changed(*, changes: list[tuple[int, str, str | None, bool]], origin, at, **_):
    """The card ledger changed slots: queue the webhook events and the write-back."""
    hooks = [
        h
        for h in Webhook.objects.all()
        if {"card.issued", "card.changed", "card.cleared"} & set(h.events)
    ]
    # A number the sync read from the directory is there already.
    slots = () if origin == Card.Origin.SYNCED else writeback.slots()
    if not hooks and not slots:
        return
    users = _users({uid for uid, *_ in changes})
    now = timezone.now()
    rows = []
    for hook in hooks:
        for uid, slot, number, had in changes:
            kind = "card.cleared" if number is None else "card.changed" if had else "card.issued"
            if kind in hook.events and uid in users:
                shown = number if number is None or hook.include_number else mask(number)
                rows.append(_event_row(hook, kind, uid, users[uid][0], slot, shown, now))
    if slots:
        writes = sorted(
            {
                uid
                for uid, slot, *_ in changes
                if slot in slots and users.get(uid, ("", ""))[1] == "ldap"
            }
        )
        _supersede_writes(writes)
        rows += [
            _row(Delivery.DIRECTORY, None, uid, users[uid][0], WRITE_BACK, "", now)
            for uid in writes
        ]
    db.insert_rows(Delivery, ROW, rows)


def on_users_changed(*, event: str, users: list[tuple[int, str]], **_):
    """The directory created, disabled or is deleting users: queue their webhook events."""
    hooks = [h for h in Webhook.objects.all() if event in h.events]
    if not hooks:
        return
    now = timezone.now()
    gone = event == "user.deleted"
    db.insert_rows(
        Delivery,
        ROW,
        [
            _event_row(hook, event, None if gone else uid, name, None, None, now)
            for hook in hooks
            for uid, name in users
        ],
    )


def _users(ids: set[int]) -> dict[int, tuple[str, str]]:
    out = {}
    for part in db.chunked(sorted(ids), 5000):
        out.update(
            (uid, (name, source))
            for uid, name, source in db.select_in(
                f"SELECT id, username, source FROM {User._meta.db_table} WHERE id IN_LIST", part
            )
        )
    return out


def _event_row(hook, kind, uid, username, slot, number, now):
    body = json.dumps(
        {
            "type": kind,
            "timestamp": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "data": {"username": username, "slot": slot, "number": number},
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return _row(f"webhook:{hook.pk}", hook.pk, uid, username, kind, body, now)


def _row(lane, hook_id, uid, username, kind, body, now):
    return (
        lane,
        hook_id,
        uid,
        username.strip().lower(),
        kind,
        "msg_" + secrets.token_urlsafe(18),
        body,
        Status.PENDING,
        0,
        "",
        "",
        db.adapt_datetime(now),
    )


def _supersede_writes(user_ids: list[int]) -> None:
    """A write not yet begun is replaced by the new one: it writes the numbers then held."""
    table = Delivery._meta.db_table
    for part in db.chunked(user_ids, 5000):
        db.select_in(
            f"UPDATE {table} SET status = %s, last_error = %s WHERE lane = %s AND status = %s "
            "AND lease_token = '' AND user_id IN_LIST",
            part,
            before=[
                Status.CANCELLED,
                "superseded by a newer write",
                Delivery.DIRECTORY,
                Status.PENDING,
            ],
            fetch=False,
        )


def awaiting_write_back() -> set[int]:
    """Users whose numbers are still to be written to the directory: until then the
    directory holds older values, which a sync must not take for new ones."""
    return set(
        Delivery.objects.filter(lane=Delivery.DIRECTORY, status=Status.PENDING)
        .exclude(user=None)
        .values_list("user_id", flat=True)
    )


# -- webhooks ---------------------------------------------------------------------------------


@dataclass
class Added:
    webhook: Webhook
    secret: str
    warning: str = ""


def _delivery_settings() -> tuple[destinations.Allowed, str, int]:
    o = config.get_many("webhooks.allowed-hosts", "webhooks.ca-file", "webhooks.timeout")
    try:
        allowed = destinations.parse_allowed(o["webhooks.allowed-hosts"])
    except destinations.Refused as e:
        raise Invalid(f"webhooks.allowed-hosts: {e}") from None
    return allowed, o["webhooks.ca-file"], o["webhooks.timeout"]


def parse_events(text: str | Iterable[str] | None) -> list[str]:
    words = text.replace(",", " ").split() if isinstance(text, str) else list(text or [])
    if not words:
        return list(EVENTS)
    unknown = [w for w in words if w not in EVENTS]
    if unknown:
        raise Invalid(f"unknown event {unknown[0]!r}; the events are {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in words]


def add_webhook(*, url: str, events=None, include_number: bool = False, actor: Actor) -> Added:
    """A new webhook and its secret (shown once). A URL that is not http(s) or whose host is
    not allowed is refused; one that cannot be reached now is added with a warning: the
    receiver may come later, and deliveries wait for it."""
    try:
        target = destinations.parse_url(url)
    except destinations.Refused as e:
        raise Invalid(str(e)) from None
    chosen = parse_events(events)
    allowed, ca_file, timeout = _delivery_settings()
    warning = ""
    try:
        destinations.usable(target, destinations.resolve(target), allowed)
        # A connection is tried only to a host the allow list names: with it blank, adding
        # webhooks would otherwise tell which hosts and ports answer (a port scanner).
        if not allowed.everything:
            problem = http.reachable(target.url, allowed, ca_file=ca_file, timeout=min(timeout, 5))
            if problem:
                warning = f"{target.host_header} cannot be reached now: {problem}"
    except destinations.Refused as e:
        raise Invalid(str(e)) from None
    except LookupError as e:
        warning = str(e)
    if warning:
        warning += "; the webhook was added and deliveries will wait for the receiver"
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    # The receiver was tried above, outside the transaction: no lock waits on the network.
    with transaction.atomic():
        if Webhook.objects.filter(url=target.url).exists():
            raise Conflict(f"there is a webhook for {target.url} already; remove it first")
        try:
            with transaction.atomic():
                hook = Webhook.objects.create(
                    url=target.url,
                    events=chosen,
                    include_number=include_number,
                    secret=secretbox.seal(secret, settings.DATA_DIR),
                    created_by=actor.name[:200],
                )
        except IntegrityError:
            raise Conflict(
                f"there is a webhook for {target.url} already; remove it first"
            ) from None
        audit.record(
            actor=actor,
            action="webhook.added",
            target=_shown(target),
            detail=", ".join(chosen) + ("; with numbers" if include_number else ""),
        )
    return Added(hook, secret, warning)


def _shown(target: destinations.Target) -> str:
    """A URL for the audit trail: without its query, which may hold a receiver's token."""
    return f"{target.scheme}://{target.host_header}{target.path.split('?')[0]}"


@transaction.atomic
def remove_webhook(*, url: str, actor: Actor) -> int:
    """Remove the webhook; returns how many of its messages were still undelivered (they go
    with it)."""
    hook = Webhook.objects.filter(url=url.strip()).first()
    if hook is None:
        raise NotFound(f"there is no webhook for {url!r}; `cardid webhooks list` shows them")
    waiting = hook.deliveries.filter(status=Status.PENDING).count()
    hook.delete()
    audit.record(
        actor=actor,
        action="webhook.removed",
        target=_shown(destinations.parse_url(hook.url)),
        detail=f"{waiting} undelivered message(s) dropped" if waiting else "",
    )
    return waiting


def webhooks() -> list[dict]:
    """The webhooks with the state of their deliveries."""
    tallies: dict[int, dict[str, int]] = {}
    for hook_id, status, n in (
        Delivery.objects.exclude(webhook=None)
        .values_list("webhook_id", "status")
        .annotate(n=Count("id"))
    ):
        tallies.setdefault(hook_id, {})[status] = n
    return [
        {
            "id": h.pk,
            "url": h.url,
            "events": h.events,
            "include_number": h.include_number,
            "created_at": h.created_at,
            "pending": tallies.get(h.pk, {}).get(Status.PENDING, 0),
            "failed": tallies.get(h.pk, {}).get(Status.FAILED, 0),
            "sent": tallies.get(h.pk, {}).get(Status.SENT, 0),
        }
        for h in Webhook.objects.all()
    ]


def sign(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": standardwebhooks.Webhook(secret).sign(message_id, at, body),
    }


# -- delivery ---------------------------------------------------------------------------------


@dataclass
class Report:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)


def pending_count() -> int:
    return Delivery.objects.filter(status=Status.PENDING).count()


def deliver_due(
    *, force: bool = False, max_batches: int | None = None, seconds: float | None = TURN
) -> Report:
    """Deliver what is due (with `force`, also what waits out a back-off). With `seconds`,
    stop taking messages after that long: the worker's other duties come round in time
    however slowly a receiver answers."""
    report = Report()
    batches = 0
    deadline = None if seconds is None else time.monotonic() + seconds
    while max_batches is None or batches < max_batches:
        if deadline is not None and time.monotonic() > deadline:
            break
        ids = _claim(force)
        if not ids:
            break
        batches += 1
        retrying = report.retrying
        _deliver_batch(ids, report, deadline)
        if force and report.retrying > retrying:
            break  # a receiver is away: the rest waits for the next round
    return report


def _claim(force: bool) -> list[int]:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    earlier = Delivery.objects.filter(
        lane=OuterRef("lane"),
        user_key=OuterRef("user_key"),
        status=Status.PENDING,
        id__lt=OuterRef("id"),
    )
    due = Delivery.objects.filter(free, ~Exists(earlier), status=Status.PENDING)
    if not force:
        due = due.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    ids = list(due.order_by("id").values_list("id", flat=True)[:BATCH])
    if not ids:
        return []
    token = secrets.token_hex(16)
    Delivery.objects.filter(free, id__in=ids, status=Status.PENDING).update(
        lease_until=now + LEASE, lease_token=token
    )
    return list(
        Delivery.objects.filter(lease_token=token, status=Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )


def _deliver_batch(ids: list[int], report: Report, deadline: float | None = None) -> None:
    rows = list(
        Delivery.objects.filter(id__in=ids).select_related("webhook", "user").order_by("id")
    )
    writes = [r for r in rows if r.is_write_back]
    if writes:
        outcomes = writeback.deliver(writes)
        sent = [r for r in writes if outcomes[r.pk].kind == "sent"]
        _mark_sent(sent, report)
        waiting = [r for r in writes if outcomes[r.pk].kind == "retry"]
        for r in writes:
            o = outcomes[r.pk]
            if o.kind in ("failed", "cancelled"):
                _finish(r, o.kind, o.words, report)
        if waiting:
            _retry(waiting, outcomes[waiting[0].pk].words, report)
    by_hook: dict[int, list[Delivery]] = {}
    for r in rows:
        if r.webhook_id is not None:
            by_hook.setdefault(r.webhook_id, []).append(r)
    if by_hook:
        allowed, ca_file, timeout = _delivery_settings()
        # Never past the claim: another sender may take the rows once it runs out.
        claim_ends = time.monotonic() + LEASE.total_seconds() - timeout - 10
        deadline = claim_ends if deadline is None else min(deadline, claim_ends)
        for hook_rows in by_hook.values():
            _post_all(hook_rows, allowed, ca_file, timeout, report, deadline)


def _post_all(
    rows: list[Delivery], allowed, ca_file: str, timeout: int, report: Report, deadline=None
) -> None:
    hook = rows[0].webhook
    try:
        secret = secretbox.open_(hook.secret, settings.DATA_DIR)
    except secretbox.SecretError as e:
        _retry(rows, f"the webhook's signing secret cannot be opened: {e}", report)
        return
    receiver = http.Receiver(hook.url, allowed, ca_file=ca_file, timeout=timeout)
    sent: list[tuple[Delivery, int]] = []
    try:
        for i, row in enumerate(rows):
            if deadline is not None and time.monotonic() > deadline:
                # Out of time: the rest is let go as it was, for the next turn.
                Delivery.objects.filter(pk__in=[r.pk for r in rows[i:]]).update(
                    lease_until=None, lease_token=""
                )
                break
            at = timezone.now()
            answer = receiver.post(row.body.encode(), sign(secret, row.message_id, at, row.body))
            if answer.kind == http.SENT:
                sent.append((row, answer.code))
            elif answer.kind == http.FAILED:
                _finish(row, Status.FAILED, answer.words, report, code=answer.code)
            else:
                # The receiver is away or overloaded: this one and the rest wait.
                _retry(rows[i:], answer.words, report, code=answer.code)
                break
    finally:
        receiver.close()
        _mark_sent([r for r, _ in sent], report, codes={r.pk: c for r, c in sent})


def _mark_sent(rows: list[Delivery], report: Report, codes: dict | None = None) -> None:
    if not rows:
        return
    now = timezone.now()
    by_code: dict[int | None, list[int]] = {}
    for r in rows:
        by_code.setdefault((codes or {}).get(r.pk), []).append(r.pk)
    for code, ids in by_code.items():
        Delivery.objects.filter(id__in=ids).update(
            status=Status.SENT,
            delivered_at=now,
            attempts=F("attempts") + 1,
            last_error="",
            response_code=code,
            lease_until=None,
            lease_token="",
        )
    report.sent += len(rows)


def _finish(row: Delivery, status: str, words: str, report: Report, code=None) -> None:
    Delivery.objects.filter(pk=row.pk).update(
        status=status,
        last_error=words[:500],
        response_code=code,
        lease_until=None,
        lease_token="",
        attempts=row.attempts + (1 if status == Status.FAILED else 0),
    )
    if status == Status.FAILED:
        report.failed += 1
        report.errors.append(f"delivery {row.pk} ({row.event}, {row.user_key}): {words}")
    else:
        report.cancelled += 1


def _retry(rows: list[Delivery], words: str, report: Report, code=None) -> None:
    """Back off: the first row counts an attempt (and fails for good after too many); all
    wait for the delay that attempt earns."""
    first = rows[0]
    attempts = first.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        _finish(first, Status.FAILED, f"gave up after {attempts} attempts: {words}", report, code)
        rows = rows[1:]
        attempts = MAX_ATTEMPTS - 1
    if not rows:
        return
    delay = timedelta(seconds=BACK_OFF[min(attempts, len(BACK_OFF)) - 1])
    Delivery.objects.filter(pk=rows[0].pk, status=Status.PENDING).update(attempts=attempts)
    Delivery.objects.filter(pk__in=[r.pk for r in rows], status=Status.PENDING).update(
        next_attempt_at=timezone.now() + delay,
        last_error=words[:500],
        response_code=code,
        lease_until=None,
        lease_token="",
    )
    report.retrying += len(rows)
    report.errors.append(f"{len(rows)} message(s) will be retried in {_duration(delay)}: {words}")
    log.warning("outbound delivery deferred: %s", words)


def _duration(delay: timedelta) -> str:
    s = int(delay.total_seconds())
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"


# -- the administrator's view -----------------------------------------------------------------


@transaction.atomic
def retry(*, ids: list[int] | None = None, actor: Actor) -> int:
    """Failed messages back in the queue, due now, with the same message ids."""
    qs = Delivery.objects.filter(status=Status.FAILED)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    n = qs.update(
        status=Status.PENDING, next_attempt_at=None, attempts=0, lease_until=None, lease_token=""
    )
    audit.record(actor=actor, action="outbound.retry", detail=f"{n} message(s)")
    return n


def deliveries(*, status: str | None = None, lane: str | None = None):
    """The delivery log, newest first: by status, and by lane ("webhooks", "directory")."""
    qs = Delivery.objects.select_related("webhook").order_by("-id")
    if status in Status.values:
        qs = qs.filter(status=status)
    if lane == "directory":
        qs = qs.filter(lane=Delivery.DIRECTORY)
    elif lane == "webhooks":
        qs = qs.exclude(lane=Delivery.DIRECTORY)
    return qs


def counts() -> dict[str, dict[str, int]]:
    """Messages by channel ("webhook", "directory") and status."""
    out: dict[str, dict[str, int]] = {"webhook": {}, "directory": {}}
    for lane, status, n in Delivery.objects.values_list("lane", "status").annotate(n=Count("id")):
        channel = out["directory" if lane == Delivery.DIRECTORY else "webhook"]
        channel[status] = channel.get(status, 0) + n
    return out


def oldest_pending() -> datetime | None:
    return Delivery.objects.filter(status=Status.PENDING).aggregate(m=Min("created_at"))["m"]


def forget_delivered(*, days: int) -> int:
    """Remove messages delivered or cancelled more than `days` ago (housekeeping); failed and
    pending ones stay until someone has seen to them."""
    cutoff = timezone.now() - timedelta(days=days)
    return Delivery.objects.filter(
        status__in=[Status.SENT, Status.CANCELLED], created_at__lt=cutoff
    ).delete()[0]
