"""cardid set-number: give a user a number by hand."""

from cardid.cards import services
from cardid.cards.numbers import SLOTS
from cardid.commands import CardidCommand


class Command(CardidCommand):
    help = "Set a user's Card/ID number by hand (validated and checked for uniqueness)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("number")
        parser.add_argument("--slot", choices=SLOTS, default="primary")

    def handle(self, *args, username, number, slot, **opts):
        services.set_number(username=username, number=number, slot=slot, actor=self.actor)
        self.note(f"{slot} number of {username} set")
