"""Printable ID cards: CR80 cards (85.6 x 54 mm) with name, number, Code 128 barcode and an
optional QR code, laid out on A4 or Letter with crop marks (reportlab; no Django import)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from reportlab.pdfgen import canvas

# reportlab and segno are imported where a PDF is drawn: a process that only checks a
# print request, or generates numbers, does not pay for them.
mm = 72 / 25.4  # points, reportlab's unit
CARD_W, CARD_H = 85.6 * mm, 54 * mm
PAPERS = {"a4": (210 * mm, 297 * mm), "letter": (8.5 * 72, 11 * 72)}
# Eight cards a page: with gaps for crop marks this leaves a printable margin on both papers.
COLUMNS, ROWS = 2, 4
GAP = 6 * mm  # room between cards for the crop marks
MARK = 3 * mm


def render(
    cards: Iterable[tuple[str, str]],
    out: BinaryIO,
    *,
    paper: str = "a4",
    with_qr: bool = False,
    title: str = "cardid ID cards",
) -> int:
    """Draw one card per (full name, number); returns how many were drawn. Pages are
    finished as they fill, so the caller can feed the cards from a database cursor."""
    from reportlab.pdfgen import canvas

    page_w, page_h = PAPERS[paper]
    pdf = canvas.Canvas(out, pagesize=(page_w, page_h), pageCompression=1)
    pdf.setTitle(title)
    grid_w = COLUMNS * CARD_W + (COLUMNS - 1) * GAP
    grid_h = ROWS * CARD_H + (ROWS - 1) * GAP
    left, bottom = (page_w - grid_w) / 2, (page_h - grid_h) / 2
    per_page = COLUMNS * ROWS
    count = 0
    for name, number in cards:
        slot = count % per_page
        if count and slot == 0:
            pdf.showPage()
        col, row = slot % COLUMNS, slot // COLUMNS
        x = left + col * (CARD_W + GAP)
        y = bottom + grid_h - (row + 1) * CARD_H - row * GAP
        _card(pdf, x, y, name, number, with_qr)
        count += 1
    if count:
        pdf.showPage()
    pdf.save()
    return count


def _card(pdf: canvas.Canvas, x: float, y: float, name: str, number: str, with_qr: bool):
    _crop_marks(pdf, x, y)
    pad = 4 * mm
    text_w = CARD_W - 2 * pad - (20 * mm if with_qr else 0)
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(x + pad, y + CARD_H - pad - 9, _fit(pdf, name, "Helvetica-Bold", 11, text_w))
    pdf.setFont("Courier-Bold", 13)
    pdf.drawString(x + pad, y + CARD_H - pad - 26, number)
    from reportlab.graphics.barcode import code128

    # Bars at least 0.33 mm wide and 14 mm high: what a handheld scanner reads reliably.
    bar_width = 0.33 * mm
    barcode = code128.Code128(
        number, barHeight=14 * mm, barWidth=bar_width, humanReadable=False, quiet=True
    )
    while barcode.width > CARD_W - 2 * pad and bar_width > 0.2 * mm:
        bar_width *= 0.9
        barcode = code128.Code128(
            number, barHeight=14 * mm, barWidth=bar_width, humanReadable=False, quiet=True
        )
    barcode.drawOn(pdf, x + (CARD_W - barcode.width) / 2, y + pad)
    if with_qr:
        size = 18 * mm
        _qr(pdf, number, x + CARD_W - pad - size, y + CARD_H - pad - size, size)


QUIET = 4  # modules of white around a QR code, as the standard asks


def _qr(pdf: canvas.Canvas, text: str, x: float, y: float, size: float) -> None:
    """A QR code (segno encodes it) drawn as one filled path, a rectangle per run of dark
    modules: reportlab's own QR widget costs about 14 ms a card, this well under 2 ms."""
    import segno

    matrix = segno.make_qr(text, error="m", boost_error=False).matrix
    cell = size / (len(matrix) + 2 * QUIET)
    path = pdf.beginPath()
    for r, row in enumerate(matrix):
        top = y + size - (QUIET + r + 1) * cell
        c, n = 0, len(row)
        while c < n:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < n and row[c]:
                c += 1
            path.rect(x + (QUIET + start) * cell, top, (c - start) * cell, cell)
    pdf.drawPath(path, stroke=0, fill=1)


def _fit(pdf: canvas.Canvas, text: str, font: str, size: float, width: float) -> str:
    if pdf.stringWidth(text, font, size) <= width:
        return text
    while text and pdf.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _crop_marks(pdf: canvas.Canvas, x: float, y: float) -> None:
    pdf.setLineWidth(0.25)
    for cx in (x, x + CARD_W):
        for cy in (y, y + CARD_H):
            dx = -1 if cx == x else 1
            dy = -1 if cy == y else 1
            pdf.line(cx + dx * 1 * mm, cy, cx + dx * (1 * mm + MARK), cy)
            pdf.line(cx, cy + dy * 1 * mm, cx, cy + dy * (1 * mm + MARK))
