"""cardid secrets: re-encrypt the stored secrets (passwords, webhook secrets) with a new key."""

from cardid.commands import CardidCommand
from cardid.ops import secrets


class Command(CardidCommand):
    help = (
        "`secrets rotate`: re-encrypt the stored secrets (the secret options and the "
        "webhooks' signing secrets) with a new key. The "
        "key file in the data dir gets the new key first and keeps the old ones; with "
        "CARDID_SECRETS_KEY, put the new key first in it (comma-separated), rotate, then "
        "drop the old key."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rotate", help="re-encrypt every stored secret with a new key")

    def handle(self, *args, action, **opts):
        count = secrets.rotate(actor=self.actor)
        self.note(f"{count} stored secret(s) re-encrypted with the new key")
