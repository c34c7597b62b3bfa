"""The daily scheduled sync, run by the task worker's periodic housekeeping."""

from datetime import datetime, time

from django.utils import timezone

from cardid.audit.actor import Actor
from cardid.config import services as config
from cardid.directory.models import SyncRun

SCHEDULER = Actor("scheduled sync", "sync")


def due(now: datetime | None = None) -> bool:
    """Whether today's scheduled sync time has passed without a scheduled run since."""
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
    return not SyncRun.objects.filter(trigger="schedule", started_at__gte=slot).exists()


def run_if_due() -> None:
    if due():
        from cardid.directory.sync import engine

        engine.run(actor=SCHEDULER, trigger="schedule")
