"""The card ledger's refusals, one class each; every one carries the slot it concerns."""

from cardid.errors import Conflict, Invalid, Refused


class BadNumber(Invalid):
    """A number no keypad or card reader sends (characters, length, empty)."""


class NumberTaken(Conflict):
    """Another user holds the number. `holder` is their username and `holder_slot` the slot,
    for the doors that may say it (administrators); the message never names them."""

    def __init__(
        self, message: str, *, field: str | None = None, holder: str = "", holder_slot: str = ""
    ):
        super().__init__(message, field=field)
        self.holder, self.holder_slot = holder, holder_slot


class SameNumberTwice(Conflict):
    """The change would give one user the same number in both slots."""


class NumberNotAllowed(Invalid):
    """A number a user chose that the generation policy would not have generated."""


class NumberRetired(Conflict):
    """A number retired from someone and still in quarantine."""


class GenerationRefused(Refused):
    """Generation would break the guess bound or crowd the number space; nothing issued."""


class PlanOutdated(Conflict):
    """The data changed between a reviewed plan and its application; review again."""
