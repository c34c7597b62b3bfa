"""cardid import-numbers: set numbers from a file, all or nothing."""

from cardid.cards import transfer
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
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, file, dry_run, format, **opts):
        plan = transfer.import_numbers(data=self.read_file(file), actor=self.actor, dry_run=dry_run)
        if format == "json":
            self.print_json(plan.figures())
        for e in plan.errors:
            self.note(e)
        if plan.refused:
            raise Invalid(f"{len(plan.errors)} problem(s) in {file}; nothing was imported")
        if format == "text":
            verb = "would change" if dry_run else "changed"
            self.stdout.write(
                f"{plan.users} user(s) in the file: {verb} {plan.changed}, "
                f"{plan.unchanged} already so" + (" (dry run: nothing changed)" if dry_run else "")
            )
