"""Several machines on one PostgreSQL, and a PostgreSQL restart (SPEC §11): real `cardid
serve` processes with their workers; a private PostgreSQL cluster (initdb into a temp dir
as the `postgres` user, on its own port) restarted while a terminal looks numbers up —
never the shared server."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path

import pytest

from cardid.access import tokens
from cardid.audit.models import AuditEvent
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.jobs.models import Job
from cardid.notifications.models import OutboxMessage
from tests.conftest import free_port
from tests.factories import ADMIN, make_group, make_user
from tests.mailserver import MailServer, configure_smtp
from tests.pgcluster import PrivateCluster, postgres_bin


def serve(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cardid", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def call(url: str, body: dict | None = None, key: str = "", timeout: float = 10.0):
    """(status, JSON answer or None, seconds taken)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST" if body is not None else "GET",
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null"), time.monotonic() - started
    except urllib.error.HTTPError as e:
        return e.code, None, time.monotonic() - started
    except OSError:
        return None, None, time.monotonic() - started


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_servers_and_two_workers_run_each_job_and_send_each_message_once(subprocess_env):
    mail = MailServer().start()
    configure_smtp(mail.port)
    config.set_value(key="notify.card-admin-generated", raw="true", actor=ADMIN)
    singles = [
        make_user(username=f"one{i:02d}", email=f"one{i:02d}@example.org") for i in range(40)
    ]
    for u in singles:
        make_group(f"solo-{u.username}", [u])
    crowd = [
        make_user(username=f"many{i:03d}", email=f"many{i:03d}@example.org") for i in range(500)
    ]
    make_group("crowd", crowd)
    key = tokens.create(name="admin-script", scope="write", actor=ADMIN)[1]
    ports = [free_port(), free_port()]
    servers = [serve(subprocess_env, port) for port in ports]
    try:
        for port in ports:
            wait_for(lambda p=port: call(f"http://127.0.0.1:{p}/healthz")[0] == 200, what="up")
        groups = [f"solo-{u.username}" for u in singles] + ["crowd"]
        for i, group in enumerate(groups):
            status, _, _ = call(
                f"http://127.0.0.1:{ports[i % 2]}/api/v1/groups/{group}/generate",
                {"slot": "primary", "notify": True},
                key,
            )
            assert status == 202
        wait_for(
            lambda: Job.objects.filter(status="succeeded").count() == 41,
            timeout=180,
            what="41 jobs to succeed",
        )
        wait_for(lambda: len(mail.received) >= 540, timeout=120, what="540 messages")
        time.sleep(3)  # room for a duplicate to show, if there were one
    finally:
        stop(*servers)
        mail.stop()
    assert Job.objects.filter(takeovers=0).count() == 41
    # Each user numbered once, by one job; each message sent once.
    generated = AuditEvent.objects.filter(action="card.generated")
    assert generated.count() == 540 == generated.values("target").distinct().count()
    assert Card.objects.count() == 540
    recipients = [m.recipients[0] for m in mail.received]
    assert len(recipients) == 540 == len(set(recipients))
    assert OutboxMessage.objects.filter(status="sent").count() == 540


@pytest.mark.postgres_only
def test_a_postgresql_restart_is_survived_without_restarting_cardid(tmp_path):
    # Under /tmp itself: the postgres user cannot enter pytest's private temp dirs.
    home = Path(tempfile.mkdtemp(prefix="cardid-pg-"))
    home.chmod(0o755)
    cluster = PrivateCluster(home / "pg").init()
    cluster.start()
    cluster._as_postgres(
        postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "cardid"
    )
    env = {
        **os.environ,
        "CARDID_DATABASE_URL": cluster.url(),
        "CARDID_DATA_DIR": str(tmp_path / "data"),
        "CARDID_SECRET_KEY": "test-secret-key-for-the-private-cluster-0123456789",
    }
    env.pop("CARDID_TEST_POSTGRES", None)

    def cardid(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "cardid", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    port = free_port()
    server = None
    try:
        cardid("init")
        cardid("users", "add", "ann")
        cardid("set-number", "ann", "12345678")
        key = cardid("tokens", "create", "door", "--scope", "lookup").strip()
        server = serve(env, port)
        lookup = f"http://127.0.0.1:{port}/api/v1/lookup"
        wait_for(lambda: call(lookup, {"number": "12345678"}, key)[0] == 200, what="up")
        cluster.stop()
        # Answered, not hung (bench/resilience.py measures how fast it fails).
        status, body, _ = call(lookup, {"number": "12345678"}, key)
        assert status == 503, status
        terminal = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/rpc/api/xmlrpc")
        with pytest.raises(xmlrpc.client.Fault, match="database is unreachable"):
            terminal.api.lookUpUserNameByCardNo(key, "12345678")
        cluster.start()
        wait_for(
            lambda: call(lookup, {"number": "12345678"}, key)[0] == 200,
            timeout=15,
            what="look-ups to succeed again without restarting cardid",
        )
    finally:
        if server:
            stop(server)
        cluster.stop("immediate")
        shutil.rmtree(home, ignore_errors=True)
