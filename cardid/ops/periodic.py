"""What the task worker does every few seconds, each in turn, going on past a failure:
deliver due notifications, take over the jobs of stopped workers, start the day's sync, and
now and then the housekeeping."""

import logging
import threading
import time

from django.db import close_old_connections

from cardid.errors import CardidError
from cardid.jobs import services as jobs
from cardid.notifications import services as notifications
from cardid.ops import housekeeping, monitoring
from cardid.outbound import services as outbound
from cardid.sync import schedule

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY = 600.0  # seconds
# When this process last did the housekeeping; None: not yet, so it runs at the worker's
# first tick (the monotonic clock starts near 0 when the machine boots: counting from 0.0
# left a freshly booted machine without housekeeping for ten minutes).
_last_housekeeping: list[float | None] = [None]


def _housekeeping() -> None:
    last = _last_housekeeping[0]
    if last is not None and time.monotonic() - last < HOUSEKEEPING_EVERY:
        return
    _last_housekeeping[0] = time.monotonic()
    gone = {k: n for k, n in housekeeping.clean().items() if n}
    if gone:
        log.info("housekeeping removed %s", ", ".join(f"{n} {k}" for k, n in gone.items()))


def _take_over() -> None:
    for pk in jobs.reclaim():
        log.warning("job %s: its worker stopped heart-beating; queued again to take it over", pk)


JOBS = [
    ("sign of life", monitoring.beat),
    ("deliver notifications", notifications.deliver_due),
    ("deliver webhooks and write-back", outbound.deliver_due),
    ("take over stopped jobs", _take_over),
    ("scheduled sync", schedule.run_if_due),
    ("housekeeping", _housekeeping),
]

_last_problem: dict[str, str] = {}


def run_once() -> None:
    for name, step in JOBS:
        try:
            step()
            _last_problem.pop(name, None)
        except CardidError as e:
            # A setting is missing or wrong: say so once, not every few seconds.
            if _last_problem.get(name) != str(e):
                log.warning("%s: %s", name, e)
                _last_problem[name] = str(e)
        except Exception:  # noqa: BLE001 - one job's bug must not stop the others
            log.exception("%s failed", name)
        finally:
            close_old_connections()


def start_ticker(interval: float) -> threading.Event:
    """Run `run_once` every `interval` seconds in a daemon thread; set the event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            run_once()
            stop.wait(interval)

    threading.Thread(target=loop, name="cardid-periodic", daemon=True).start()
    return stop
