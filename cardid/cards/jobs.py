"""The bulk generation job: turns a Job row's parameters into one call of the service."""

from cardid.audit.actor import Actor
from cardid.cards import services
from cardid.jobs.models import Job


def generate(job: Job, report) -> None:
    p = job.params
    actor = Actor(p["actor_name"], p["actor_door"])

    def progress(result: services.GenerationResult) -> None:
        report(
            done=result.issued + result.skipped + result.failed,
            total=result.total,
            counts={"issued": result.issued, "skipped": result.skipped, "failed": result.failed},
            messages=result.messages,
        )

    services.generate(
        selection=services.Selection(
            usernames=p.get("usernames") or [], group=p.get("group"), all=p.get("all", False)
        ),
        slot=p["slot"],
        replace=p["replace"],
        actor=actor,
        notify=p.get("notify"),
        progress=progress,
        label=f"job {job.pk}",
    )
