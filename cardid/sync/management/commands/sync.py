"""cardid sync: run the user/group sync now, in this process."""

from cardid.commands import CardidCommand
from cardid.errors import CardidError
from cardid.jobs import runner
from cardid.jobs.models import Job
from cardid.sync import engine, services


class Command(CardidCommand):
    help = (
        "Sync users, groups and card numbers from the configured source (sync.source). "
        "Exit 1 when the sync failed, the safety guard stopped it or auto-generation was "
        "refused (a dry run exits as the real run would)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would change; change nothing"
        )
        parser.add_argument(
            "--test-connection",
            action="store_true",
            help="connect to the source and report; change nothing",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, dry_run, test_connection, format, **opts):
        if test_connection:
            self.stdout.write(engine.test_connection())
            return
        job = services.start(actor=self.actor, dry_run=dry_run, queue=False)
        self.note("reading the source …")
        job = runner.run(job.pk)
        c = job.counts or {}
        if format == "json":
            self.print_json({k: c.get(k, None if k == "refused" else 0) for k in engine.FIGURES})
        else:
            for line in job.messages:
                self.stdout.write(line)
            if c:
                self.stdout.write(
                    f"{c.get('in_source', 0)} in source: {c.get('added', 0)} added, "
                    f"{c.get('updated', 0)} updated, {c.get('disabled', 0)} disabled, "
                    f"{c.get('deleted', 0)} deleted, {c.get('numbers_imported', 0)} numbers "
                    f"imported, {c.get('numbers_generated', 0)} generated"
                    + (" (dry run: nothing changed)" if dry_run else "")
                )
        if c.get("run"):
            self.note(f"sync run {c['run']} (job {job.pk})")
        if job.status == Job.Status.FAILED:
            raise CardidError(job.error)
