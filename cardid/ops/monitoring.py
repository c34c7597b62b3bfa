"""What monitoring reads (SPEC §10): the health of the service, for /healthz and `cardid
info`, and the figures of /metrics. No personal data in either."""

import os
import socket
from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.models import Count
from django.utils import timezone

from cardid.cards import selectors as cards
from cardid.cards.models import Card
from cardid.directory.models import SyncRun, User
from cardid.jobs.models import Job
from cardid.notifications import services as notifications
from cardid.ops.models import WorkerBeat
from cardid.outbound import services as outbound

ALIVE = timedelta(seconds=30)  # a worker ticks every few seconds


def beat() -> None:
    """A worker's sign of life (its periodic tick calls this)."""
    WorkerBeat.objects.update_or_create(
        name=f"{socket.gethostname()} pid {os.getpid()}"[:200],
        defaults={"seen_at": timezone.now()},
    )


def workers() -> list[WorkerBeat]:
    """The workers seen lately, newest first (older beats are forgotten)."""
    cutoff = timezone.now() - ALIVE
    WorkerBeat.objects.filter(seen_at__lt=cutoff - timedelta(days=1)).delete()
    return list(WorkerBeat.objects.filter(seen_at__gte=cutoff).order_by("-seen_at"))


def health() -> tuple[dict, bool]:
    """The state of the service and whether it is up at all (the database answers)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as e:
        return {
            "status": "down",
            "database": f"unreachable ({type(e).__name__})",
            "worker": "unknown",
            "outbox": None,
            "outbound": None,
            "last_sync": None,
        }, False
    alive = workers()
    counts = notifications.counts()
    outbox = {"pending": counts.get("pending", 0), "failed": counts.get("failed", 0)}
    oldest = outbound.oldest_pending()
    flows = outbound.counts()
    out = {
        channel: {"pending": c.get("pending", 0), "failed": c.get("failed", 0)}
        for channel, c in flows.items()
    }
    out["oldest_pending"] = oldest.isoformat(timespec="seconds") if oldest else None
    run = SyncRun.objects.filter(dry_run=False).first()
    last_sync = (
        None
        if run is None
        else {
            "status": run.status,
            "started": run.started_at.isoformat(timespec="seconds"),
            "finished": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        }
    )
    degraded = (
        not alive
        or outbox["failed"]
        or any(c.get("failed", 0) for c in flows.values())
        or (run is not None and run.status != "succeeded")
    )
    return {
        "status": "degraded" if degraded else "ok",
        "database": "ok",
        "worker": f"{len(alive)} alive" if alive else "none seen in the last 30 s",
        "outbox": outbox,
        "outbound": out,
        "last_sync": last_sync,
    }, True


def figures() -> dict:
    """The gauges of /metrics, read from the database."""
    numbers = dict(Card.objects.values_list("slot").annotate(n=Count("id")))
    outbox = notifications.counts()
    jobs = dict(Job.objects.values_list("status").annotate(n=Count("id")))
    runs = dict(SyncRun.objects.filter(dry_run=False).values_list("status").annotate(n=Count("id")))
    policy = cards.policy_figures()
    return {
        "users": User.objects.count(),
        "numbers": {s: numbers.get(s, 0) for s in ("primary", "secondary")},
        "outbox": outbox,
        "outbound": outbound.counts(),
        "jobs": jobs,
        "sync_runs": runs,
        "guess_probability": policy["guess_probability"],
        "workers": len(workers()),
    }
