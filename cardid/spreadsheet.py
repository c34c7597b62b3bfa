"""CSV for people with spreadsheets (no Django import): every CSV cardid writes goes through
`writer`, which quotes every data cell and neutralises what a spreadsheet would run as a
formula — a `'` goes before a `=`, `+`, `-`, `@`, tab, carriage return or `'` that starts
the cell or follows a `,`, `;` or tab inside it (OWASP's advice, extended to the separators
that a spreadsheet in another locale splits on: a German Excel opens CSV with `;`) — and
`unescape` reads such a cell back, so that an import takes what an export wrote."""

import csv
import re
from collections.abc import Iterable
from typing import Any

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
# A `'` is put before a dangerous character, or before a `'` (so that reading back takes
# off exactly what writing put on), at the start of a cell or after a separator in it.
_WHERE = r"(^|[,;\t])"
_NEUTRALISE = re.compile(_WHERE + r"(?=[=+\-@\t\r'])")
_READ_BACK = re.compile(_WHERE + r"'(?=[=+\-@\t\r'])")


def cell(value: Any) -> str:
    """A value as it goes into a CSV cell: formulas neutralised."""
    text = "" if value is None else str(value)
    return _NEUTRALISE.sub(r"\1'", text)


def unescape(text: str) -> str:
    """A cell as read back: the `'` that `cell` added are removed."""
    return _READ_BACK.sub(r"\1", text)


def delimiter(first_line: str) -> str:
    """The separator of a file, judged from its first line (what stands inside quotes not
    counted): a tab, else `;` when it has more semicolons than commas (what spreadsheets
    write in many European locales), else `,`."""
    outside = "".join(first_line.split('"')[::2])
    if "\t" in outside:
        return "\t"
    return ";" if outside.count(";") > outside.count(",") else ","


def separator_name(separator: str) -> str:
    return {"\t": "tabs", ";": "semicolons"}.get(separator, "commas")


class writer:  # noqa: N801 - used like csv.writer
    """csv.writer whose header row is plain (cardid's own words, as scripts compare it)
    and whose every other cell is quoted and neutralised (rows in, lines out)."""

    def __init__(self, out, **kw):
        kw.setdefault("lineterminator", "\n")
        self._header = csv.writer(out, **kw)
        self._w = csv.writer(out, quoting=csv.QUOTE_ALL, **kw)

    def writeheader(self, names: Iterable[str]):
        return self._header.writerow(list(names))

    def writerow(self, row: Iterable[Any]):
        return self._w.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
