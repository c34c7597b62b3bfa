"""Luhn and Damm check digits (no Django import)."""

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def luhn_digit(payload: str) -> str:
    """The digit that makes payload + digit pass the Luhn check."""
    total = 0
    # Walking from the right, every second digit of the payload is doubled, starting with the
    # last (it becomes the second from the right once the check digit is appended).
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) > 1 and number.isdigit() and luhn_digit(number[:-1]) == number[-1]


def damm_digit(payload: str) -> str:
    interim = 0
    for ch in payload:
        interim = _DAMM[interim][int(ch)]
    return str(interim)


def damm_valid(number: str) -> bool:
    return len(number) > 1 and number.isdigit() and damm_digit(number) == "0"


DIGIT = {"luhn": luhn_digit, "damm": damm_digit}
VALID = {"luhn": luhn_valid, "damm": damm_valid}
