"""cardid init: create or upgrade the database, and optionally the first administrator."""

from django.contrib.auth import get_user_model
from django.core.management import call_command

from cardid import env
from cardid.access import admins
from cardid.commands import CardidCommand
from cardid.errors import Invalid
from cardid.ops import backups


class Command(CardidCommand):
    help = (
        "Create or upgrade the database; with --admin, create the first administrator (or "
        "give an existing one a new password)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin", help="username of an administrator to create")
        parser.add_argument(
            "--password-file", help="file whose first line is the administrator's password"
        )

    def handle(self, *args, admin=None, password_file=None, **opts):
        if bool(admin) != bool(password_file):
            raise Invalid("--admin and --password-file go together")
        password = self.first_line(password_file) if password_file else ""
        if admin:
            admins.validate(name=admin, password=password)  # a weak password changes nothing
        call_command("migrate", interactive=False, verbosity=0)
        fixed = env.make_private(env.data_dir(), backups.sqlite_path())
        if fixed:
            self.note(f"made {fixed} file(s) in the data dir readable by its owner only")
        self.note(f"database is ready: {backups.database_label()} (data dir {env.data_dir()})")
        if not admin:
            return
        if get_user_model().objects.filter(username=admin, is_staff=True).exists():
            admins.set_password(name=admin, password=password, actor=self.actor)
            self.note(f"administrator {admin} updated")
        else:
            admins.add(name=admin, password=password, actor=self.actor)
            self.note(f"administrator {admin} created")
