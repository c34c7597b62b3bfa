"""Housekeeping that the task worker runs every few seconds: each job in turn, going on past
a failure."""

import logging
import threading

from django.db import close_old_connections
from django.utils.module_loading import import_string

from cardid.errors import CardidError

log = logging.getLogger(__name__)

JOBS = [
    ("deliver notifications", "cardid.notifications.services.deliver_due"),
    ("scheduled sync", "cardid.sync.schedule.run_if_due"),
]

_last_problem: dict[str, str] = {}


def run_once() -> None:
    for name, path in JOBS:
        try:
            import_string(path)()
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
