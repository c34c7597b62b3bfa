"""The one job runner: marks a job started, runs its kind, records the outcome on the row."""

import logging
import traceback
from collections.abc import Callable

from django.db import close_old_connections
from django.utils import timezone

from cardid.errors import CardidError
from cardid.jobs.models import Job

log = logging.getLogger(__name__)

Report = Callable[..., None]
# kind -> function(job, report); a function reports progress by calling report(done=,
# total=, counts=, messages=) and raises CardidError to fail in words. The apps that own
# the work register their kinds (AppConfig.ready), so the runner names none of them.
KINDS: dict[str, Callable[[Job, Report], None]] = {}


def register(kind: str, func: Callable[[Job, Report], None]) -> None:
    KINDS[kind] = func


def run(job_id: int, on_progress: Callable[[Job], None] | None = None) -> Job:
    """Run the job now, in this process; returns the finished row."""
    job = Job.objects.get(pk=job_id)
    if job.status != Job.Status.QUEUED:
        log.warning("job %s is %s, not queued; not run again", job.pk, job.status)
        return job
    claimed = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return Job.objects.get(pk=job_id)
    job.refresh_from_db()

    def report(*, done=None, total=None, counts=None, messages=None) -> None:
        fields = {}
        if done is not None:
            job.done = fields["done"] = done
        if total is not None:
            job.total = fields["total"] = total
        if counts is not None:
            job.counts = fields["counts"] = counts
        if messages is not None:
            job.messages = fields["messages"] = messages[:200]
        if fields:
            Job.objects.filter(pk=job.pk).update(**fields)
        if on_progress:
            on_progress(job)

    try:
        KINDS[job.kind](job, report)
    except CardidError as e:
        _finish(job, Job.Status.FAILED, error=str(e))
    except Exception as e:  # noqa: BLE001 - any other failure is a bug: keep it whole on the row
        log.exception("job %s (%s) failed", job.pk, job.kind)
        _finish(
            job,
            Job.Status.FAILED,
            error=f"internal error: {type(e).__name__}",
            tb=traceback.format_exc(),
        )
        close_old_connections()
    else:
        _finish(job, Job.Status.SUCCEEDED)
    if on_progress:
        on_progress(job)
    return job


def _finish(job: Job, status: str, error: str = "", tb: str = "") -> None:
    job.status, job.error, job.traceback = status, error, tb
    job.finished_at = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=status,
        error=error,
        traceback=tb,
        finished_at=job.finished_at,
        done=job.done,
        total=job.total,
        counts=job.counts,
        messages=job.messages,
    )
