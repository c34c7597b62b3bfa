"""cardid import-numbers: set numbers from a file, all or nothing."""

from cardid.cards import services
from cardid.commands import CardidCommand
from cardid.errors import Invalid


class Command(CardidCommand):
    help = (
        "Import numbers from a comma- or tab-separated FILE of username, primary[, "
        "secondary] lines (a header line is optional; a blank field leaves that slot as it "
        "is). Every problem is listed; if there is any, nothing is changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the file, or - for standard input")
        parser.add_argument("--dry-run", action="store_true", help="check only; change nothing")

    def handle(self, *args, file, dry_run, **opts):
        result = services.import_numbers(
            data=self.read_file(file), actor=self.actor, dry_run=dry_run
        )
        if result.errors:
            for e in result.errors:
                self.note(e)
            raise Invalid(f"{len(result.errors)} problem(s) in {file}; nothing was imported")
        if dry_run:
            self.note(
                f"{result.lines} line(s) checked: {result.changed} number(s) would change "
                "(dry run, nothing changed)"
            )
        else:
            self.note(f"{result.lines} line(s) imported: {result.changed} number(s) changed")
