"""cardid sync: run the user/group sync now, in this process."""

from cardid.commands import CardidCommand
from cardid.directory.sync import engine
from cardid.errors import CardidError


class Command(CardidCommand):
    help = (
        "Sync users, groups and card numbers from the configured source (sync.source). "
        "Exit 1 when the sync failed or the safety guard stopped it."
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
        self.note("reading the source …")
        result = engine.run(actor=self.actor_sync, dry_run=dry_run)
        if format == "json":
            self.print_json(
                {
                    "run": result.run_id,
                    "status": result.status,
                    "message": result.message,
                    "counts": result.counts,
                    "errors": result.errors,
                    "diff": result.diff,
                }
            )
        else:
            for line in result.diff:
                self.stdout.write(line)
            c = result.counts
            if c:
                self.stdout.write(
                    f"{c.get('in_source', 0)} in source: {c.get('added', 0)} added, "
                    f"{c.get('updated', 0)} updated, {c.get('disabled', 0)} disabled, "
                    f"{c.get('deleted', 0)} deleted, {c.get('numbers_imported', 0)} numbers "
                    f"imported, {c.get('numbers_generated', 0)} generated (run {result.run_id})"
                )
            for e in result.errors[:50]:
                self.note(e)
        if not result.ok:
            raise CardidError(result.message)
        self.note(result.message)

    @property
    def actor_sync(self):
        from cardid.audit.actor import Actor

        return Actor(f"sync ({self.actor.name})", "sync")
