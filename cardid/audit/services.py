"""Writing the audit trail, the one way for the whole project: callers write their events
in the transaction of their change."""

from collections.abc import Iterable
from datetime import timedelta

from django.utils import timezone

from cardid import db
from cardid.audit.actor import Actor
from cardid.audit.models import AuditEvent

ROW = ("at", "actor", "door", "action", "target", "detail")


def record(*, actor: Actor, action: str, target: str = "", detail: str = "") -> None:
    """Save one event now."""
    record_many(actor=actor, events=[(action, target, detail)])


def record_many(*, actor: Actor, events: Iterable[tuple[str, str, str]], at=None) -> None:
    """Save many events of one actor at once: (action, target, detail) each; one insert.
    `at` is a time already adapted for the database (cardid.db.adapt_datetime)."""
    at = at if at is not None else db.adapt_datetime(timezone.now())
    who, door = _plain(actor.name)[:200], actor.door
    record_rows(
        (at, who, door, action[:60], _plain(target)[:200], _plain(detail)[:500])
        for action, target, detail in events
    )


def _plain(text: str) -> str:
    """What a hostile caller typed, as the trail keeps it: a NUL byte (PostgreSQL's text
    refuses it) shown as \\0, so the event is recorded all the same."""
    return text.replace("\x00", "\\0")


def record_rows(rows: Iterable[tuple]) -> None:
    """Save events given as whole rows, in ROW's order, each field within its column's
    length (bulk work that builds its rows in one pass); one insert."""
    db.insert_rows(AuditEvent, ROW, rows)


def forget_older(*, days: int) -> int:
    """Remove events older than `days` (housekeeping, when audit.keep-days says so)."""
    cutoff = timezone.now() - timedelta(days=days)
    return AuditEvent.objects.filter(at__lt=cutoff).delete()[0]
