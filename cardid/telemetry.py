"""Counters that code anywhere increments and /metrics reports (prometheus-client, in its
multiprocess mode: each server process writes its own file under the data dir, and the
scrape adds them up). Gauges are read from the database at scrape time instead
(cardid.ops.monitoring). prometheus-client is loaded at the first count, not at start-up:
most commands count nothing."""

import functools


@functools.cache
def _lookups():
    from prometheus_client import Counter

    counter = Counter(
        "cardid_lookups", "Terminal look-ups by result (found, not_found, refused)", ["result"]
    )
    return {r: counter.labels(r) for r in ("found", "not_found", "refused")}


def count_lookup(result: str) -> None:
    """One terminal look-up: "found", "not_found" or "refused"."""
    _lookups()[result].inc()
