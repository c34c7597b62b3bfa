"""What a process keeps for at most a second: the options a look-up reads, API tokens, the
look-up clients found locked. SPEC §8 lets a change take a second to reach running servers
and workers; the process that makes a change forgets at once (`forget`)."""

from __future__ import annotations

import time
from typing import Any

SECONDS = 1.0
_every: list[Recent] = []


class Recent:
    """A map whose entries last `SECONDS` (or less), in one process; bounded in size."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._items: dict[Any, tuple[float, Any]] = {}
        _every.append(self)

    def get(self, key: Any, default: Any = None) -> Any:
        seen = self._items.get(key)
        if seen is not None and seen[0] > time.monotonic():
            return seen[1]
        return default

    def put(self, key: Any, value: Any, seconds: float = SECONDS) -> None:
        now = time.monotonic()
        if len(self._items) >= self.size:  # full: drop what has ended, else everything
            # A copy to walk and pop(): the web server's other threads put and read meanwhile.
            for k, (until, _) in list(self._items.items()):
                if until <= now:
                    self._items.pop(k, None)
            if len(self._items) >= self.size:
                self._items.clear()
        self._items[key] = (now + min(seconds, SECONDS), value)

    def forget(self) -> None:
        self._items.clear()


def forget_all() -> None:
    """Forget everything remembered in this process (tests: the database was rolled back)."""
    for recent in _every:
        recent.forget()
