"""cardid worker: run background jobs (bulk generation, sync, notifications)."""

from django.core.management import call_command

from cardid.commands import CardidCommand


class Command(CardidCommand):
    help = "Run the task worker: takes queued jobs from the database and runs them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch", action="store_true", help="run what is queued, then exit (for cron)"
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="seconds between polls when idle (default 1)",
        )

    def handle(self, *args, batch=False, interval=1.0, **opts):
        call_command(
            "db_worker",
            queue_name="*",
            interval=interval,
            batch=batch,
            reload=False,
            startup_delay=False,
            verbosity=opts.get("verbosity", 1),
        )
