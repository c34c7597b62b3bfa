"""The one job runner: claims a job under a lease, runs its kind while a heartbeat renews the
lease, and records the outcome on the row. A job whose worker stops heart-beating (killed,
machine lost, database gone) is taken over by any worker (`reclaim`) and resumes where its
cursor says; every job is claimed by one worker at a time (a conditional UPDATE)."""

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from datetime import timedelta

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
)
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from cardid.config import services as config
from cardid.errors import CardidError, NotFound
from cardid.jobs.models import Job

log = logging.getLogger(__name__)
Status = Job.Status
MAX_TAKEOVERS = 5  # a job that kills its worker every time fails after this many

Report = Callable[..., None]
# kind -> the dotted path of function(job, report); a function reports progress by calling
# report(done=, total=, counts=, messages=, cursor=) and raises CardidError to fail in words.
# Reported in the transaction of a unit of work, the cursor commits with it: a job taken over
# resumes after the last committed unit. The apps that own the work register their kinds
# (AppConfig.ready), so the runner names none of them; by path, so that a process imports
# the work (and its libraries: PDF, LDAP) only when it runs a job of that kind.
KINDS: dict[str, str] = {}


def register(kind: str, path: str) -> None:
    KINDS[kind] = path


class LeaseLost(Exception):
    """This worker's lease ran out and another worker took the job over: stop quietly."""


def worker_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def lease() -> timedelta:
    return timedelta(seconds=config.get("jobs.lease-seconds"))


def _claimable(now) -> Q:
    expired = Q(status=Status.RUNNING) & (Q(lease_until__lt=now) | Q(lease_until__isnull=True))
    return Q(status=Status.QUEUED) | expired


def run(job_id: int, on_progress: Callable[[Job], None] | None = None) -> Job:
    """Run the job now, in this process, if no other worker holds it; returns the row."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"no job {job_id}")
    me, span, now = worker_name(), lease(), timezone.now()
    taking_over = job.started_at is not None
    claimed = Job.objects.filter(_claimable(now), pk=job_id).update(
        status=Status.RUNNING,
        worker=me,
        lease_until=now + span,
        heartbeat_at=now,
        started_at=job.started_at or now,
        takeovers=job.takeovers + (1 if taking_over else 0),
    )
    job.refresh_from_db()
    if not claimed:
        log.info("job %s is %s (worker %s); not run here", job.pk, job.status, job.worker)
        return job
    if taking_over:
        job.takeover_note = (
            f"taken over by {me} at {timezone.localtime(now):%Y-%m-%d %H:%M:%S} after its "
            f"worker stopped ({job.takeovers} time{'s' if job.takeovers > 1 else ''})"
        )
        Job.objects.filter(pk=job.pk).update(takeover_note=job.takeover_note)
        if job.takeovers > MAX_TAKEOVERS:
            _finish(job, Status.FAILED, f"gave up after {MAX_TAKEOVERS} takeovers", me=me)
            return job
    beat = Heartbeat(job.pk, me, span)

    def report(*, done=None, total=None, counts=None, messages=None, cursor=None) -> None:
        if beat.lost.is_set():
            raise LeaseLost(job.pk)
        fields = {}
        for name, value in (
            ("done", done),
            ("total", total),
            ("counts", counts),
            ("messages", messages[:200] if messages is not None else None),
            ("cursor", cursor),
        ):
            if value is not None:
                setattr(job, name, value)
                fields[name] = value
        if fields and not Job.objects.filter(pk=job.pk, worker=me).update(**fields):
            beat.lost.set()
            raise LeaseLost(job.pk)
        if on_progress:
            on_progress(job)

    beat.start()
    try:
        import_string(KINDS[job.kind])(job, report)
    except LeaseLost:
        log.warning("job %s: the lease ran out and another worker took it over", job.pk)
        return job
    except CardidError as e:
        _finish(job, Status.FAILED, error=str(e), me=me)
    except (OperationalError, InterfaceError) as e:
        # The database went away mid-job: what the last unit committed stands, the rest
        # rolled back. The lease runs out and a worker takes the job over when it is back.
        log.warning("job %s interrupted by the database (%s); it will be taken over", job.pk, e)
        close_old_connections()
        return job
    except Exception as e:  # noqa: BLE001 - any other failure is a bug: keep it whole on the row
        log.exception("job %s (%s) failed", job.pk, job.kind)
        _finish(
            job,
            Status.FAILED,
            error=f"internal error: {type(e).__name__}",
            tb=traceback.format_exc(),
            me=me,
        )
        close_old_connections()
    else:
        _finish(job, Status.SUCCEEDED, me=me)
    finally:
        beat.stop()
    if on_progress:
        on_progress(job)
    return job


class Heartbeat(threading.Thread):
    """Renews the lease a third of its length at a time, on its own connection; notes when
    another worker has taken the job (the row no longer names this worker)."""

    def __init__(self, job_id: int, me: str, span: timedelta):
        super().__init__(name=f"cardid-heartbeat-{job_id}", daemon=True)
        self.job_id, self.me, self.span = job_id, me, span
        self.lost, self._stop_event = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.span.total_seconds() / 3):
                now = timezone.now()
                try:
                    held = Job.objects.filter(
                        pk=self.job_id, worker=self.me, status=Status.RUNNING
                    ).update(lease_until=now + self.span, heartbeat_at=now)
                except DatabaseError:
                    connection.close()  # the database is away: try again next beat
                    continue
                if not held:
                    self.lost.set()
                    return
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _finish(job: Job, status: str, error: str = "", tb: str = "", *, me: str) -> None:
    job.status, job.error, job.traceback = status, error, tb
    job.finished_at = timezone.now()
    Job.objects.filter(pk=job.pk, worker=me).update(
        status=status,
        error=error,
        traceback=tb,
        finished_at=job.finished_at,
        lease_until=None,
        done=job.done,
        total=job.total,
        counts=job.counts,
        messages=job.messages,
    )
