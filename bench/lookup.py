"""Benchmark: terminal look-ups against 1,000,000 users, on SQLite and on PostgreSQL.

cardid's look-ups (token check, look-up protection, the look-up itself) served by gunicorn,
under wrk; compared in the same run with the limit: a bare WSGI application doing the same
indexed SELECT (bench/bare_lookup.py), served by gunicorn the same way. Then the latency of
each at a steady 200 requests/s. Four kinds of look-up: REST POST /api/v1/lookup; the same
with a PIN; the same through a token's conversion rule (what a reader sends); XML-RPC
lookUpUserNameByCardNo.

    .venv/bin/python bench/lookup.py [--users 1000000] [--dbs sqlite,postgres]
        [--kinds rest,pin,rule,xmlrpc]

Targets (issue 19): throughput >= 0.6 x the limit; p99 <= 5 ms at 200 requests/s.
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
PIN = "4711"
PIN_SAMPLE = 200
CHAIN = "upper,reverse-bytes,hex2dec"  # a reader's byte-reversed hex UID to the stored number
TARGET_RATIO, TARGET_P99_MS = 0.6, 5.0


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
    who = Actor("bench", "cli")
    key = tokens.create(name="bench", scope="lookup", actor=who)[1]
    extra = {}
    if (ROOT / "cardid" / "access").is_dir():  # not in a baseline checkout's bench
        from cardid.cards import conversion, rules, services

        rules.set_rule(name="reader", chain=CHAIN, actor=who)
        extra["rule_key"] = tokens.create(
            name="bench-rule", scope="lookup", actor=who, rule=rules.get_rule("reader")
        )[1]
        steps = conversion.parse(CHAIN)
        extra["readers"] = []
        for number in sample:
            reader = conversion.reverse_bytes(conversion.dec2hex(number)).lower()
            assert conversion.apply(steps, reader) == number, (number, reader)
            extra["readers"].append(reader)
        # PINs for a part of the sample (an older checkout hashes each for a third of a second)
        extra["pin_sample"] = sample[:PIN_SAMPLE]
        holders = dict(
            Card.objects.filter(number__in=extra["pin_sample"]).values_list("number", "user_id")
        )
        names = dict(User.objects.filter(id__in=holders.values()).values_list("id", "username"))
        for number in extra["pin_sample"]:
            services.set_pin(username=names[holders[number]], pin=PIN, actor=who)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("ANALYZE")
    return {"key": key, "sample": sample, **extra}


# How gunicorn serves both applications: "gthread" as `cardid serve` does (threads that
# each take one connection, so slow clients cannot starve it), or "sync" (one request per
# process at a time, what `cardid serve` did before issue 28).
SERVING = {"gthread": ["--worker-class", "gthread", "--threads", "8"], "sync": []}
serving = "gthread"


def serve(app: str, port: int, env: dict, workers: int = WORKERS) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            *SERVING[serving],
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


def bodies(kind: str, data: dict) -> tuple[str, str, list[str]]:
    """(path, content type, request bodies) of one kind of look-up."""
    if kind == "limit":
        return "/lookup", "application/json", [json.dumps({"number": n}) for n in data["sample"]]
    if kind == "xmlrpc":
        import xmlrpc.client

        return (
            "/rpc/api/xmlrpc",
            "text/xml",
            [
                xmlrpc.client.dumps((data["key"], n), "api.lookUpUserNameByCardNo")
                for n in data["sample"]
            ],
        )
    if kind == "pin":
        sent = [json.dumps({"number": n, "pin": PIN}) for n in data["pin_sample"]]
    elif kind == "rule":
        sent = [json.dumps({"number": r}) for r in data["readers"]]
    else:
        sent = [json.dumps({"number": n}) for n in data["sample"]]
    return "/api/v1/lookup", "application/json", sent


def wrk(port: int, path: str, key: str, sent: list[str], workdir: Path, ctype: str) -> dict:
    script = workdir / "lookup.lua"
    listed = ",\n".join(f"[==[{b}]==]" for b in sent)
    script.write_text(f"""
