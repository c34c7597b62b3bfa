"""cardid generate: random numbers for users, a group or everyone, as a job with progress."""

import sys
import time

from tqdm import tqdm

from cardid.cards.numbers import SLOTS
from cardid.commands import CardidCommand
from cardid.errors import CardidError
from cardid.jobs import runner
from cardid.jobs import services as jobs
from cardid.jobs.models import Job


class Command(CardidCommand):
    help = (
        "Generate random Card/ID numbers (--user U... | --group G | --all); waits for the "
        "job and shows its progress. Exit 1 when refused or when any user failed."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", nargs="+", action="extend", dest="users", metavar="U")
        who.add_argument("--group")
        who.add_argument("--all", action="store_true")
        parser.add_argument("--slot", choices=SLOTS, default="primary")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace existing numbers (default: only where blank)",
        )
        parser.add_argument(
            "--notify", action="store_true", default=None, help="e-mail each user the new number"
        )
        parser.add_argument("--no-notify", action="store_false", dest="notify")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="let a running `cardid worker` do the work; wait for it",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, users, group, all, slot, replace, notify, queue, format, **opts):
        actor = self.actor
        who = (
            "all users"
            if all
            else f"group {group}"
            if group
            else ", ".join(users[:5]) + (" …" if len(users) > 5 else "")
        )
        job = jobs.submit(
            kind="generate",
            params={
                "usernames": users or [],
                "group": group,
                "all": all,
                "slot": slot,
                "replace": replace,
                "notify": notify,
                "actor_name": actor.name,
                "actor_door": actor.door,
            },
            actor=actor,
            queue=queue,
            description=f"generate {slot} numbers for {who}"
            + (" (replace)" if replace else " (where blank)"),
        )
        bar = tqdm(total=0, unit="user", file=sys.stderr, disable=None, leave=False)

        def show(j: Job) -> None:
            bar.total = j.total
            bar.n = j.done
            bar.refresh()

        if queue:
            self.note(
                f"job {job.pk} queued; waiting for a worker (Ctrl+C stops waiting, not the job)"
            )
            while not job.finished:
                time.sleep(0.5)
                job.refresh_from_db()
                show(job)
        else:
            job = runner.run(job.pk, on_progress=show)
        bar.close()
        counts = job.counts or {}
        if format == "json":
            self.print_json(
                {
                    "job": job.pk,
                    "status": job.status,
                    "error": job.error,
                    **{k: counts.get(k, 0) for k in ("issued", "skipped", "failed")},
                    "total": job.total,
                    "messages": job.messages,
                }
            )
        if job.status == Job.Status.FAILED:
            raise CardidError(job.error)
        for m in job.messages:
            self.note(m)
        if format == "text":
            self.stdout.write(
                f"issued {counts.get('issued', 0)}, skipped "
                f"{counts.get('skipped', 0)}, failed {counts.get('failed', 0)} "
                f"(job {job.pk})"
            )
        if counts.get("failed"):
            raise CardidError(f"{counts['failed']} user(s) got no number; see the messages above")
