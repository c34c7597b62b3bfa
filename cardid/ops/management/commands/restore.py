"""cardid restore: fill an empty data dir or database from a backup."""

from pathlib import Path

from django.core.management import call_command

from cardid.commands import CardidCommand
from cardid.ops import backups


class Command(CardidCommand):
    help = (
        "Restore a backup made by `cardid backup` into an empty data dir or database, then "
        "bring it up to this version's schema. A database with data in it is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the backup file")

    def handle(self, *args, file, **opts):
        manifest = backups.restore(Path(file))
        call_command("migrate", interactive=False, verbosity=0)
        self.note(
            f"restored the backup of {manifest['taken']} (cardid {manifest['cardid']}) into "
            f"{backups.database_label()}"
        )
