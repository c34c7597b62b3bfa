"""Jobs that survive their worker (SPEC §11): a lease renewed by a heartbeat; a job whose
worker stopped is taken over by another and resumes where it stood — no user numbered
twice, none skipped. Real worker processes, killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cardid import db
from cardid.audit.models import AuditEvent
from cardid.cards import batches
from cardid.cards.models import CARD_ROW, Card, RetiredNumber
from cardid.config import services as config
from cardid.directory.models import USER_ROW, Group, SyncLock, SyncRun, User
from cardid.jobs import runner
from cardid.jobs import services as jobs
from cardid.jobs.models import Job
from cardid.sync import schedule
from tests.factories import ADMIN, make_group, make_user

USERS = 100_000


def wait_for(predicate, timeout=60.0, what="condition", every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cardid", "worker", "--periodic-interval", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def numbered_users(n: int) -> None:
    """`n` users, each with a primary number already (so that a replacing generation that
    did someone twice, or skipped someone, shows)."""
    at = db.adapt_datetime(timezone.now())
    for start in range(0, n, 20_000):
        part = range(start, min(n, start + 20_000))
        db.insert_rows(
            User,
            USER_ROW,
            [
                (f"p{i:06d}", f"p{i:06d}", "", "", "", "", True, "local", "", "", at, at)
                for i in part
            ],
        )
    ids = list(User.objects.order_by("id").values_list("id", flat=True))
    db.insert_rows(
        Card,
        CARD_ROW,
        [(uid, "primary", f"X{uid}", f"x{uid}", None, "manual", at, "t") for uid in ids],
    )


@pytest.mark.django_db(transaction=True)
def test_a_generation_whose_worker_is_killed_is_taken_over_and_finishes(subprocess_env):
    config.set_value(key="cards.length", raw="10", actor=ADMIN)
    config.set_value(key="jobs.lease-seconds", raw="10", actor=ADMIN)
    numbered_users(USERS)
    target, _ = batches.resolve(kind="all")
    job = batches.generate(target=target, slot="primary", replace=True, notify=False, actor=ADMIN)
    first = worker(subprocess_env)
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).done >= USERS // 5, what="a fifth done")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        stuck = Job.objects.get(pk=job.pk)
        assert stuck.status == "running" and stuck.done < USERS
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    second = worker(subprocess_env)
    try:
        done = wait_for(
            lambda: (j := Job.objects.get(pk=job.pk)).finished and j,
            timeout=120,
            what="the second worker to finish the job",
            every=0.5,
        )
        took = time.monotonic() - killed_at
    finally:
        second.terminate()
        second.wait(timeout=20)
    assert done.status == "succeeded", done.error
    assert done.takeovers == 1 and "after its worker stopped" in done.takeover_note
    assert done.counts["issued"] == USERS and done.counts["failed"] == 0
    # Every user got exactly one new number from the job: none twice, none skipped.
    assert not Card.objects.filter(number__startswith="X").exists()
    assert RetiredNumber.objects.count() == USERS
    generated = AuditEvent.objects.filter(
        action="card.generated", detail__endswith=f"(job {job.pk})"
    )
    assert generated.count() == USERS == generated.values("target").distinct().count()
    assert took < 60  # lease 10 s, checked each second: a takeover well within a minute


@pytest.mark.django_db
def test_a_lease_shorter_than_a_chunk_needs_is_refused(cli):
    r = cli("config", "set", "jobs.lease-seconds", "3")
    assert r.code == 1 and r.err == "cardid: jobs.lease-seconds must be at least 10 (got 3)\n"
    assert config.get("jobs.lease-seconds") == 60


@pytest.mark.django_db
def test_a_job_whose_group_was_deleted_ends_failed_with_the_reason():
    make_group("leavers", [make_user()])
    target, _ = batches.resolve(kind="group", group="leavers")
    job = batches.generate(target=target, slot="primary", replace=False, notify=False, actor=ADMIN)
    Group.objects.filter(name="leavers").delete()
    job = runner.run(job.pk)
    assert job.status == "failed" and "unknown group 'leavers'" in job.error


@pytest.mark.django_db
def test_a_running_job_without_a_heartbeat_is_queued_again_once():
    job = Job.objects.create(
        kind="generate",
        status="running",
        started_at=timezone.now(),
        lease_until=timezone.now() - timedelta(seconds=1),
        worker="gone pid 1",
        params={},
        created_by="t",
    )
    alive = Job.objects.create(
        kind="generate",
        status="running",
        lease_until=timezone.now() + timedelta(seconds=30),
        params={},
        created_by="t",
    )
    assert jobs.reclaim() == [job.pk]
    assert jobs.reclaim() == []  # queued now: nobody queues it twice
    assert Job.objects.get(pk=alive.pk).status == "running"


@pytest.mark.django_db(transaction=True)
def test_a_sync_taken_over_runs_again_and_takes_its_lock_back(tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("username,email\nann,ann@example.org\n")
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    config.set_value(key="sync.file.path", raw=str(users), actor=ADMIN)
    job = jobs.submit(kind="sync", params={"actor_name": "t"}, actor=ADMIN, queue=False)
    # The first worker died holding the lock in the middle of its run.
    dead = SyncRun.objects.create(source="file", started_at=timezone.now(), actor="t")
    SyncLock.objects.create(
        name="file", holder=f"run {dead.pk}", taken_at=timezone.now(), job_id=job.pk
    )
    Job.objects.filter(pk=job.pk).update(
        status="running", started_at=timezone.now(), lease_until=timezone.now()
    )
    job = runner.run(job.pk)
    assert job.status == "succeeded", job.error
    assert User.objects.filter(username="ann").exists()
    dead.refresh_from_db()
    assert dead.status == "failed" and "interrupted" in dead.message


@pytest.mark.django_db(transaction=True)
def test_the_daily_sync_starts_once_whatever_the_number_of_workers(tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("username\nann\n")
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    config.set_value(key="sync.file.path", raw=str(users), actor=ADMIN)
    config.set_value(key="sync.schedule", raw="00:00", actor=ADMIN)
    start = threading.Barrier(4)

    def a_worker():
        try:
            start.wait()
            schedule.run_if_due()
        finally:
            connection.close()

    threads = [threading.Thread(target=a_worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Job.objects.filter(kind="sync").count() == 1
    assert SyncRun.objects.filter(trigger="schedule").count() == 1
