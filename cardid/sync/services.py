"""Starting a sync: one service, one set of refusals, for the console, REST, XML-RPC, the CLI
and the daily schedule. Every sync runs as a job through the one job runner."""

from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.config import services as config
from cardid.directory.models import SyncRun
from cardid.errors import Refused
from cardid.jobs import services as jobs
from cardid.jobs.models import Job
from cardid.sync import engine

NO_SOURCE = (
    "no sync source is configured: choose LDAP, a text file or a program as the source "
    "(Options › User/Group Sync › Sync Source) and save its settings first"
)


def start(
    *,
    actor: Actor,
    dry_run: bool = False,
    trigger: str = "manual",
    queue: bool = True,
    expect: dict | None = None,
    once_key: str | None = None,
) -> Job:
    """A sync job (the worker runs it; with `queue` off the caller runs it). Refused when no
    source is configured or a sync of the source is running. With `expect` (the figures of
    a dry run a person reviewed), the sync stops, changing nothing, if its plan differs."""
    if config.get("sync.source") == "none":
        raise Refused(NO_SOURCE, field="sync.source")
    holder = engine.lock_holder()
    if holder:
        raise Refused(f"a sync is running ({holder}); wait for it to finish and try again")
    job = jobs.submit(
        kind="sync",
        actor=actor,
        queue=queue,
        once_key=once_key,
        params={
            "actor_name": actor.name,
            "actor_door": actor.door,
            "dry_run": dry_run,
            "trigger": trigger,
            "expect": expect,
        },
        description="user/group sync" + (" (dry run: nothing is changed)" if dry_run else ""),
    )
    audit.record(
        actor=actor, action="sync.requested", detail=("dry run, " if dry_run else "") + trigger
    )
    return job


def reviewed(job: Job) -> dict | None:
    """The figures of the plan a finished dry-run sync job made, when that plan may be
    applied (None: not a dry run, not finished, or stopped by the guard or the source)."""
    if job.kind != "sync" or not job.params.get("dry_run") or not job.finished:
        return None
    counts = job.counts or {}
    run = SyncRun.objects.filter(pk=counts.get("run")).first()
    if run is None or run.status == SyncRun.Status.GUARD_STOPPED or "added" not in counts:
        return None
    return {k: counts[k] for k in engine.FIGURES if k != "refused"}
