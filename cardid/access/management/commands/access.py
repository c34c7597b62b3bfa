"""cardid access: what the guard refuses right now, and lifting it."""

from django.utils import timezone

from cardid.access import guard
from cardid.audit import services as audit
from cardid.commands import CardidCommand

KINDS = {
    "console": "console log-in",
    "password": "log-in (portal, terminal)",
    "pin-change": "portal PIN change",
    "register": "self-registration",
    "pin": "PIN look-ups of a number",
    "lookup": "look-ups",
}


class Command(CardidCommand):
    help = (
        "Locks of the guard (too many failed log-ins, PINs, look-ups, registrations): "
        "`access list`, `access unlock (--user U | --address A)`."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="what is refused right now, and until when")
        ls.add_argument("--format", choices=["text", "json"], default="text")
        u = sub.add_parser("unlock", help="forget the failures of an account or a client")
        who = u.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="an account: its log-ins, registrations and PINs")
        who.add_argument("--address", help="a client: an IP address, or token:NAME")

    def handle(self, *args, action, **opts):
        if action == "unlock":
            n = guard.unlock(user=opts["user"] or "", address=opts["address"] or "")
            who = f"user {opts['user']}" if opts["user"] else f"address {opts['address']}"
            audit.record(actor=self.actor, action="access.unlocked", target=who[:200])
            self.note(f"unlocked {who} ({n} counter(s) forgotten)")
            return
        locks = guard.locks()
        rows = [
            {
                "what": KINDS.get(lock.kind, lock.kind),
                "account": lock.account,
                "client": lock.client or "every client",
                "failures": lock.failures,
                "until": timezone.localtime(lock.until).isoformat(timespec="seconds"),
            }
            for lock in locks
        ]
        if opts["format"] == "json":
            self.print_json(rows)
            return
        if not rows:
            self.note("nothing is locked")
        for r in rows:
            self.stdout.write(
                f"{r['what']}\t{r['account'] or '-'}\t{r['client']}\t"
                f"{r['failures']} failures\tuntil {r['until']}"
            )
