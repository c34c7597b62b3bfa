"""What a Card/ID number may look like, and the key it is matched by (no Django import)."""

import hashlib
import re

MAX_LENGTH = 64
SLOTS = ("primary", "secondary")
# What keypads and card readers produce: digits, letters (hex, ASCII-coded cards) and the
# hyphen some printed card numbers carry.
_ALLOWED = re.compile(r"[A-Za-z0-9-]+")


class NumberError(ValueError):
    """A number that cannot be stored; the message names the problem and the way out."""


def clean(raw: str) -> str:
    """The number as it will be stored: surrounding spaces trimmed, otherwise as given."""
    number = (raw or "").strip()
    if not number:
        raise NumberError("the number is empty; give a number, or clear the slot instead")
    if len(number) > MAX_LENGTH:
        raise NumberError(
            f"the number is {len(number)} characters long; at most {MAX_LENGTH} are allowed"
        )
    if not _ALLOWED.fullmatch(number):
        bad = sorted({c for c in number if not _ALLOWED.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad[:5])
        raise NumberError(
            f"the number contains {shown}, which no keypad or card reader sends; "
            "use letters, digits and '-' only"
        )
    return number


def key(number: str) -> str:
    """The normalised key that lookups and the uniqueness constraint use."""
    return number.strip().lower()


def keypad_length(number: str) -> int | None:
    """Length of a purely numeric number (what a keypad guess of that length could hit)."""
    return len(number) if number.isascii() and number.isdigit() else None


def digest(number_key: str) -> str:
    """A plain SHA-256 of a number's key: the input of the keyed digest a retired number is
    kept as (cardid.cards.selectors.retired_hash); never stored alone."""
    return hashlib.sha256(number_key.encode()).hexdigest()


def slot(raw: str) -> str:
    value = (raw or "").strip().lower()
    if value not in SLOTS:
        raise NumberError(f"unknown slot {raw!r}; use primary or secondary")
    return value
