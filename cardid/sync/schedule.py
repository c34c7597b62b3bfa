"""The daily scheduled sync, run by the task worker's periodic housekeeping."""

from datetime import datetime, time

from django.utils import timezone

from cardid.audit.actor import Actor
from cardid.config import services as config
from cardid.errors import Conflict
from cardid.jobs import runner
from cardid.jobs.models import Job
from cardid.sync import services

SCHEDULER = Actor("scheduled sync", "sync")


def due(now: datetime | None = None) -> bool:
    """Whether today's scheduled sync time has passed without a scheduled sync since."""
    if config.get("sync.source") == "none":
        return False
    when = config.get("sync.schedule")
    if when == "off":
        return False
    now = timezone.localtime(now or timezone.now())
    hh, mm = (int(x) for x in when.split(":"))
    slot = timezone.make_aware(datetime.combine(now.date(), time(hh, mm)), now.tzinfo)
    if now < slot:
        return False
    return not Job.objects.filter(
        kind="sync", params__trigger="schedule", created_at__gte=slot
    ).exists()


def run_if_due() -> None:
    """Start the day's sync through the one sync service, and run it here (the worker).
    Of several workers that find it due at once, one starts it: the job's key is the day."""
    if not due():
        return
    today = timezone.localdate().isoformat()
    try:
        job = services.start(
            actor=SCHEDULER, trigger="schedule", queue=False, once_key=f"scheduled-sync:{today}"
        )
    except Conflict:
        return  # another worker started today's sync a moment ago
    runner.run(job.pk)
