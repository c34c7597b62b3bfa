"""Writing the audit trail; callers write their events in the transaction of their change."""

from django.utils import timezone

from cardid.audit.actor import Actor
from cardid.audit.models import AuditEvent


def event(*, actor: Actor, action: str, target: str = "", detail: str = "", at=None) -> AuditEvent:
    """An unsaved event, for callers that insert many at once."""
    return AuditEvent(
        at=at or timezone.now(),
        actor=actor.name[:200],
        door=actor.door,
        action=action,
        target=target[:200],
        detail=detail[:500],
    )


def record(*, actor: Actor, action: str, target: str = "", detail: str = "") -> AuditEvent:
    """Save one event now."""
    ev = event(actor=actor, action=action, target=target, detail=detail)
    ev.save()
    return ev
