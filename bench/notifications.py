"""Benchmark: 10,000 Card/ID notifications delivered to a local SMTP server.

Compared in the same run with the limit: a raw `smtplib` loop sending the same 10,000
pre-rendered messages over one connection to the same server (its own process).

    .venv/bin/python bench/notifications.py [--count 10000] [--dbs sqlite,postgres]

Target (issue 4): throughput >= 0.8 x the raw loop. Figures are appended to bench/RESULTS.md.
"""

import argparse
import json
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, insert_users  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_loop(port: int, count: int) -> float:
    messages = []
    for i in range(count):
        m = EmailMessage()
        m["From"] = "cardid@example.org"
        m["To"] = f"User {i} <user{i}@example.org>"
        m["Subject"] = "Your new Card/ID number"
        m["Message-ID"] = f"<bench-{i}@example.org>"
        m.set_content(f"Hello User {i},\n\nyour new Card/ID number is {10**10 + i}.\n")
        messages.append((f"user{i}@example.org", m.as_bytes()))
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for to, data in messages:
            conn.sendmail("cardid@example.org", [to], data)
    return time.perf_counter() - t0


def ours(count: int, port: int) -> float:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardid.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from cardid import db
    from cardid.audit.actor import Actor
    from cardid.cards.models import CARD_ROW, Card
    from cardid.config import services as config
    from cardid.directory.models import User
    from cardid.notifications import services

    call_command("migrate", verbosity=0)
    actor = Actor("bench", "cli")
    for key, value in {
        "smtp.host": "127.0.0.1",
        "smtp.port": str(port),
        "smtp.from": "cardid@example.org",
    }.items():
        config.set_value(key=key, raw=value, actor=actor)
    now = db.adapt_datetime(timezone.now())
    insert_users(range(count))
    ids = list(User.objects.order_by("id").values_list("id", flat=True))
    db.insert_rows(
        Card,
        CARD_ROW,
        [
            (uid, "primary", str(10**10 + i), str(10**10 + i), 11, "generated", now, "bench")
            for i, uid in enumerate(ids)
        ],
    )
    services.queue(user_ids=ids, slot="primary", reason="admin")
    t0 = time.perf_counter()
    report = services.deliver_due(force=True)
    elapsed = time.perf_counter() - t0
    assert report.sent == count, report
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--phase")
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.phase == "ours":
        print(json.dumps({"seconds": ours(args.count, args.port)}))
        return
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "smtp_sink.py"), str(port)], stdout=subprocess.PIPE, text=True
    )
    rows = []
    try:
        assert sink.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
            for kind in args.dbs.split(","):
                raw = raw_loop(port, args.count)
                env = database_env(kind, Path(tmp))
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--phase",
                        "ours",
                        "--count",
                        str(args.count),
                        "--port",
                        str(port),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode:
                    raise SystemExit(out.stderr)
                mine = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
                row = {
                    "db": kind,
                    "count": args.count,
                    "raw_s": raw,
                    "ours_s": mine,
                    "raw_rate": args.count / raw,
                    "ours_rate": args.count / mine,
                    "ratio": raw / mine,
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        sink.terminate()
        sink.wait()
    write_results(rows)


def write_results(rows: list[dict]) -> None:
    lines = [
        heading("Notification delivery (issue 4)"),
        "Target: throughput >= 0.8 x a raw smtplib loop sending the same number of "
        "pre-rendered messages over one connection to the same local aiosmtpd server. "
        "cardid renders each message from the database at send time and marks it sent "
        "after the server's 250.\n",
        "| database | messages | raw smtplib | cardid | raw msg/s | cardid msg/s | ratio "
        "| target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['count']:,} | {r['raw_s']:.2f} s | {r['ours_s']:.2f} s | "
            f"{r['raw_rate']:.0f} | {r['ours_rate']:.0f} | {r['ratio']:.3f} | "
            f"{'met' if r['ratio'] >= 0.8 else 'MISSED'} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
