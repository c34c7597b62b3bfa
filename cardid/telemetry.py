"""Counters that code anywhere increments and /metrics reports (prometheus-client, in its
multiprocess mode: each server process writes its own file under the data dir, and the
scrape adds them up). Gauges are read from the database at scrape time instead
(cardid.ops.monitoring). prometheus-client is loaded at the first count, not at start-up:
most commands count nothing."""

import threading

_made = threading.Lock()
_lookups: dict | None = None


def _lookup_counters() -> dict:
    global _lookups
    if _lookups is None:
        # The web server's threads may count their first look-ups at once: the counter is
        # made by one of them (a second registration of its name would be an error).
        with _made:
            if _lookups is None:
                from prometheus_client import Counter

                counter = Counter(
                    "cardid_lookups",
                    "Terminal look-ups by result (found, not_found, refused)",
                    ["result"],
                )
                _lookups = {r: counter.labels(r) for r in ("found", "not_found", "refused")}
    return _lookups


def count_lookup(result: str) -> None:
    """One terminal look-up: "found", "not_found" or "refused"."""
    _lookup_counters()[result].inc()
