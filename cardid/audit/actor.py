"""Who made a change and through which door (no Django import)."""

from dataclasses import dataclass

DOORS = ("console", "portal", "api", "xmlrpc", "cli", "sync", "system")


@dataclass(frozen=True)
class Actor:
    name: str
    door: str

    def __post_init__(self) -> None:
        if self.door not in DOORS:
            raise ValueError(f"unknown door {self.door!r}")

    def __str__(self) -> str:
        return f"{self.name} ({self.door})"


def mask(number: str) -> str:
    """A number as audit rows and messages show it: all but the last two characters hidden."""
    if len(number) <= 4:
        return "*" * len(number)
    return "*" * (len(number) - 2) + number[-2:]


def mask_many(numbers: list[str], length: int) -> list[str]:
    """mask() of many numbers that all have `length` characters (bulk work's audit rows)."""
    if length <= 4:
        return ["*" * length] * len(numbers)
    hidden = "*" * (length - 2)
    return [hidden + n[-2:] for n in numbers]
