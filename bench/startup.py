"""Benchmark: cardid's start-up against a bare Django project's, and the whole-process
generation of 200,000 numbers against the raw insert of the same rows (issue 34).

Every `cardid` command, worker start and script calling `cardid lookup` in a loop pays the
start-up, which an in-process bench never sees. Measured in one run, on one machine:

- `django.setup()` in a fresh process: a bare Django project with the contrib apps vs
  cardid's settings (median of 15 runs each);
- a whole `cardid lookup NUMBER` process, and `cardid --help`;
- `cardid generate --all` as a process (SQLite, 200,000 users) vs one raw executemany of
  the same card rows and audit rows (bench/generate.py's reference).

    .venv/bin/python bench/startup.py [--users 200000] [--runs 15]

Targets (issue 34): setup <= 1.6 x bare Django; whole look-up <= 2.5 x bare Django's setup;
whole-process generation <= 2.5 x the raw insert of cards + audit rows. Figures are
appended to bench/RESULTS.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import append_results, database_env, heading, run_phase  # noqa: E402

BARE_SETTINGS = """
SECRET_KEY = "bench"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "bare.sqlite3"}}
USE_TZ = True
"""
SETUP = "import django; django.setup()"


def median_seconds(cmd: list[str], env: dict, runs: int, cwd=None) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cardid-startup-") as tmp:
        tmp = Path(tmp)
        (tmp / "bare_settings.py").write_text(BARE_SETTINGS)
        bare_env = dict(os.environ, DJANGO_SETTINGS_MODULE="bare_settings", PYTHONPATH=str(tmp))
        env = database_env("sqlite", tmp / "data")
        env["DJANGO_SETTINGS_MODULE"] = "cardid.settings"
        py = [sys.executable, "-c", SETUP]
        bare = median_seconds(py, bare_env, args.runs, cwd=tmp)
        ours = median_seconds(py, env, args.runs, cwd=ROOT)
        cardid = [sys.executable, "-m", "cardid"]
        subprocess.run([*cardid, "init"], env=env, check=True, capture_output=True)
        subprocess.run([*cardid, "users", "add", "ann"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*cardid, "set-number", "ann", "12345678"], env=env, check=True, capture_output=True
        )
        lookup = median_seconds([*cardid, "lookup", "12345678"], env, args.runs, cwd=ROOT)
        helps = median_seconds([*cardid, "--help"], env, args.runs, cwd=ROOT)
        print(f"setup: bare {bare:.3f} s, cardid {ours:.3f} s; lookup {lookup:.3f} s", flush=True)

        # Whole-process generation, 200,000 users, SQLite (fresh database).
        gen_env = database_env("sqlite", tmp / "gen")
        run_phase("setup", args.users, gen_env)
        limits = run_phase("limit", args.users, gen_env)
        t0 = time.perf_counter()
        r = subprocess.run(
            [*cardid, "generate", "--all", "--no-notify", "--format", "json"],
            env=gen_env,
            capture_output=True,
            text=True,
        )
        whole = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"cardid generate failed: {r.stderr[-2000:]}")
        inproc_env = database_env("sqlite", tmp / "gen2")
        run_phase("setup", args.users, inproc_env)
        inproc = run_phase("generate", args.users, inproc_env)["seconds"]
    raw = limits["with_audit"]
    rows = [
        ("django.setup(), cardid vs bare Django", ours, bare, ours / bare, 1.6),
        ("whole `cardid lookup`, vs bare Django's setup", lookup, bare, lookup / bare, 2.5),
        ("whole `cardid --help`, vs bare Django's setup", helps, bare, helps / bare, None),
        (
            f"whole-process `cardid generate --all`, {args.users:,} users, vs raw cards + audit",
            whole,
            raw,
            whole / raw,
            2.5,
        ),
        (
            f"in-process generation, {args.users:,} users, vs raw cards + audit",
            inproc,
            raw,
            inproc / raw,
            None,
        ),
    ]
    lines = [
        heading("Start-up and whole-process figures (issue 34)"),
        f"Medians of {args.runs} fresh processes; SQLite. The bare project: Django with auth, "
        "contenttypes, sessions, messages, staticfiles.\n",
        "| what | cardid | reference | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for what, value, ref, ratio, target in rows:
        verdict = (
            "—"
            if target is None
            else (f"<= {target} met" if ratio <= target else f"<= {target} MISSED")
        )
        lines.append(f"| {what} | {value:.3f} s | {ref:.3f} s | {ratio:.2f} | {verdict} |")
    print("\n".join(lines))
    append_results(lines)


if __name__ == "__main__":
    main()
