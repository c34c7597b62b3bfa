"""Benchmark: a terminal's look-ups while an attacker walks the number space (issue 14).

cardid served by gunicorn (4 workers) on SQLite and PostgreSQL with 100,000 users. A
terminal (its own token) looks up held numbers at a steady 50 requests/s for 10 s, first
alone, then while an attacker with another token walks random numbers at 200 requests/s
on 8 connections (its misses lock it out after api.lookup.max-misses, then every request
is refused with 429 at once) and guesses an administrator's password from a second address
at 20 requests/s. No server worker may sleep for the attacker.

    .venv/bin/python bench/attack.py [--users 100000] [--dbs sqlite,postgres]

Target (issue 14): the terminal's p95 during the attack within 2 x its p95 alone.
"""

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, run_child, setup_django  # noqa: E402
from lookup import serve  # noqa: E402
from lookup import setup as lookup_setup  # noqa: E402

TERMINAL_RATE, ATTACK_RATE, LOGIN_RATE = 50, 200, 20
SECONDS = 10.0


def setup(users: int) -> dict:
    data = lookup_setup(users)
    from django.contrib.auth import get_user_model

    if (ROOT / "cardid" / "access").is_dir():
        from cardid.access import tokens
    else:  # cardid before issue 14 (a baseline run of an older checkout)
        from cardid.api import tokens
    from cardid.audit.actor import Actor

    attacker = tokens.create(name="attacker", scope="lookup", actor=Actor("bench", "cli"))[1]
    get_user_model().objects.create_user(
        "admin2", password="a long bench passphrase", is_staff=True
    )
    return {**data, "attacker": attacker}


def paced(rate: float, seconds: float, request, results: list, stop: threading.Event) -> None:
    """Call request() at `rate` per second (open loop) and append its latency."""
    start = time.perf_counter()
    i = 0
    while not stop.is_set():
        due = start + i / rate
        if due - start >= seconds:
            return
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        status = request()
        results.append((time.perf_counter() - t0, status))
        i += 1


def poster(port: int, path: str, headers: dict, body_of, source: str = "127.0.0.1"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))

    def request() -> int:
        conn.request("POST", path, body_of(), headers)
        r = conn.getresponse()
        r.read()
        return r.status

    return request


def csrf(port: int, source: str) -> tuple[str, str]:
    """The log-in page's CSRF cookie and form token, as a browser (or a careful attacker)
    gets them: the guesses then reach the password check and its guard."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    conn.request("GET", "/admin/login")
    r = conn.getresponse()
    page = r.read().decode()
    cookie = next(
        c.split(";")[0] for c in r.headers.get_all("Set-Cookie") or [] if c.startswith("csrftoken=")
    )
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    conn.close()
    return cookie, token


def terminal_run(port: int, data: dict, stop: threading.Event) -> list:
    results: list = []
    threads = []
    for _ in range(2):
        request = poster(
            port,
            "/api/v1/lookup",
            {"Content-Type": "application/json", "Authorization": f"Bearer {data['key']}"},
            lambda: json.dumps({"number": random.choice(data["sample"])}),
        )
        threads.append(
            threading.Thread(
                target=paced, args=(TERMINAL_RATE / 2, SECONDS, request, results, stop)
            )
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def attack(port: int, data: dict, stop: threading.Event, tallies: dict) -> list[threading.Thread]:
    threads = []
    for _ in range(8):
        request = poster(
            port,
            "/api/v1/lookup",
            {"Content-Type": "application/json", "Authorization": f"Bearer {data['attacker']}"},
            lambda: json.dumps({"number": str(random.randrange(10**10, 10**11))}),
            source="127.0.0.2",
        )
        threads.append(
            threading.Thread(
                target=paced, args=(ATTACK_RATE / 8, SECONDS + 2, request, tallies["walk"], stop)
            )
        )
    cookie, token = csrf(port, "127.0.0.3")
    login = poster(
        port,
        "/admin/login",
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        lambda: urllib.parse.urlencode(
            {"username": "admin2", "password": "guess", "csrfmiddlewaretoken": token}
        ),
        source="127.0.0.3",
    )
    threads.append(
        threading.Thread(
            target=paced, args=(LOGIN_RATE, SECONDS + 2, login, tallies["login"], stop)
        )
    )
    for t in threads:
        t.start()
    return threads


def p95(results: list) -> float:
    return statistics.quantiles([t for t, _ in results], n=100)[94] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--phase")
    args = ap.parse_args()
    if args.phase == "setup":
        setup_django()
        print(json.dumps(setup(args.users)))
        return
    from tests.conftest import free_port

    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for kind in args.dbs.split(","):
            env = database_env(kind, Path(tmp))
            env["PYTHONPATH"] = str(ROOT)
            data = run_child(__file__, "--phase", "setup", "--users", str(args.users), env=env)
            port = free_port()
            proc = serve("cardid.wsgi:application", port, env)
            try:
                stop = threading.Event()
                terminal_run(port, {**data}, stop)  # warm-up
                alone = terminal_run(port, data, stop)
                tallies = {"walk": [], "login": []}
                attackers = attack(port, data, stop, tallies)
                time.sleep(2)  # the attacker is locked out by now; the flood goes on
                during = terminal_run(port, data, stop)
                stop.set()
                for t in attackers:
                    t.join()
            finally:
                proc.terminate()
                proc.wait()
            failed = [s for _, s in alone + during if s != 200]
            if failed:
                raise SystemExit(f"{kind}: the terminal got {len(failed)} errors; not recorded")
            row = {
                "db": kind,
                "users": args.users,
                "alone_p95_ms": p95(alone),
                "attack_p95_ms": p95(during),
                "walk_requests": len(tallies["walk"]),
                "walk_refused": sum(1 for _, s in tallies["walk"] if s == 429),
                "walk_p95_ms": p95(tallies["walk"]),
                "login_requests": len(tallies["login"]),
                "login_refused": sum(1 for _, s in tallies["login"] if s == 429),
            }
            row["ratio"] = row["attack_p95_ms"] / row["alone_p95_ms"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = [
        heading("A terminal's look-ups under attack (issue 14)"),
        f"gunicorn with 4 workers; the terminal looks up held numbers at {TERMINAL_RATE}/s for "
        f"{SECONDS:.0f} s alone, then again while an attacker (another token, from 127.0.0.2) "
        f"walks random numbers at {ATTACK_RATE}/s on 8 connections and guesses an "
        f"administrator's password from 127.0.0.3 at {LOGIN_RATE}/s. Target: the terminal's "
        "p95 during the attack <= 2 x its p95 alone.\n",
        "| database | users | terminal p95 alone | terminal p95 under attack | ratio | target | "
        "attacker's look-ups (refused 429) | their p95 | log-in guesses (refused 429) |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['users']:,} | {r['alone_p95_ms']:.1f} ms | "
            f"{r['attack_p95_ms']:.1f} ms | {r['ratio']:.2f} | "
            f"{'met' if r['ratio'] <= 2 else 'MISSED'} | {r['walk_requests']:,} "
            f"({r['walk_refused']:,}) | {r['walk_p95_ms']:.1f} ms | {r['login_requests']} "
            f"({r['login_refused']}) |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
