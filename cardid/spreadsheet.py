"""CSV for people with spreadsheets (no Django import): every CSV cardid writes goes through
`writer`, which neutralises cells a spreadsheet would run as a formula — text starting with
`=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's advice) — and
`unescape` reads such a cell back, so that an import takes what an export wrote."""

import csv
from collections.abc import Iterable
from typing import Any

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as it goes into a CSV cell: formulas neutralised."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(DANGEROUS) else text


def delimiter(first_line: str) -> str:
    """The separator of a file, judged from its first line: a tab, else `;` when it has
    more semicolons than commas (what spreadsheets write in many European locales), else
    `,`."""
    if "\t" in first_line:
        return "\t"
    return ";" if first_line.count(";") > first_line.count(",") else ","


def separator_name(separator: str) -> str:
    return {"\t": "tabs", ";": "semicolons"}.get(separator, "commas")


def unescape(text: str) -> str:
    """A cell as read back: the leading `'` that `cell` added is removed."""
    return text[1:] if text.startswith("'") and text[1:].startswith(DANGEROUS) else text


class writer:  # noqa: N801 - used like csv.writer
    """csv.writer whose every cell is neutralised (rows in, lines out)."""

    def __init__(self, out, **kw):
        kw.setdefault("lineterminator", "\n")
        self._w = csv.writer(out, **kw)

    def writerow(self, row: Iterable[Any]):
        return self._w.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
