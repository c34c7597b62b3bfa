"""cardid users: list, add and import card holders."""

import sys

from cardid import spreadsheet
from cardid.cards import registration
from cardid.commands import CardidCommand
from cardid.directory import selectors, services
from cardid.errors import Invalid


class Command(CardidCommand):
    help = "Card holders: `users list`, `users add USERNAME`, `users import FILE`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="all users, disabled ones included")
        ls.add_argument("--group")
        ls.add_argument("--format", choices=["text", "csv", "json"], default="text")
        add = sub.add_parser("add", help="add a local user")
        add.add_argument("username")
        for opt in ("full-name", "email", "department", "office"):
            add.add_argument(f"--{opt}", default="")
        rc = sub.add_parser(
            "registration-code",
            help="a one-time code the user types at a "
            "terminal to register a card (cards.self-registration)",
        )
        rc.add_argument("username")
        sp = sub.add_parser("set-password", help="a local password (first line of a file)")
        sp.add_argument("username")
        sp.add_argument("--password-file", required=True)
        imp = sub.add_parser(
            "import",
            help="CSV/TSV with a header: username, full-name, email, "
            "department, office, groups (;-separated)",
        )
        imp.add_argument("file")
        imp.add_argument("--dry-run", action="store_true")

    def handle(self, *args, action, **opts):
        getattr(self, f"_{action.replace('-', '_')}")(**opts)

    def _set_password(self, username, password_file, **_):
        lines = self.read_file(password_file).decode("utf-8", "replace").splitlines()
        services.set_password(
            username=username, password=lines[0] if lines else "", actor=self.actor
        )
        self.note(f"password of {username} set")

    def _registration_code(self, username, **_):
        self.stdout.write(registration.new_code(username=username, actor=self.actor))
        self.note("valid once, for cards.self-registration.code-minutes minutes")

    def _list(self, group=None, format="text", **_):
        users = selectors.list_users(group=group)
        records = (
            {
                "username": u.username,
                "full_name": u.full_name,
                "email": u.email,
                "department": u.department,
                "office": u.office,
                "enabled": u.enabled,
                "source": u.source,
                "groups": [g.name for g in u.groups.all()],
            }
            for u in users.iterator(chunk_size=2000)
        )
        if format == "json":
            self.print_json(list(records))
        elif format == "csv":
            w = spreadsheet.writer(sys.stdout)
            w.writeheader(
                [
                    "username",
                    "full_name",
                    "email",
                    "department",
                    "office",
                    "enabled",
                    "source",
                    "groups",
                ]
            )
            for r in records:
                w.writerow(
                    [
                        r["username"],
                        r["full_name"],
                        r["email"],
                        r["department"],
                        r["office"],
                        str(r["enabled"]).lower(),
                        r["source"],
                        ";".join(r["groups"]),
                    ]
                )
        else:
            for r in records:
                flag = "" if r["enabled"] else "  (disabled)"
                self.stdout.write(f"{r['username']}\t{r['full_name']}{flag}")

    def _add(self, username, **opts):
        user = services.add_user(
            username=username,
            actor=self.actor,
            full_name=opts["full_name"],
            email=opts["email"],
            department=opts["department"],
            office=opts["office"],
        )
        self.note(f"user {user.username} added")

    def _import(self, file, dry_run=False, **_):
        result = services.import_users(data=self.read_file(file), actor=self.actor, dry_run=dry_run)
        if result.errors:
            for e in result.errors:
                self.note(e)
            raise Invalid(f"{len(result.errors)} problem(s) in {file}; nothing was imported")
        verb = "would be" if dry_run else "were"
        self.note(
            f"{result.added} user(s) {verb} added, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.groups_added} group(s) created"
        )
