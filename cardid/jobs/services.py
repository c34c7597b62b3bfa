"""Submitting jobs (the job row and its task are written in one transaction), taking over
the jobs of stopped workers, and forgetting old ones."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from cardid.audit.actor import Actor
from cardid.errors import Conflict
from cardid.jobs.models import Job
from cardid.jobs.tasks import run_job


@transaction.atomic
def submit(
    *,
    kind: str,
    params: dict,
    actor: Actor,
    description: str = "",
    queue: bool = True,
    once_key: str | None = None,
) -> Job:
    """Create the job; with `queue`, hand it to the task worker (else the caller runs it).
    With `once_key`, a second job of that key is refused (Conflict): of several workers
    starting the same scheduled work, one does."""
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=kind,
                params=params,
                created_by=str(actor),
                description=description[:300],
                once_key=once_key,
            )
    except IntegrityError:
        raise Conflict(f"a job {once_key} exists already") from None
    if queue:
        if settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db"):
            # The queue lives in this database: enqueueing here commits with the job row.
            run_job.enqueue(job.pk)
        else:
            transaction.on_commit(lambda: run_job.enqueue(job.pk))
    return job


def reclaim() -> list[int]:
    """Queue again every job whose worker stopped heart-beating; returns their ids. Any
    worker then takes it (the periodic housekeeping of each worker calls this)."""
    now = timezone.now()
    Status = Job.Status
    expired = Q(lease_until__lt=now) | Q(lease_until__isnull=True)
    stale = Job.objects.filter(expired, status=Status.RUNNING).values_list("id", flat=True)
    requeued = []
    for pk in list(stale[:100]):
        # One worker re-queues it: the same conditions again in the UPDATE.
        if Job.objects.filter(expired, pk=pk, status=Status.RUNNING).update(status=Status.QUEUED):
            requeued.append(pk)
            run_job.enqueue(pk)
    return requeued


def forget_finished(*, days: int) -> int:
    """Remove jobs that finished more than `days` ago, and the task worker's records of
    them (housekeeping)."""
    cutoff = timezone.now() - timedelta(days=days)
    gone = Job.objects.filter(
        status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED], finished_at__lt=cutoff
    ).delete()[0]
    DBTaskResult.objects.filter(finished_at__lt=cutoff).delete()
    return gone
