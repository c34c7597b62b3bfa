"""cardid groups: list groups, add one, add members."""

from cardid.commands import CardidCommand
from cardid.directory import selectors, services


class Command(CardidCommand):
    help = "Groups: `groups list`, `groups add GROUP`, `groups add-member GROUP USERNAME...`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list")
        ls.add_argument("--format", choices=["text", "json"], default="text")
        add = sub.add_parser("add")
        add.add_argument("group")
        am = sub.add_parser("add-member")
        am.add_argument("group")
        am.add_argument("usernames", nargs="+")

    def handle(self, *args, action, **opts):
        if action == "list":
            groups = selectors.list_groups()
            if opts["format"] == "json":
                self.print_json([{"name": g.name, "members": g.member_count} for g in groups])
            else:
                for g in groups:
                    self.stdout.write(f"{g.name}\t{g.member_count}")
        elif action == "add":
            g = services.add_group(name=opts["group"], actor=self.actor)
            self.note(f"group {g.name} added")
        else:
            n = services.add_members(
                group=opts["group"], usernames=opts["usernames"], actor=self.actor
            )
            self.note(f"{n} member(s) added to {opts['group']}")
