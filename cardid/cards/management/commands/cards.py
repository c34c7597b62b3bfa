"""cardid cards: conversion rules for card readers, printable ID cards."""

import os
import tempfile

from cardid.cards import batches, conversion, generation, rules
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
        p = sub.add_parser("print", help="a PDF of CR80 ID cards: name, number, Code 128")
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", nargs="+", action="extend", dest="users", metavar="U")
        who.add_argument("--group")
        who.add_argument("--all", action="store_true")
        p.add_argument("--slot", choices=["primary", "secondary"], default="primary")
        p.add_argument("--paper", choices=["a4", "letter"], default="a4")
        p.add_argument("--qr", action="store_true", help="add a QR code of the number")
        p.add_argument("--output", required=True, metavar="FILE.pdf")

    def handle(self, *args, action, **opts):
        if action == "rules":
            self._rules(**opts)
        elif action == "convert":
            if bool(opts["rule"]) == bool(opts["chain"]):
                raise Invalid("give a rule name or --chain, not both")
            self.stdout.write(rules.convert(opts["value"], rule=opts["rule"], chain=opts["chain"]))
        elif action == "print":
            self._print(**opts)
        else:
            self._derive(opts["file"])

    def _print(self, users, group, all, slot, paper, qr, output, **_):
        selection = generation.Selection(usernames=tuple(users or ()), group=group, all=all)
        folder = os.path.dirname(os.path.abspath(output))
        # Written next to the target and renamed at the end: a failed run leaves no half PDF.
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".pdf.part")
        except OSError as e:
            raise CardidError(f"cannot write to {folder}: {e.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as f:
                drawn, skipped = batches.render_cards(
                    selection=selection, slot=slot, paper=paper, with_qr=qr, out=f
                )
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.note(
            f"{drawn} card(s) written to {output}"
            + (f"; {skipped} user(s) without a {slot} number left out" if skipped else "")
        )

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
        result = rules.derive(text, source=path)
        if result.chain is None:
            for near in result.near_misses:
                self.note(f"near miss: {near}")
            raise CardidError(rules.NO_CHAIN)
        self.stdout.write(result.chain)
