"""The worker's periodic duties (cardid.ops.periodic)."""

import importlib
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from cardid.access.models import LookupCounter
from cardid.ops import periodic

pytestmark = pytest.mark.django_db


def old_counter() -> None:
    LookupCounter.objects.create(
        key="lookup:c:old",
        window_start=timezone.now() - timedelta(days=3),
        misses=1,
        kind="lookup",
    )


def test_housekeeping_runs_at_a_workers_first_tick_even_on_a_freshly_booted_machine():
    """The monotonic clock starts near 0 at boot: the first housekeeping must not wait for
    it to pass ten minutes (issue 31's finding). The clock is the one thing mocked here: a
    machine cannot be booted in a test."""
    old_counter()
    importlib.reload(periodic)  # as a worker process starts: nothing done yet
    with mock.patch.object(periodic.time, "monotonic", return_value=5.0):
        periodic._housekeeping()
        assert not LookupCounter.objects.exists()
        # Then every ten minutes, not at every tick.
        old_counter()
        periodic._housekeeping()
        assert LookupCounter.objects.exists()
        periodic.time.monotonic.return_value = 5.0 + periodic.HOUSEKEEPING_EVERY
        periodic._housekeeping()
        assert not LookupCounter.objects.exists()
