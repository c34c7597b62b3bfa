"""The generation policy: which numbers may be generated, and how many fit (no Django import)."""

from __future__ import annotations

from dataclasses import dataclass

from cardid.cards import checkdigits

MIN_LENGTH, MAX_LENGTH = 4, 20
# Past this share of a space taken, random drawing slows down and guessing gets easy: the
# generator refuses rather than crawl, whatever the guess bound says.
MAX_FILL = 0.5


class PolicyError(ValueError):
    """The policy cannot be satisfied; the message says what to change."""


@dataclass(frozen=True)
class Policy:
    length: int = 8
    no_leading_zero: bool = True
    check_digit: str = "none"  # none | luhn | damm
    reject_weak_patterns: bool = True
    max_guess_probability: float = 0.0001

    def __post_init__(self) -> None:
        if not MIN_LENGTH <= self.length <= MAX_LENGTH:
            raise PolicyError(
                f"a generated number has {MIN_LENGTH} to {MAX_LENGTH} digits, not {self.length}"
            )
        if self.check_digit not in ("none", "luhn", "damm"):
            raise PolicyError(f"unknown check digit {self.check_digit!r}; use none, luhn or damm")
        if not 0 < self.max_guess_probability <= 1:
            raise PolicyError("the guess bound must be above 0 and at most 1")

    # -- the space ------------------------------------------------------------------------
    def random_digits(self) -> int:
        """Digits drawn at random; a check digit, when set, is computed, not drawn."""
        return self.length - (0 if self.check_digit == "none" else 1)

    def space_size(self, length: int | None = None) -> int:
        """How many distinct numbers this policy can generate at `length` digits."""
        n = (
            self.random_digits()
            if length is None
            else length - (self.length - self.random_digits())
        )
        return 9 * 10 ** (n - 1) if self.no_leading_zero else 10**n

    def capacity(self, length: int | None = None) -> int:
        """How many numbers may be in use at `length` digits without breaking the guess bound."""
        space = self.space_size(length)
        return min(int(space * self.max_guess_probability + 1e-9), int(space * MAX_FILL))

    def guess_probability(self, in_use: int) -> float:
        """Chance that one random keypad guess of this length hits some user's number."""
        return in_use / self.space_size()

    # -- single numbers -------------------------------------------------------------------
    def accepts(self, number: str) -> bool:
        """Whether `number` is one this policy could have generated."""
        if len(number) != self.length or not number.isascii() or not number.isdigit():
            return False
        if self.no_leading_zero and number[0] == "0":
            return False
        if self.check_digit != "none" and not checkdigits.VALID[self.check_digit](number):
            return False
        return not (self.reject_weak_patterns and is_weak(number))

    def finish(self, payload: str) -> str:
        """Append the check digit to drawn digits (or return them as they are)."""
        if self.check_digit == "none":
            return payload
        return payload + checkdigits.DIGIT[self.check_digit](payload)

    # -- room for a batch -----------------------------------------------------------------
    def check_room(self, *, in_use: dict[int, int], to_issue: int, unavailable: int = 0) -> None:
        """Refuse, naming the length to choose, if `to_issue` more numbers would not fit.

        `in_use` counts numeric numbers in use by length; `unavailable` counts numbers of this
        length that may not be generated (retired and in quarantine).
        """
        if to_issue <= 0:
            return
        used = in_use.get(self.length, 0)
        total = used + to_issue
        if total <= self.capacity() and total + unavailable <= self.space_size() * MAX_FILL:
            return
        reason = self._reason(used, to_issue, unavailable)
        better = next(
            (
                n
                for n in range(self.length + 1, MAX_LENGTH + 1)
                if in_use.get(n, 0) + to_issue <= self.capacity(n)
            ),
            None,
        )
        if better is None:
            raise PolicyError(
                f"{reason}; even {MAX_LENGTH} digits are not enough: raise "
                "cards.max-guess-probability or issue fewer numbers"
            )
        raise PolicyError(f"{reason}; set cards.length to {better} (or more) and run again")

    def _reason(self, used: int, to_issue: int, unavailable: int) -> str:
        space = self.space_size()
        total = used + to_issue
        head = f"cannot issue {to_issue:,} numbers of {self.length} digits"
        if total + unavailable > space * MAX_FILL and total <= self.capacity():
            return (
                f"{head}: the space of {space:,} numbers would be more than "
                f"{int(MAX_FILL * 100)}% taken ({used:,} in use, {unavailable:,} retired)"
            )
        odds = space / total
        bound = 1 / self.max_guess_probability
        return (
            f"{head}: with {used:,} already in use, one random keypad guess would hit some "
            f"user's number with a chance of 1 in {odds:,.0f}, above the bound of 1 in "
            f"{bound:,.0f} (at that bound, {self.length} digits allow at most "
            f"{self.capacity():,} number{'' if self.capacity() == 1 else 's'} in use)"
        )


def is_weak(number: str) -> bool:
    """All one digit, or a run up or down (123456, 654321, 8901234) over the whole number."""
    if len(number) < 2:
        return True
    step = (ord(number[1]) - ord(number[0])) % 10
    if step not in (0, 1, 9):
        return False
    return all((ord(b) - ord(a)) % 10 == step for a, b in zip(number[1:], number[2:], strict=False))
