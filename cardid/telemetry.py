"""Counters that code anywhere increments and /metrics reports (prometheus-client, in its
multiprocess mode: each server process writes its own file under the data dir, and the
scrape adds them up). Gauges are read from the database at scrape time instead
(cardid.ops.monitoring)."""

from prometheus_client import Counter

LOOKUPS = Counter(
    "cardid_lookups", "Terminal look-ups by result (found, not_found, refused)", ["result"]
)
