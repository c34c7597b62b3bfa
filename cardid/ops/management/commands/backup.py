"""cardid backup: a consistent copy of the data, taken while the service runs."""

from pathlib import Path

from cardid.commands import CardidCommand
from cardid.ops import backups


class Command(CardidCommand):
    help = (
        "Write a backup of the database (SQLite's online backup, or pg_dump) and the keys "
        "it needs to FILE, readable by you only; the service may go on meanwhile."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the backup file to write (must not exist)")

    def handle(self, *args, file, **opts):
        manifest = backups.backup(Path(file))
        keys = ", ".join(manifest["keys"]) or "none (they come from the environment)"
        self.note(
            f"backup of the {manifest['database']} database written to {file} (keys: {keys}); "
            "keep it as safe as the data itself"
        )
