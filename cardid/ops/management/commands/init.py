"""cardid init: create or upgrade the database, and optionally the first administrator."""

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from cardid.audit import services as audit
from cardid.commands import CardidCommand
from cardid.errors import Invalid


class Command(CardidCommand):
    help = "Create or upgrade the database; with --admin, create the first administrator."

    def add_arguments(self, parser):
        parser.add_argument("--admin", help="username of an administrator to create")
        parser.add_argument(
            "--password-file", help="file whose first line is the administrator's password"
        )

    def handle(self, *args, admin=None, password_file=None, **opts):
        if bool(admin) != bool(password_file):
            raise Invalid("--admin and --password-file go together")
        password = None
        if password_file:
            lines = self.read_file(password_file).decode("utf-8", "replace").splitlines()
            password = lines[0] if lines else ""
            if not password:
                raise Invalid(f"{password_file} is empty; put the password on its first line")
        call_command("migrate", interactive=False, verbosity=0)
        self.note("database is ready")
        if admin:
            self._admin(admin, password)

    @transaction.atomic
    def _admin(self, name: str, password: str) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=name)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        audit.record(
            actor=self.actor,
            action="admin.created" if created else "admin.password-set",
            target=name,
        )
        self.note(f"administrator {name} {'created' if created else 'updated'}")
