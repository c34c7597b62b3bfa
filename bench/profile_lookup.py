"""Where a terminal's look-up spends its time: the REST look-up and the XML-RPC look-up
served in-process through cardid's WSGI application, against the bare WSGI app doing the
same indexed SELECT (bench/bare_lookup.py), on SQLite and on PostgreSQL. Prints the
CPU time per request of each and pyinstrument's flat profile (self time, top lines) of
cardid's REST look-up; appends both to bench/RESULTS.md.

    .venv/bin/python bench/profile_lookup.py [--users 100000] [--dbs sqlite,postgres]
        [--label after]

No HTTP server: this isolates the application's own work (the full-stack figures are
bench/lookup.py's)."""

import argparse
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, run_child, setup_django  # noqa: E402

REQUESTS = 4000
TOP = 15


def environ(path: str, body: bytes, key: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json" if path != "/rpc/api/xmlrpc" else "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def calls(kind: str, key: str, sample: list[str]) -> list[tuple[str, bytes]]:
    import xmlrpc.client

    out = []
    for _ in range(REQUESTS):
        n = random.choice(sample)
        if kind == "xmlrpc":
            body = xmlrpc.client.dumps((key, n), "api.lookUpUserNameByCardNo").encode()
            out.append(("/rpc/api/xmlrpc", body))
        else:
            out.append(
                (
                    "/api/v1/lookup" if kind == "rest" else "/lookup",
                    json.dumps({"number": n}).encode(),
                )
            )
    return out


def run(app, requests: list[tuple[str, bytes]], key: str) -> float:
    """CPU seconds per request (process time: what the two cores are shared by)."""
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status[:3])

    t0 = time.process_time()
    for path, body in requests:
        b"".join(app(environ(path, body, key), start_response))
    spent = time.process_time() - t0
    bad = [s for s in statuses if s != "200"]
    if bad:
        raise SystemExit(f"{len(bad)} look-ups failed ({bad[:3]}): nothing measured")
    return spent / len(requests)


def measure(data: dict) -> dict:
    import os

    setup_django()
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    os.environ.setdefault("CARDID_DATABASE_URL", "")
    import bare_lookup

    from cardid.wsgi import application

    key, sample = data["key"], data["sample"]
    figures = {}
    for name, app, kind in (
        ("bare", bare_lookup.application, "bare"),
        ("rest", application, "rest"),
        ("xmlrpc", application, "xmlrpc"),
    ):
        run(app, calls(kind, key, sample)[:500], key)  # warm up
        figures[name] = min(run(app, calls(kind, key, sample), key) for _ in range(3))
    profiler = Profiler(interval=0.0002)
    requests = calls("rest", key, sample)
    profiler.start()
    run(application, requests, key)
    profiler.stop()
    text = profiler.output(ConsoleRenderer(flat=True, time="percent_of_total", show_all=True))
    lines = [ln for ln in text.splitlines() if ln.strip() and "%" in ln][:TOP]
    return {**figures, "profile": lines}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--label", default="")
    ap.add_argument("--phase")
    ap.add_argument("--data")
    args = ap.parse_args()
    if args.phase == "measure":
        print(json.dumps(measure(json.loads(Path(args.data).read_text()))))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for kind in args.dbs.split(","):
            env = database_env(kind, Path(tmp))
            env["PYTHONPATH"] = str(ROOT)
            data = run_child(
                str(HERE / "lookup.py"), "--phase", "setup", "--users", str(args.users), env=env
            )
            path = Path(tmp) / "data.json"
            path.write_text(json.dumps(data))
            row = run_child(__file__, "--phase", "measure", "--data", str(path), env=env)
            row["db"] = kind
            print(json.dumps({k: v for k, v in row.items() if k != "profile"}), flush=True)
            print("\n".join(row["profile"]), flush=True)
            rows.append(row)
    write_results(rows, args.users, args.label)


def write_results(rows: list[dict], users: int, label: str) -> None:
    title = "Where a look-up's time goes (issue 19)" + (f" — **{label}**" if label else "")
    lines = [
        heading(title),
        f"{users:,} users; {REQUESTS:,} look-ups of numbers that exist, in-process through the "
        "WSGI application (no HTTP server), CPU time per request, the best of three runs. "
        "The bare app does the same indexed SELECT; its time is the limit. The ratio is "
        "bare ÷ cardid: the throughput ratio the two would have on the same server if the "
        "server cost nothing.\n",
        "| database | bare | REST look-up | ratio | XML-RPC look-up | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['bare'] * 1e6:.0f} µs | {r['rest'] * 1e6:.0f} µs | "
            f"{r['bare'] / r['rest']:.2f} | {r['xmlrpc'] * 1e6:.0f} µs | "
            f"{r['bare'] / r['xmlrpc']:.2f} |"
        )
    for r in rows:
        lines += [
            "",
            f"pyinstrument, REST look-up on {r['db']}, self time, top {TOP} (percent of total):",
            "",
            "```",
            *r["profile"],
            "```",
        ]
    append_results(lines)


if __name__ == "__main__":
    main()
