"""cardid info: the version, the data dir, the database, and the workers alive."""

from importlib.metadata import version

from django.db import DatabaseError

from cardid import env
from cardid.commands import CardidCommand
from cardid.ops import backups, monitoring


class Command(CardidCommand):
    help = "Print cardid's version, data dir, database and whether a worker is alive."

    def handle(self, *args, **opts):
        self.stdout.write(f"cardid {version('cardid')}")
        self.stdout.write(f"data dir: {env.data_dir()}")
        self.stdout.write(f"database: {backups.database_label()}")
        try:
            alive = monitoring.workers()
        except DatabaseError:
            self.stdout.write("workers: unknown (the database is not initialised; `cardid init`)")
            return
        if alive:
            names = "; ".join(w.name for w in alive)
            self.stdout.write(f"workers: {len(alive)} alive ({names})")
        else:
            self.stdout.write(
                "workers: none seen in the last 30 s (`cardid serve` or `cardid worker`)"
            )
