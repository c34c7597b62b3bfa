"""cardid clear-number: empty one slot of a user (the number is retired)."""

from cardid.cards import services
from cardid.cards.numbers import SLOTS
from cardid.commands import CardidCommand


class Command(CardidCommand):
    help = "Clear a user's Card/ID number in one slot; the old number is retired."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--slot", choices=SLOTS, default="primary")

    def handle(self, *args, username, slot, **opts):
        if services.clear_number(username=username, slot=slot, actor=self.actor):
            self.note(f"{slot} number of {username} cleared")
        else:
            self.note(f"{username} had no {slot} number")
