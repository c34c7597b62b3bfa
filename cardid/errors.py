"""The one base of cardid's domain errors; every door maps it once, by its type."""


class CardidError(Exception):
    """A problem the caller can fix; the message names it and the way out. `field` names the
    input it concerns (a slot, an option, a form field) when there is one, so a door can put
    the message beside that input without reading the message."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class NotFound(CardidError):
    """The named thing does not exist."""


class Conflict(CardidError):
    """The change collides with the current state (a taken number, a stale edit)."""


class Invalid(CardidError):
    """The input is malformed or out of range."""


class TooLarge(CardidError):
    """The request asks for more work than cardid does in one answer; the message says how
    to ask for less."""


class Refused(CardidError):
    """The change is well-formed but a rule forbids it now (a guess bound, a sync guard, a
    switched-off feature); the message says which rule and how to proceed."""
