"""CSV cells for spreadsheets (cardid.spreadsheet, no Django): what writing neutralises,
reading back takes off exactly — for any text (issue 28)."""

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from cardid import spreadsheet

HOSTILE = [
    "x;=cmd|' /C calc'!A0;",
    "=1+1",
    "'=x",
    "'hello",
    "a\t\t=b",
    "-12",
    "a,b",
    "a;''x",
    "@SUM(A1)",
    "",
]


def test_a_formula_never_starts_a_cell_or_follows_a_separator():
    for text in HOSTILE:
        cell = spreadsheet.cell(text)
        for part in [cell, *cell.replace(";", ",").replace("\t", ",").split(",")[1:]]:
            assert not part.startswith(spreadsheet.DANGEROUS), (text, cell)


@given(st.text(alphabet=st.sampled_from("=+-@\t\r',;ab1 "), max_size=12))
def test_reading_back_takes_off_exactly_what_writing_put_on(text):
    assert spreadsheet.unescape(spreadsheet.cell(text)) == text


def test_data_cells_are_quoted_and_the_header_is_not():
    out = io.StringIO()
    w = spreadsheet.writer(out)
    w.writeheader(["username", "primary"])
    w.writerow(["x;=cmd", "123"])
    assert out.getvalue() == 'username,primary\n"x;\'=cmd","123"\n'
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [spreadsheet.unescape(c) for c in rows[1]] == ["x;=cmd", "123"]


def test_the_separator_is_judged_outside_quotes():
    assert spreadsheet.delimiter('"a;b;c","123"') == ","
    assert spreadsheet.delimiter("a;b;c,1") == ";"
    assert spreadsheet.delimiter("a\tb") == "\t"
