"""cardid tokens: create, list and revoke API tokens."""

import sys

from cardid.access import tokens
from cardid.access.models import ApiToken
from cardid.cards import rules
from cardid.commands import CardidCommand


class Command(CardidCommand):
    help = "API tokens: `tokens create NAME`, `tokens list`, `tokens revoke NAME`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        c = sub.add_parser("create", help="print a new token (once) on standard output")
        c.add_argument("name")
        c.add_argument("--scope", choices=ApiToken.Scope.values, default="read")
        c.add_argument(
            "--allow",
            nargs="+",
            action="extend",
            default=[],
            metavar="ADDR",
            help="client addresses or networks allowed to use it (default: any)",
        )
        c.add_argument("--conversion", default="", help="conversion rule for reader values")
        c.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            metavar="DAYS",
            help="the token stops working after this many days (default: never)",
        )
        ls = sub.add_parser("list")
        ls.add_argument("--format", choices=["text", "json"], default="text")
        r = sub.add_parser("revoke")
        r.add_argument("name")

    def handle(self, *args, action, **opts):
        if action == "create":
            token, key = tokens.create(
                name=opts["name"],
                scope=opts["scope"],
                allow=opts["allow"],
                rule=rules.get_rule(opts["conversion"]) if opts["conversion"] else None,
                expires_days=opts["expires_in_days"],
                actor=self.actor,
            )
            sys.stdout.write(key + "\n")
            self.note(f"token {token.name} ({token.scope}) created; it is shown only now")
        elif action == "revoke":
            tokens.revoke(name=opts["name"], actor=self.actor)
            self.note(f"token {opts['name']} revoked")
        else:
            rows = [
                {
                    "name": t.name,
                    "scope": t.scope,
                    "prefix": t.prefix,
                    "allow": t.allowed_addresses,
                    "revoked": t.revoked_at is not None,
                    "created_at": t.created_at.isoformat(),
                    "failed_lookups": failed,
                }
                for t, failed in tokens.listing()
            ]
            if opts["format"] == "json":
                self.print_json(rows)
                return
            for r in rows:
                state = "revoked" if r["revoked"] else "active"
                allow = ",".join(r["allow"]) or "any address"
                self.stdout.write(
                    f"{r['name']}\t{r['scope']}\t{r['prefix']}…\t{state}\t{allow}"
                    f"\tfailed look-ups now: {r['failed_lookups']}"
                )
