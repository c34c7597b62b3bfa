"""Submitting jobs: the job row and its task are written in one transaction."""

from django.conf import settings
from django.db import transaction

from cardid.audit.actor import Actor
from cardid.jobs.models import Job
from cardid.jobs.tasks import run_job


@transaction.atomic
def submit(
    *, kind: str, params: dict, actor: Actor, description: str = "", queue: bool = True
) -> Job:
    """Create the job; with `queue`, hand it to the task worker (else the caller runs it)."""
    job = Job.objects.create(
        kind=kind, params=params, created_by=str(actor), description=description[:300]
    )
    if queue:
        if settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db"):
            # The queue lives in this database: enqueueing here commits with the job row.
            run_job.enqueue(job.pk)
        else:
            transaction.on_commit(lambda: run_job.enqueue(job.pk))
    return job
