"""Benchmark: how long a takeover and a recovery take (issue 16).

(a) Takeover, on SQLite and on PostgreSQL: 100,000 users with a number each; a replacing
    generation run by one `cardid worker`, killed with SIGKILL a fifth of the way in; a
    second worker started at once. Measured: from the kill to the job's next heartbeat
    (the takeover) and to its end, with jobs.lease-seconds 10 (the least allowed) and 60
    (the default, on SQLite).
(b) Recovery: cardid serve on a private PostgreSQL cluster; the cluster stopped while a
    terminal looks a number up twice a second, then started again. Measured: the slowest
    answer while it is down, and from its start to the first look-up that succeeds.

    .venv/bin/python bench/resilience.py

Targets (issue 16): a look-up answers within 5 s while the database is down and succeeds
again within 15 s after it is back.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, run_child, setup_django  # noqa: E402

USERS = 100_000


def setup(lease: int) -> dict:
    setup_django()
    from django.core.management import call_command
    from django.utils import timezone

    from cardid import db
    from cardid.audit.actor import Actor
    from cardid.cards import batches
    from cardid.cards.models import CARD_ROW, Card
    from cardid.config import services as config
    from cardid.directory.models import USER_ROW, User

    call_command("migrate", verbosity=0)
    who = Actor("bench", "cli")
    config.set_value(key="cards.length", raw="10", actor=who)
    config.set_value(key="jobs.lease-seconds", raw=str(lease), actor=who)
    at = db.adapt_datetime(timezone.now())
    db.insert_rows(
        User,
        USER_ROW,
        [
            (f"p{i:06d}", f"p{i:06d}", "", "", "", "", True, "local", "", "", at, at)
            for i in range(USERS)
        ],
    )
    ids = list(User.objects.values_list("id", flat=True))
    db.insert_rows(
        Card, CARD_ROW, [(u, "primary", f"X{u}", f"x{u}", None, "manual", at, "b") for u in ids]
    )
    target, _ = batches.resolve(kind="all")
    job = batches.generate(target=target, slot="primary", replace=True, notify=False, actor=who)
    return {"job": job.pk}


def job_state(job_id: int) -> dict:
    setup_django()
    from cardid.jobs.models import Job

    j = Job.objects.get(pk=job_id)
    return {
        "status": j.status,
        "done": j.done,
        "takeovers": j.takeovers,
        "heartbeat": j.heartbeat_at.timestamp() if j.heartbeat_at else 0,
        "issued": j.counts.get("issued", 0),
    }


def worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cardid", "worker", "--periodic-interval", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def state(env: dict, job: int) -> dict:
    return run_child(__file__, "--phase", "state", "--job", str(job), env=env)


def takeover(kind: str, lease: int, workdir: Path) -> dict:
    env = database_env(kind, workdir)
    env["PYTHONPATH"] = str(ROOT)
    job = run_child(__file__, "--phase", "setup", "--lease", str(lease), env=env)["job"]
    first = worker(env)
    while state(env, job)["done"] < USERS // 5:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed = time.time()
    second = worker(env)
    try:
        while (s := state(env, job))["takeovers"] == 0:
            time.sleep(0.2)
        taken = time.time() - killed
        while s["status"] == "running" or s["status"] == "queued":
            time.sleep(0.5)
            s = state(env, job)
        finished = time.time() - killed
    finally:
        second.terminate()
        second.wait()
    assert s["status"] == "succeeded" and s["issued"] == USERS, s
    return {"db": kind, "lease": lease, "takeover_s": taken, "finished_s": finished}


def recovery(workdir: Path) -> dict:
    import urllib.error
    import urllib.request

    from tests.conftest import free_port
    from tests.pgcluster import PrivateCluster, postgres_bin

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
        "CARDID_DATA_DIR": str(workdir / "recovery"),
        "CARDID_SECRET_KEY": "bench-secret-key-0123456789-0123456789",
        "PYTHONPATH": str(ROOT),
    }

    def cardid(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "cardid", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    cardid("init")
    cardid("users", "add", "ann")
    cardid("set-number", "ann", "12345678")
    key = cardid("tokens", "create", "door", "--scope", "lookup").strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cardid", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def lookup() -> tuple[int | None, float]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/lookup",
            data=json.dumps({"number": "12345678"}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, time.monotonic() - started
        except urllib.error.HTTPError as e:
            return e.code, time.monotonic() - started
        except OSError:
            return None, time.monotonic() - started

    try:
        while lookup()[0] != 200:
            time.sleep(0.2)
        cluster.stop()
        down = [lookup() for _ in range(10) if not time.sleep(0.5)]
        cluster.start()
        back = time.monotonic()
        while lookup()[0] != 200:
            time.sleep(0.1)
        recovered = time.monotonic() - back
    finally:
        server.terminate()
        server.wait()
        cluster.stop("immediate")
    return {
        "down_statuses": sorted({s for s, _ in down if s}),
        "down_slowest_s": max(t for _, t in down),
        "recovered_s": recovered,
    }


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--phase")
    ap.add_argument("--lease", type=int, default=10)
    ap.add_argument("--job", type=int)
    args = ap.parse_args()
    if args.phase == "setup":
        print(json.dumps(setup(args.lease)))
        return
    if args.phase == "state":
        print(json.dumps(job_state(args.job)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for kind, lease in (("sqlite", 10), ("postgres", 10), ("sqlite", 60)):
            row = takeover(kind, lease, Path(tmp) / f"{kind}-{lease}")
            print(json.dumps(row), flush=True)
            rows.append(row)
        rec = recovery(Path(tmp))
        print(json.dumps(rec), flush=True)
    lines = [
        heading("Takeover and recovery (issue 16)"),
        f"(a) {USERS:,} users, a replacing generation; its worker killed with SIGKILL a fifth "
        "of the way in and a second worker started at once. Times from the kill. "
        "(b) cardid serve on a private PostgreSQL cluster, stopped and started while a "
        "terminal looks up a number. Targets: an answer within 5 s while the database is "
        "down; look-ups succeed again within 15 s after it is back.\n",
        "| database | lease | taken over after | job finished after |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['lease']} s | {r['takeover_s']:.1f} s | {r['finished_s']:.1f} s |"
        )
    ok_down = rec["down_slowest_s"] <= 5
    ok_back = rec["recovered_s"] <= 15
    lines += [
        "",
        f"Recovery: while PostgreSQL was down the look-ups answered {rec['down_statuses']} "
        f"within {rec['down_slowest_s']:.2f} s at most ({'met' if ok_down else 'MISSED'}); "
        f"after it started again the first look-up succeeded after {rec['recovered_s']:.2f} s "
        f"({'met' if ok_back else 'MISSED'}).",
    ]
    append_results(lines)


if __name__ == "__main__":
    main()
