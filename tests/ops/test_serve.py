"""`cardid serve` and `cardid worker` as separate processes against the test database."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from cardid.cards.models import Card
from cardid.jobs.models import Job
from tests.conftest import free_port
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def worker_batch(env):
    """`cardid worker --batch` in its own process: runs what is queued and due, then exits."""
    return subprocess.run(
        [sys.executable, "-m", "cardid", "worker", "--batch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, json.loads(r.read())
    except OSError:
        return None


def test_serve_answers_healthz_and_its_worker_runs_queued_jobs(cli, subprocess_env):
    users = [make_user() for _ in range(3)]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cardid", "serve", "--port", str(port), "--workers", "1"],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        status = wait_for(lambda: get_json(f"http://127.0.0.1:{port}/healthz"), what="/healthz")
        assert status[0] == 200
        assert status[1]["database"] == "ok" and status[1]["status"] in ("ok", "degraded")
        r = cli("generate", "--all", "--queue")
        assert r.code == 0, r.err
        assert r.out.startswith("issued 3")
        assert Card.objects.filter(user__in=users).count() == 3
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, err
    assert "no administrator yet: create one with `cardid init --admin NAME" in err


def test_serve_refuses_an_uninitialised_database(tmp_path, subprocess_env):
    env = dict(subprocess_env, CARDID_DATABASE_URL=f"sqlite:///{tmp_path}/empty.sqlite3")
    r = subprocess.run(
        [sys.executable, "-m", "cardid", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "cardid: the database is not initialised or not up to date; run `cardid init` first"
    )


def test_worker_batch_runs_what_is_queued_then_exits(cli, subprocess_env):
    make_user()
    from cardid.audit.actor import Actor
    from cardid.jobs import services as jobs

    actor = Actor("tester", "cli")
    job = jobs.submit(
        kind="generate",
        params={
            "all": True,
            "slot": "secondary",
            "replace": False,
            "notify": False,
            "actor_name": actor.name,
            "actor_door": "cli",
        },
        actor=actor,
    )
    r = worker_batch(subprocess_env)
    assert r.returncode == 0, r.stderr
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert (job.counts["issued"], job.counts["skipped"], job.counts["failed"]) == (1, 0, 0)
    assert Card.objects.filter(slot="secondary").count() == 1


def test_the_worker_delivers_queued_notifications(subprocess_env):
    from cardid.cards import generation
    from cardid.notifications.models import OutboxMessage
    from tests.factories import ADMIN
    from tests.mailserver import MailServer, configure_smtp

    server = MailServer().start()
    try:
        configure_smtp(server.port)
        ann = make_user(email="ann@example.org")
        generation.generate(
            selection=generation.Selection(usernames=[ann.username]),
            slot="primary",
            replace=False,
            actor=ADMIN,
            notify=True,
        )
        r = worker_batch(subprocess_env)
        assert r.returncode == 0, r.stderr
        assert OutboxMessage.objects.get().status == "sent"
        assert [m.recipients for m in server.received] == [["ann@example.org"]]
    finally:
        server.stop()


def test_slow_clients_do_not_starve_the_server(tmp_path):
    """Two connections that send a header line every second, and two that send a body a
    byte a second (slow-loris), against one web process: /healthz still answers, each time
    within 2 s (it took 32 s with synchronous workers)."""
    import socket
    import threading

    from tests.ops.helpers import Site, request

    site = Site(tmp_path / "data")
    site.run("init")
    port = site.serve("--no-worker")  # one web process (tests.ops.helpers)
    stop = threading.Event()
    slow = []

    def drip(lines):
        s = socket.create_connection(("127.0.0.1", port))
        slow.append(s)
        try:
            for line in lines:
                if stop.wait(1.0):
                    return
                s.sendall(line)
        except OSError:
            pass

    headers = [b"GET /healthz HTTP/1.1\r\n"] + [b"X-Slow: %d\r\n" % i for i in range(30)]
    body = [
        b"POST /api/v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 64\r\n"
        b"Content-Type: application/json\r\n\r\n"
    ] + [b"x"] * 30
    drippers = [threading.Thread(target=drip, args=(lines,)) for lines in (headers,) * 2]
    drippers += [threading.Thread(target=drip, args=(lines,)) for lines in (body,) * 2]
    for t in drippers:
        t.start()
    try:
        time.sleep(3)  # the slow clients are connected and dripping
        for _ in range(5):
            conn_answer = request(port, "/healthz", timeout=2.0)  # raises past 2 s
            assert conn_answer.status == 200
            time.sleep(0.5)
    finally:
        stop.set()
        for s in slow:
            s.close()
        for t in drippers:
            t.join(timeout=5)
        site.stop()
