"""Where a terminal's look-up spends its time, on a real server: one gunicorn worker serving
POST /api/v1/lookup under wrk, its CPU time per request read from /proc (user and system),
against the bare WSGI app doing the same indexed SELECT (bench/bare_lookup.py) served the
same way; then py-spy samples the cardid worker and the top lines of its profile (self and
inclusive time) are kept. SQLite and PostgreSQL; figures appended to bench/RESULTS.md.

    .venv/bin/python bench/profile_lookup.py [--users 100000] [--dbs sqlite,postgres]
        [--label after]

Needs wrk (Debian package) and py-spy (pip install py-spy).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, run_child  # noqa: E402
from lookup import serve  # noqa: E402

TOP = 12
SECONDS = 8


def worker_of(proc: subprocess.Popen) -> int:
    out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def cpu(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime in clock ticks


def load(port: int, path: str, key: str, number: str, workdir: Path, seconds: int) -> int:
    script = workdir / "one.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        f"wrk.body = '{json.dumps({'number': number})}'\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c2", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"look-ups failed during the run:\n{out}")
    return int(out.split(" requests in")[0].split()[-1])


def per_request(app: str, path: str, env: dict, data: dict, workdir: Path) -> dict:
    from tests.conftest import free_port

    port = free_port()
    proc = serve(app, port, env, workers=1)
    try:
        pid = worker_of(proc)
        number = data["sample"][0]
        load(port, path, data["key"], number, workdir, 2)  # warm up
        u0, s0 = cpu(pid)
        n = load(port, path, data["key"], number, workdir, 5)
        u1, s1 = cpu(pid)
        tick = 1e6 / os.sysconf("SC_CLK_TCK")
        figures = {"user_us": (u1 - u0) * tick / n, "sys_us": (s1 - s0) * tick / n}
        if app.startswith("cardid"):
            figures["profile"] = profile(pid, port, path, data, number, workdir)
        return figures
    finally:
        proc.terminate()
        proc.wait()


def profile(pid: int, port: int, path: str, data: dict, number: str, workdir: Path) -> dict:
    raw = workdir / "spy.txt"
    loader = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--phase",
            "load",
            "--data",
            json.dumps([port, path, data["key"], number, str(workdir), SECONDS + 3]),
        ]
    )
    time.sleep(1)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    subprocess.run(
        [spy, "record", "-p", str(pid), "-d", str(SECONDS), "-r", "500", "-f", "raw", "-o", raw],
        capture_output=True,
        check=True,
    )
    loader.wait()
    own, within, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        total += int(n)
        own[frames[-1]] += int(n)
        for f in set(frames):
            within[f] += int(n)

    def top(counts: Counter, skip_server: bool) -> list[str]:
        rows = []
        for frame, n in counts.most_common():
            if skip_server and ("gunicorn/arbiter" in frame or "gunicorn/app" in frame):
                continue
            if skip_server and ("runpy" in frame or "gunicorn/__main__" in frame):
                continue
            rows.append(f"{100 * n / total:5.1f}%  {frame}")
            if len(rows) == TOP:
                break
        return rows

    return {"self": top(own, False), "inclusive": top(within, True)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--label", default="")
    ap.add_argument("--phase")
    ap.add_argument("--data")
    args = ap.parse_args()
    if args.phase == "load":
        port, path, key, number, workdir, seconds = json.loads(args.data)
        load(port, path, key, number, Path(workdir), seconds)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for db in args.dbs.split(","):
            env = database_env(db, Path(tmp))
            env["PYTHONPATH"] = str(ROOT)
            data = run_child(
                str(HERE / "lookup.py"), "--phase", "setup", "--users", str(args.users), env=env
            )
            row = {
                "db": db,
                "bare": per_request("bare_lookup:application", "/lookup", env, data, Path(tmp)),
                "cardid": per_request(
                    "cardid.wsgi:application", "/api/v1/lookup", env, data, Path(tmp)
                ),
            }
            print(json.dumps(row, indent=1), flush=True)
            rows.append(row)
    write_results(rows, args.users, args.label)


def write_results(rows: list[dict], users: int, label: str) -> None:
    title = "Where a look-up's time goes (issue 19)" + (f" — **{label}**" if label else "")
    lines = [
        heading(title),
        f"{users:,} users. One gunicorn worker, wrk -t1 -c2 for 5 s on one number that "
        "exists; the worker's CPU time per request from /proc (user + system). Then py-spy "
        f"samples the cardid worker for {SECONDS} s under the same load: the top lines by "
        "time in the function itself and by time within it (the server's outer frames "
        "left out). The bare app's time is nearly all gunicorn's own work.\n",
        "| database | bare app µs/request | cardid µs/request | bare ÷ cardid |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        bare = r["bare"]["user_us"] + r["bare"]["sys_us"]
        ours = r["cardid"]["user_us"] + r["cardid"]["sys_us"]
        lines.append(f"| {r['db']} | {bare:.0f} | {ours:.0f} | {bare / ours:.2f} |")
    for r in rows:
        for kind in ("self", "inclusive"):
            lines += [
                "",
                f"py-spy, cardid worker on {r['db']}, {kind} time, top {TOP}:",
                "",
                "```",
                *r["cardid"]["profile"][kind],
                "```",
            ]
    append_results(lines)


if __name__ == "__main__":
    main()
