"""The one base of cardid's domain errors; every door maps it once."""


class CardidError(Exception):
    """A problem the caller can fix; the message names it and the way out."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(CardidError):
    """The named thing does not exist."""


class Conflict(CardidError):
    """The change collides with the current state (a taken number, a stale edit)."""


class Invalid(CardidError):
    """The input is malformed or out of range."""
