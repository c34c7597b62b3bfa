"""The sync job: a user/group sync requested through the API, run by the task worker."""

from cardid.audit.actor import Actor
from cardid.directory.sync import engine
from cardid.errors import CardidError
from cardid.jobs.models import Job


def sync(job: Job, report) -> None:
    dry_run = job.params.get("dry_run", False)
    result = engine.run(
        actor=Actor(f"sync ({job.params.get('actor_name', 'api')})", "sync"), dry_run=dry_run
    )
    report(done=1, total=1, counts=result.counts, messages=(result.errors + result.diff)[:200])
    if not result.ok:
        raise CardidError(result.message)