local bodies = {{{listed}}}
wrk.method = "POST"
wrk.headers["Content-Type"] = "{ctype}"
wrk.headers["Authorization"] = "Bearer {key}"
request = function()
  return wrk.format(nil, "{path}", nil, bodies[math.random(#bodies)])
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
    port: int,
    path: str,
    key: str,
    sent: list[str],
    ctype: str,
    rate: int = 200,
    seconds: float = 10.0,
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
            body = random.choice(sent)
            t0 = time.perf_counter()
            conn.request(
                "POST", path, body, {"Content-Type": ctype, "Authorization": f"Bearer {key}"}
            )
            r = conn.getresponse()
            answer = r.read()
            latencies.append(time.perf_counter() - t0)
            if r.status != 200 or b"<name>faultCode</name>" in answer:
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
    ap.add_argument("--kinds", default="rest,pin,rule,xmlrpc")
    ap.add_argument("--phase")
    ap.add_argument("--serving", choices=sorted(SERVING), default="gthread")
    args = ap.parse_args()
    global serving
    serving = args.serving
    if args.phase == "setup":
        print(json.dumps(setup(args.users)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for db in args.dbs.split(","):
            env = database_env(db, Path(tmp))
            env["PYTHONPATH"] = str(ROOT)
            data = run_child(__file__, "--phase", "setup", "--users", str(args.users), env=env)
            results = {}
            for name, app in (
                ("limit", "bare_lookup:application"),
                *((kind, "cardid.wsgi:application") for kind in args.kinds.split(",")),
            ):
                from tests.conftest import free_port

                path, ctype, sent = bodies(name, data)
                key = data["rule_key"] if name == "rule" else data["key"]
                port = free_port()
                proc = serve(app, port, env)
                try:
                    steady(port, path, key, sent, ctype, seconds=2)  # warm up
                    results[name] = {
                        **wrk(port, path, key, sent, Path(tmp), ctype),
                        **steady(port, path, key, sent, ctype),
                    }
                finally:
                    proc.terminate()
                    proc.wait()
                bad = {k: v for k, v in results[name].items() if k in ("non2xx", "errors") and v}
                if bad:
                    # Failed requests are fast requests: such a run measures nothing.
                    raise SystemExit(f"{db} {name}: requests failed during the run {bad}")
            for name, r in results.items():
                row = {"db": db, "users": args.users, "kind": name, **r}
                row["ratio"] = r["rps"] / results["limit"]["rps"]
                print(json.dumps(row), flush=True)
                rows.append(row)
    write_results(rows)


KINDS = {
    "limit": "the limit (bare app)",
    "rest": "REST",
    "pin": "REST with a PIN",
    "rule": "REST through a rule",
    "xmlrpc": "XML-RPC",
}


def write_results(rows: list[dict]) -> None:
    lines = [
        heading(f"Terminal look-ups (issues 19, 28: {serving} workers)"),
        f"gunicorn with {WORKERS} workers ({serving}) for each; wrk -t2 -c16 for 10 s with "
        "random numbers that exist (throughput), then an open-loop client at 200 requests/s "
        "for 10 s (latency). The limit is a bare WSGI app doing the same indexed SELECT; "
        "cardid checks the token, the look-up protection counters and the owner's state as "
        "well (with a PIN: "
        f"the PIN; through a rule: the rule {CHAIN!r}). Targets: throughput >= "
        f"{TARGET_RATIO} x the limit; p99 <= {TARGET_P99_MS:g} ms at 200 requests/s.\n",
        "| database | users | look-up | req/s | ratio to the limit | target | p50 / p99 at 200/s "
        "| target |",
        "| --- | ---: | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for r in rows:
        limit = r["kind"] == "limit"
        lines.append(
            f"| {r['db']} | {r['users']:,} | {KINDS[r['kind']]} | {r['rps']:,.0f} | "
            f"{'' if limit else format(r['ratio'], '.2f')} | "
            f"{'' if limit else ('met' if r['ratio'] >= TARGET_RATIO else 'MISSED')} | "
            f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms | "
            f"{'' if limit else ('met' if r['p99_ms'] <= TARGET_P99_MS else 'MISSED')} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
