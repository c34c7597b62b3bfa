"""Printable ID cards: the PDF rendered to images and its barcodes read back."""

import shutil
import subprocess

import pytest

from tests.factories import give_number, make_group, make_user

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
        reason="needs pdftoppm and zbarimg: apt-get install poppler-utils "
        "zbar-tools (./dev test does it)",
    ),
]


def decode(pdf, tmp_path) -> list[str]:
    """Every barcode on every page, as zbarimg reads them from a 300 dpi rendering."""
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(pdf), str(tmp_path / "page")], check=True)
    found = []
    for png in sorted(tmp_path.glob("page*.png")):
        out = subprocess.run(
            [
                "zbarimg",
                "--quiet",
                "--raw",
                str(png),
            ],
            capture_output=True,
            text=True,
        )
        found += [line for line in out.stdout.splitlines() if line]
    return found


def pages(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages")))


def test_a_group_prints_and_every_barcode_reads_back_as_the_number(cli, tmp_path):
    users = [make_user(full_name=f"Person {i}") for i in range(12)]
    for i, u in enumerate(users):
        give_number(u, f"{10000000 + i * 7919}")
    give_number(users[0], "SECOND-1", slot="secondary")
    make_group("staff", members=users)
    out = tmp_path / "cards.pdf"
    r = cli("cards", "print", "--group", "staff", "--output", str(out))
    assert r.code == 0, r.err
    assert "12 card(s) written" in r.err
    assert pages(out) == 2  # eight CR80 cards to an A4 page
    assert sorted(decode(out, tmp_path)) == sorted(f"{10000000 + i * 7919}" for i in range(12))


def test_secondary_numbers_letter_paper_and_qr_codes(cli, tmp_path):
    ann = make_user(username="ann", full_name="Ann Archer")
    make_user(username="bob", full_name="Bob Baker")
    give_number(ann, "04A1B2C3", slot="secondary")
    give_number(ann, "11111111")
    out = tmp_path / "cards.pdf"
    r = cli(
        "cards",
        "print",
        "--user",
        "ann",
        "bob",
        "--slot",
        "secondary",
        "--paper",
        "letter",
        "--qr",
        "--output",
        str(out),
    )
    assert r.code == 0, r.err
    assert "1 user(s) without a secondary number left out" in r.err
    # The Code 128 barcode and the QR code both carry the number.
    assert decode(out, tmp_path) == ["04A1B2C3", "04A1B2C3"]
    # Ann's card, with her secondary number; Bob, who has none, is not on the sheet.
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "Ann Archer" in text and "04A1B2C3" in text
    assert "Bob Baker" not in text and "11111111" not in text


def test_printing_nobody_is_refused_and_writes_no_file(cli, tmp_path):
    make_group("empty")
    make_user(username="ann")
    out = tmp_path / "cards.pdf"
    r = cli("cards", "print", "--group", "empty", "--output", str(out))
    assert r.code == 1 and "nothing to print" in r.err
    r = cli("cards", "print", "--user", "ann", "--output", str(out))
    assert r.code == 1 and "none of the 1 selected user(s) has a primary number" in r.err
    assert not out.exists() and list(tmp_path.iterdir()) == []
