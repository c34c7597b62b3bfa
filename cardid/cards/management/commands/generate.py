"""cardid generate: random numbers for users, a group or everyone, as a job with progress."""

import sys
import time

from tqdm import tqdm

from cardid.cards import batches, generation
from cardid.cards.numbers import SLOTS
from cardid.commands import CardidCommand
from cardid.errors import CardidError
from cardid.jobs import runner
from cardid.jobs.models import Job


class Command(CardidCommand):
    help = (
        "Generate random Card/ID numbers (--user U... | --group G | --all); waits for the "
        "job and shows its progress. --dry-run says what the run would do. Exit 1 when "
        "refused or when any user failed."
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
            "--dry-run", action="store_true", help="say what would be done; change nothing"
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="let a running `cardid worker` do the work; wait for it",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, users, group, all, slot, replace, notify, dry_run, queue, format, **o):
        kind = "all" if all else "group" if group else "users"
        target, _ = batches.resolve(kind=kind, group=group or "", usernames=" ".join(users or []))
        plan = batches.review(target=target, slot=slot, replace=replace, notify=notify)
        if dry_run or plan.refused:
            self._report(plan.figures(), format, dry_run=dry_run)
            if plan.refused:
                raise CardidError(plan.refused)
            return
        job = batches.generate(
            target=target, slot=slot, replace=replace, notify=notify, actor=self.actor, queue=queue
        )
        job = self._wait(job, queue)
        figures = {k: (job.counts or {}).get(k, 0) for k in generation.FIGURES}
        figures["refused"] = (job.counts or {}).get("refused")
        self._report(figures, format, messages=job.messages, job=job.pk)
        if job.status == Job.Status.FAILED:
            raise CardidError(job.error)
        if figures["failed"]:
            raise CardidError(f"{figures['failed']} user(s) got no number; see the messages above")

    def _wait(self, job: Job, queue: bool) -> Job:
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
        return job

    def _report(self, figures: dict, format: str, *, dry_run=False, messages=(), job=None):
        if format == "json":
            self.print_json(figures)
        for m in messages:
            self.note(m)
        if format == "text":
            head = "would issue" if dry_run else "issued"
            line = (
                f"{head} {figures['issued']}, skipped {figures['skipped']}, failed "
                f"{figures['failed']} of {figures['users']} user(s)"
            )
            if figures["notifications"]:
                line += (
                    f"; {figures['notifications']} notification(s)"
                    f" ({figures['without_email']} without an e-mail address)"
                )
            self.stdout.write(line + (" (dry run: nothing changed)" if dry_run else ""))
        if job is not None:
            self.note(f"job {job}")
