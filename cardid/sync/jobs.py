"""The sync job: a user/group sync, run by the task worker or by the CLI in its process."""

from cardid.audit.actor import Actor
from cardid.errors import CardidError
from cardid.jobs.models import Job
from cardid.sync import engine


def sync(job: Job, report) -> None:
    p = job.params
    result = engine.run(
        actor=Actor(f"sync ({p.get('actor_name', 'api')})", "sync"),
        dry_run=p.get("dry_run", False),
        trigger=p.get("trigger", "manual"),
        expect=p.get("expect"),
        job_id=job.pk,
    )
    report(
        done=1,
        total=1,
        counts={**result.counts, "run": result.run_id},
        messages=(result.diff + result.errors)[:200],
    )
    if not result.ok:
        raise CardidError(result.message)
