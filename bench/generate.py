"""Benchmark: bulk generation for 100,000 and 1,000,000 users on SQLite and PostgreSQL.

Compared in the same run with the physical limit: one raw `executemany` INSERT of the same
number of precomputed card rows into the same table. Each phase runs in its own process
so that its peak memory (ru_maxrss) is its own.

    .venv/bin/python bench/generate.py [--sizes 100000,1000000] [--dbs sqlite,postgres]

Targets (issue 2): time ratio to the limit <= 2.0 at 100k on both databases; peak memory
<= 400 MB at 1M users. Figures are appended to bench/RESULTS.md.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_ADMIN_URL = os.environ.get("CARDID_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "cardid_bench"


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardid.settings")
    import django

    django.setup()


def insert_users(numbers, *, email: bool = True) -> None:
    """Bench users u0000000 … in one set-based insert per call."""
    from django.utils import timezone

    from cardid import db
    from cardid.directory.models import USER_ROW, User

    now = db.adapt_datetime(timezone.now())
    db.insert_rows(
        User,
        USER_ROW,
        [
            (
                f"u{i:07d}",
                f"u{i:07d}",
                f"User {i}",
                f"u{i:07d}@example.org" if email else "",
                "",
                "",
                True,
                "bench",
                "",
                "",
                now,
                now,
            )
            for i in numbers
        ],
    )


def heading(title: str) -> str:
    """A RESULTS.md section title with the date and the machine."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    return f"\n### {title} — {stamp}, {machine}\n"


def append_results(lines: list[str]) -> None:
    """Add a section to bench/RESULTS.md."""
    results = HERE / "RESULTS.md"
    if not results.exists():
        results.write_text("# Benchmark results\n\nEach benchmark appends its figures here.\n")
    with results.open("a") as f:
        f.write("\n".join(lines) + "\n")


def phase(name: str, users: int) -> dict:
    """Run in a child process: one phase, returning its figures."""
    setup_django()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from cardid import db
    from cardid.audit.actor import Actor
    from cardid.cards import generation
    from cardid.cards.models import Card
    from cardid.config import services as config
    from cardid.directory.models import User

    if name == "setup":
        call_command("migrate", verbosity=0)
        actor = Actor("bench", "cli")
        # 1,000,000 users at 1 in 10,000 need 11 digits.
        config.set_value(key="cards.length", raw="11", actor=actor)
        with transaction.atomic():
            for start in range(0, users, 50_000):
                insert_users(range(start, min(users, start + 50_000)))
        return {}
    if name == "limit":
        ids = list(User.objects.order_by("id").values_list("id", flat=True))
        import secrets

        at = db.adapt_datetime(timezone.now())
        rows = []
        seen = set()
        for uid in ids:
            while True:
                n = str(10**10 + secrets.randbelow(9 * 10**10))
                if n not in seen:
                    seen.add(n)
                    break
            rows.append((uid, "primary", n, n, 11, "generated", at, "bench"))
        table = Card._meta.db_table
        sql = (
            f"INSERT INTO {table} (user_id, slot, number, number_key, keypad_length, origin,"
            " issued_at, issued_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        )
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, rows)
        elapsed = time.perf_counter() - t0
        Card.objects.all().delete()
        # A second reference, not the target's limit: the same plus one precomputed audit row
        # per user, which is the least work that generation with an audit trail must do.
        from cardid.audit.models import AuditEvent

        names = dict(User.objects.values_list("id", "username"))
        audit_rows = [
            (at, "bench", "cli", "card.generated", names[r[0]], "primary *********12") for r in rows
        ]
        audit_sql = (
            f"INSERT INTO {AuditEvent._meta.db_table} (at, actor, door, action, target,"
            " detail) VALUES (%s, %s, %s, %s, %s, %s)"
        )
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, rows)
            cur.executemany(audit_sql, audit_rows)
        with_audit = time.perf_counter() - t0
        Card.objects.all().delete()
        AuditEvent.objects.filter(actor="bench").delete()
        return {"seconds": elapsed, "with_audit": with_audit}
    if name == "generate":
        t0 = time.perf_counter()
        result = generation.generate(
            selection=generation.Selection(all=True),
            slot="primary",
            replace=False,
            actor=Actor("bench", "cli"),
        )
        elapsed = time.perf_counter() - t0
        assert result.issued == users, result
        return {
            "seconds": elapsed,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    raise ValueError(name)


def run_child(script: str, *args: str, env: dict) -> dict:
    """Run `script ARGS` in a fresh Python process (its own memory, its own database
    connection); returns the JSON object the script printed on its last line."""
    out = subprocess.run(
        [sys.executable, script, *args], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{Path(script).name} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_phase(name: str, users: int, env: dict) -> dict:
    return run_child(__file__, "--phase", name, "--users", str(users), env=env)


def database_env(kind: str, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        CARDID_DATA_DIR=str(workdir),
        CARDID_SECRET_KEY="bench-secret-key-0123456789-0123456789",
    )
    if kind == "sqlite":
        dbfile = workdir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(dbfile) + suffix).unlink(missing_ok=True)
        env["CARDID_DATABASE_URL"] = f"sqlite:///{dbfile}"
    else:
        import psycopg

        with psycopg.connect(
            PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        env["CARDID_DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"
    return env


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase")
    ap.add_argument("--users", type=int)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--dbs", default="sqlite,postgres")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.users)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for kind in args.dbs.split(","):
            for users in [int(s) for s in args.sizes.split(",")]:
                env = database_env(kind, Path(tmp))
                run_phase("setup", users, env)
                limits = run_phase("limit", users, env)
                ours = run_phase("generate", users, env)
                row = {
                    "db": kind,
                    "users": users,
                    "limit_s": limits["seconds"],
                    "generate_s": ours["seconds"],
                    "ratio": ours["seconds"] / limits["seconds"],
                    "peak_mb": ours["peak_mb"],
                    "with_audit_s": limits["with_audit"],
                    "ratio_with_audit": ours["seconds"] / limits["with_audit"],
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    write_results(rows)


def write_results(rows: list[dict]) -> None:
    lines = [
        heading("Bulk generation (issue 2)"),
        "Targets: ratio to the raw executemany limit <= 2.0 at 100k users on each "
        "database; peak memory <= 400 MB at 1M users. Generation includes the audit "
        "row per user and the policy check; the limit inserts only the card rows.\n",
        "| database | users | limit (raw executemany) | generate | ratio | ratio target "
        "| peak memory | memory target | reference: raw cards + audit rows | ratio to it |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        ratio_ok = ("met" if r["ratio"] <= 2.0 else "MISSED") if r["users"] == 100_000 else "—"
        mem_ok = ("met" if r["peak_mb"] <= 400 else "MISSED") if r["users"] >= 1_000_000 else "—"
        lines.append(
            f"| {r['db']} | {r['users']:,} | {r['limit_s']:.2f} s | "
            f"{r['generate_s']:.2f} s | {r['ratio']:.2f} | {ratio_ok} | "
            f"{r['peak_mb']:.0f} MB | {mem_ok} | {r['with_audit_s']:.2f} s | "
            f"{r['ratio_with_audit']:.2f} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
