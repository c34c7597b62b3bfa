"""cardid worker: run background jobs and the periodic housekeeping (notification delivery)."""

import logging
import time

from django.core.management import call_command
from django.db import InterfaceError, OperationalError, connections

from cardid.commands import CardidCommand
from cardid.ops import periodic

log = logging.getLogger("cardid.worker")
RETRY = 2.0  # seconds between attempts while the database is away


class Command(CardidCommand):
    help = (
        "Run the task worker: takes queued jobs from the database and runs them, and "
        "every few seconds delivers due notifications."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch",
            action="store_true",
            help="run what is queued and due once, then exit (for cron)",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="seconds between polls for jobs when idle (default 1)",
        )
        parser.add_argument(
            "--periodic-interval",
            type=float,
            default=5.0,
            help="seconds between housekeeping rounds (default 5)",
        )

    def handle(self, *args, batch=False, interval=1.0, periodic_interval=5.0, **opts):
        if batch:
            periodic.run_once()
        else:
            periodic.start_ticker(periodic_interval)
        while True:
            try:
                call_command(
                    "db_worker",
                    queue_name="*",
                    interval=interval,
                    batch=batch,
                    reload=False,
                    startup_delay=False,
                    verbosity=opts.get("verbosity", 1),
                )
                break
            except (OperationalError, InterfaceError) as e:
                # The database went away: wait for it, then go on (a job cut short is
                # taken over once its lease runs out).
                log.warning("the database is unreachable (%s); retrying in %.0f s", e, RETRY)
                connections.close_all()
                time.sleep(RETRY)
        if batch:
            periodic.run_once()
