"""Generating at once: several processes into a small number space (PostgreSQL), and
several generations against one guess bound (both databases)."""

import json
import subprocess
import sys
import threading

import pytest
from django.db import connection

from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.models import User
from tests.factories import ADMIN


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
def test_concurrent_generators_hand_out_no_number_twice_and_lose_no_user(subprocess_env):
    # A 4-digit space (9,000 numbers) with 2,400 users: drawn numbers collide across
    # processes often, so the redraw path is exercised, not just the happy one.
    for key, value in [
        ("cards.length", "4"),
        ("cards.max-guess-probability", "1"),
        ("cards.reject-weak-patterns", "false"),
    ]:
        config.set_value(key=key, raw=value, actor=ADMIN)
    User.objects.bulk_create([User(username=f"u{i}", username_key=f"u{i}") for i in range(2400)])
    names = [f"u{i}" for i in range(2400)]
    # Four processes: two on disjoint halves, two on everyone (overlapping all of them).
    selections = [names[:1200], names[1200:], None, None]
    procs = []
    for sel in selections:
        args = ["--all"] if sel is None else ["--user", *sel]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "cardid", "generate", *args, "--format", "json"],
                env=subprocess_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [p.communicate(timeout=300) for p in procs]
    issued = 0
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        issued += json.loads(out)["issued"]
    # Each user was given a number exactly once, whichever process got there first.
    assert issued == 2400
    numbers = list(Card.objects.values_list("number_key", flat=True))
    assert len(numbers) == 2400 == len(set(numbers))
    assert Card.objects.values("user").distinct().count() == 2400


@pytest.mark.django_db(transaction=True)
def test_generations_released_at_the_same_instant_never_pass_the_guess_bound():
    """Three generations of 50 at once where the bound allows 90: the bound is checked under
    the number-space lock together with the insert, so one runs and two are refused."""
    from cardid.cards import generation
    from tests.factories import make_group, make_user

    config.set_value(key="cards.length", raw="6", actor=ADMIN)  # 900,000 numbers: 90 fit
    groups = [make_group(f"g{i}", [make_user() for _ in range(50)]).name for i in range(3)]
    start = threading.Barrier(3)
    results = {}

    def run(group: str) -> None:
        try:
            start.wait()
            results[group] = generation.generate(
                selection=generation.Selection(group=group),
                slot="primary",
                replace=False,
                actor=ADMIN,
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    issued = sorted(r.issued for r in results.values())
    refused = [r.refused for r in results.values() if r.refused]
    assert Card.objects.count() == sum(issued) <= 90
    assert issued == [0, 0, 50] and len(refused) == 2
    assert all("above the bound of 1 in 10,000" in r for r in refused)
