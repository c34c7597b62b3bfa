"""cardid export-numbers: every user's numbers as CSV."""

import sys

from cardid import spreadsheet
from cardid.cards import transfer
from cardid.commands import CardidCommand
from cardid.errors import CardidError


class Command(CardidCommand):
    help = "Write username,primary,secondary for every user (ordered by username) as CSV."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="output file (default: standard output)")
        parser.add_argument("--group")

    def handle(self, *args, file=None, group=None, **opts):
        rows = transfer.export_numbers(actor=self.actor, group=group)
        if file:
            try:
                out = open(file, "w", encoding="utf-8", newline="")  # noqa: SIM115
            except OSError as e:
                raise CardidError(f"cannot write {file}: {e.strerror}") from None
        else:
            out = sys.stdout
        try:
            w = spreadsheet.writer(out)
            w.writeheader(transfer.HEADER)
            n = 0
            for row in rows:
                w.writerow(row)
                n += 1
        finally:
            if file:
                out.close()
        if file:
            self.note(f"{n} user(s) written to {file}")
