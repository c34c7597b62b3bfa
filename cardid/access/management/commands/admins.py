"""cardid admins: the console's administrators with a local account."""

from cardid.access import admins
from cardid.commands import CardidCommand


class Command(CardidCommand):
    help = (
        "Console administrators: `admins list`, `admins add NAME --password-file FILE`, "
        "`admins set-password NAME --password-file FILE`, `admins remove NAME`. Passwords "
        "have at least 12 characters, are not common and not all digits."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list")
        for name, text in (("add", "a new administrator"), ("set-password", "a new password")):
            p = sub.add_parser(name, help=text)
            p.add_argument("name")
            p.add_argument(
                "--password-file", required=True, help="file whose first line is the password"
            )
        r = sub.add_parser("remove", help="the account goes, and its sessions end")
        r.add_argument("name")

    def handle(self, *args, action, **opts):
        if action == "list":
            for a in admins.listing():
                state = "active" if a.active else "inactive"
                self.stdout.write(f"{a.name}\t{state}\tlast log-in: {a.last_login}")
            return
        if action == "remove":
            admins.remove(name=opts["name"], actor=self.actor)
            self.note(f"administrator {opts['name']} removed")
            return
        password = self.first_line(opts["password_file"])
        if action == "add":
            admins.add(name=opts["name"], password=password, actor=self.actor)
            self.note(f"administrator {opts['name']} created")
        else:
            admins.set_password(name=opts["name"], password=password, actor=self.actor)
            self.note(f"password of {opts['name']} set; their other sessions have ended")
