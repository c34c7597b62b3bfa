"""Benchmark: terminal look-ups against 1,000,000 users, on SQLite and on PostgreSQL.

cardid's POST /api/v1/lookup (token check, look-up protection, the look-up itself) served
by gunicorn, under wrk; compared in the same run with the limit: a bare WSGI application
doing the same indexed SELECT (bench/bare_lookup.py), served by gunicorn the same way.
Then the latency of each at a steady 200 requests/s.

    .venv/bin/python bench/lookup.py [--users 1000000] [--dbs sqlite,postgres]

Targets (issue 7): throughput >= 0.6 x the limit; p99 <= 10 ms at 200 requests/s.
"""

import argparse
import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import (  # noqa: E402
    append_results,
    database_env,
    heading,
    insert_users,
    run_child,
    setup_django,
)

WORKERS = 4
SAMPLE = 2000


def setup(users: int) -> dict:
    setup_django()
    import secrets

    from django.core.management import call_command
    from django.utils import timezone

    from cardid import db

    if (ROOT / "cardid" / "access").is_dir():
        from cardid.access import tokens
    else:  # cardid before issue 14 (a baseline run of an older checkout)
        from cardid.api import tokens
    from cardid.audit.actor import Actor
    from cardid.cards.models import CARD_ROW, Card
    from cardid.directory.models import User

    call_command("migrate", verbosity=0)
    now = db.adapt_datetime(timezone.now())
    for start in range(0, users, 100_000):
        part = range(start, min(users, start + 100_000))
        insert_users(part, email=False)
    ids = list(User.objects.order_by("id").values_list("id", flat=True))
    sample = []
    seen = set()
    for start in range(0, len(ids), 100_000):
        rows = []
        for uid in ids[start : start + 100_000]:
            while (n := str(10**10 + secrets.randbelow(9 * 10**10))) in seen:
                pass
            seen.add(n)
            rows.append((uid, "primary", n, n, 11, "generated", now, "bench"))
        db.insert_rows(
            Card,
            CARD_ROW,
            rows,
        )
        sample += [r[2] for r in random.sample(rows, min(len(rows), SAMPLE // 10))]
    key = tokens.create(name="bench", scope="lookup", actor=Actor("bench", "cli"))[1]
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("ANALYZE")
    return {"key": key, "sample": sample}


def serve(app: str, port: int, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--chdir",
            str(HERE),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/")
            c.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{app} did not start")


def wrk(port: int, path: str, key: str, sample: list[str], workdir: Path) -> dict:
    script = workdir / "lookup.lua"
    numbers = ", ".join(f'"{n}"' for n in sample)
    script.write_text(f"""
local numbers = {{{numbers}}}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
request = function()
  local n = numbers[math.random(#numbers)]
  return wrk.format(nil, "{path}", nil, '{{"number": "' .. n .. '"}}')
end
""")
    out = subprocess.run(
        ["wrk", "-t2", "-c16", "-d10s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rate, "non2xx": int(non2xx.group(1)) if non2xx else 0}


def steady(
    port: int, path: str, key: str, sample: list[str], rate: int = 200, seconds: float = 10.0
) -> dict:
    """Open-loop load at `rate` requests/s; latency of each request."""
    latencies: list[float] = []
    errors = []
    threads = 4
    per_thread = rate / threads

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        start = time.perf_counter()
        i = 0
        while True:
            due = start + i / per_thread
            if due - start >= seconds:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = json.dumps({"number": random.choice(sample)})
            t0 = time.perf_counter()
            conn.request(
                "POST",
                path,
                body,
                {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            r = conn.getresponse()
            r.read()
            latencies.append(time.perf_counter() - t0)
            if r.status != 200:
                errors.append(r.status)
            i += 1

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "n": len(latencies),
        "errors": len(errors),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--phase")
    args = ap.parse_args()
    if args.phase == "setup":
        print(json.dumps(setup(args.users)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for kind in args.dbs.split(","):
            env = database_env(kind, Path(tmp))
            env["PYTHONPATH"] = str(ROOT)
            data = run_child(__file__, "--phase", "setup", "--users", str(args.users), env=env)
            results = {}
            for name, app, path in (
                ("limit", "bare_lookup:application", "/lookup"),
                ("cardid", "cardid.wsgi:application", "/api/v1/lookup"),
            ):
                from tests.conftest import free_port

                port = free_port()
                proc = serve(app, port, env)
                try:
                    steady(port, path, data["key"], data["sample"], seconds=2)  # warm up
                    results[name] = {
                        **wrk(port, path, data["key"], data["sample"], Path(tmp)),
                        **steady(port, path, data["key"], data["sample"]),
                    }
                finally:
                    proc.terminate()
                    proc.wait()
            row = {
                "db": kind,
                "users": args.users,
                **{f"{k}_{m}": v for k, r in results.items() for m, v in r.items()},
            }
            row["ratio"] = row["cardid_rps"] / row["limit_rps"]
            bad = {
                k: row[k]
                for k in ("limit_non2xx", "cardid_non2xx", "limit_errors", "cardid_errors")
                if row[k]
            }
            if bad:
                # Failed requests are fast requests: such a run measures nothing.
                raise SystemExit(f"{kind}: requests failed during the run {bad}; not recorded")
            print(json.dumps(row), flush=True)
            rows.append(row)
    write_results(rows)


def write_results(rows: list[dict]) -> None:
    lines = [
        heading("Terminal look-ups (issue 7)"),
        f"gunicorn with {WORKERS} workers for both; wrk -t2 -c16 for 10 s with random numbers "
        "that exist (throughput), then an open-loop client at 200 requests/s for 10 s "
        "(latency). The limit is a bare WSGI app doing the same indexed SELECT; cardid checks "
        "the token, the look-up protection counters and the policy options as well. Targets: "
        "throughput >= 0.6 x the limit; p99 <= 10 ms at 200 requests/s.\n",
        "| database | users | limit req/s | cardid req/s | ratio | target | limit p50 / p99 "
        "at 200/s | cardid p50 / p99 at 200/s | target |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['users']:,} | {r['limit_rps']:.0f} | {r['cardid_rps']:.0f} | "
            f"{r['ratio']:.2f} | {'met' if r['ratio'] >= 0.6 else 'MISSED'} | "
            f"{r['limit_p50_ms']:.1f} / {r['limit_p99_ms']:.1f} ms | "
            f"{r['cardid_p50_ms']:.1f} / {r['cardid_p99_ms']:.1f} ms | "
            f"{'met' if r['cardid_p99_ms'] <= 10 else 'MISSED'} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
