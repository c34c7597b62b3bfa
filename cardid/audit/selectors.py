"""Reading the audit trail: the console's filters and a subject's history."""

from datetime import date

from django.db.models import QuerySet

from cardid.audit.models import AuditEvent


def events(
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    door: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """Events whose who/action/subject contain the given text, through `door`, between
    the two dates (inclusive); every criterion left empty matches everything."""
    qs = AuditEvent.objects.all()
    for field, text in (("actor", actor), ("action", action), ("target", target)):
        if text:
            qs = qs.filter(**{f"{field}__icontains": text})
    if door:
        qs = qs.filter(door=door)
    if since:
        qs = qs.filter(at__date__gte=since)
    if until:
        qs = qs.filter(at__date__lte=until)
    return qs


def history(target: str, limit: int = 50) -> QuerySet[AuditEvent]:
    """The latest events about one subject (a username, an option key, a group)."""
    return AuditEvent.objects.filter(target=target)[:limit]
