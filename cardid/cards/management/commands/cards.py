"""cardid cards: conversion rules for card readers."""

from cardid.cards import conversion, rules
from cardid.cards.models import ConversionRule
from cardid.commands import CardidCommand
from cardid.errors import CardidError, Invalid


class Command(CardidCommand):
    help = (
        "Card readers: `cards rules list|set NAME CHAIN|delete NAME`, `cards convert "
        "(RULE | --chain CHAIN) VALUE`, `cards derive-rule FILE`. Steps: "
        + ", ".join(conversion.NAMES)
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        r = sub.add_parser("rules", help="named conversion rules")
        rsub = r.add_subparsers(dest="rules_action", required=True)
        rsub.add_parser("list")
        s = rsub.add_parser("set", help='e.g. rules set mifare "reverse-bytes,hex2dec,pad:10"')
        s.add_argument("name")
        s.add_argument("chain")
        d = rsub.add_parser("delete")
        d.add_argument("name")
        c = sub.add_parser("convert", help="print a reader value converted by a rule or chain")
        c.add_argument("rule", nargs="?")
        c.add_argument("value")
        c.add_argument("--chain")
        dr = sub.add_parser(
            "derive-rule",
            help="FILE of 'reader-value,card-number' lines; "
            "prints the shortest chain that maps every pair",
        )
        dr.add_argument("file")

    def handle(self, *args, action, **opts):
        if action == "rules":
            self._rules(**opts)
        elif action == "convert":
            if bool(opts["rule"]) == bool(opts["chain"]):
                raise Invalid("give a rule name or --chain, not both")
            self.stdout.write(rules.convert(opts["value"], rule=opts["rule"], chain=opts["chain"]))
        else:
            self._derive(opts["file"])

    def _rules(self, rules_action, **opts):
        if rules_action == "list":
            for rule in ConversionRule.objects.order_by("name"):
                self.stdout.write(f"{rule.name}\t{rule.chain}")
        elif rules_action == "set":
            rule = rules.set_rule(name=opts["name"], chain=opts["chain"], actor=self.actor)
            self.note(f"rule {rule.name} = {rule.chain}")
        else:
            rules.delete_rule(name=opts["name"], actor=self.actor)
            self.note(f"rule {opts['name']} deleted")

    def _derive(self, path: str) -> None:
        text = self.read_file(path).decode("utf-8-sig", "replace")
        pairs = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            cells = [c.strip() for c in line.replace("\t", ",").split(",")]
            if len(cells) != 2 or not all(cells):
                raise Invalid(f"{path}, line {lineno}: expected 'reader-value,card-number'")
            pairs.append((cells[0], cells[1]))
        try:
            result = conversion.derive(pairs)
        except conversion.ConversionError as e:
            raise Invalid(str(e)) from None
        if result.chain is None:
            for near in result.near_misses:
                self.note(f"near miss: {near}")
            raise CardidError(
                f"no chain of up to 3 steps maps all {len(pairs)} pairs; a "
                "regex: or substr: step may be needed (try `cards convert`)"
            )
        self.stdout.write(result.chain)
