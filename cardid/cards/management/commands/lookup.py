"""cardid lookup: who holds a number."""

from cardid.cards import lookups, rules
from cardid.commands import CardidCommand


class Command(CardidCommand):
    help = "Print the username holding NUMBER (either slot); exit 1 when nobody holds it."

    def add_arguments(self, parser):
        parser.add_argument("number")
        parser.add_argument("--pin", help="also require this PIN to match")
        parser.add_argument("--rule", help="convert NUMBER with this conversion rule first")

    def handle(self, *args, number, pin=None, rule=None, **opts):
        user = lookups.owner(number=rules.convert(number, rule=rule), pin=pin)
        if user is None:
            self.fail("no enabled user holds that number" + (" with that PIN" if pin else ""))
        self.stdout.write(user.username)
