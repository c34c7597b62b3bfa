"""Benchmark: printing 10,000 ID cards to one PDF, read from the database in chunks.

Targets (issue 9): at most 60 s and 300 MB peak memory for 10,000 cards with Code 128 and
QR codes, compared in the same run. Figures are appended to bench/RESULTS.md.

    .venv/bin/python bench/printing.py [--cards 10000]
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from generate import (  # noqa: E402
    append_results,
    database_env,
    heading,
    insert_users,
    run_child,
    setup_django,
)

TARGET_SECONDS = 60
TARGET_MB = 300


def phase(cards: int, out: str) -> dict:
    setup_django()
    from django.core.management import call_command
    from django.utils import timezone

    from cardid import db
    from cardid.cards import batches, generation
    from cardid.cards.models import CARD_ROW, Card
    from cardid.directory.models import User

    call_command("migrate", verbosity=0)
    insert_users(range(cards))
    now = db.adapt_datetime(timezone.now())
    db.insert_rows(
        Card,
        CARD_ROW,
        [
            (uid, "primary", str(10**9 + uid), str(10**9 + uid), 10, "generated", now, "bench")
            for uid in User.objects.values_list("id", flat=True)
        ],
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    with open(out, "wb") as f:
        drawn, _ = batches.render_cards(
            selection=generation.Selection(all=True),
            slot="primary",
            paper="a4",
            with_qr=True,
            out=f,
        )
    return {
        "cards": drawn,
        "seconds": time.perf_counter() - t0,
        "rss_before_mb": before,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pdf_mb": os.path.getsize(out) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cards", type=int, default=10_000)
    ap.add_argument("--phase", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.cards, args.out)))
        return
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        env = database_env("sqlite", Path(tmp))
        r = run_child(
            __file__,
            "--phase",
            "--cards",
            str(args.cards),
            "--out",
            str(Path(tmp) / "cards.pdf"),
            env=env,
        )
    print(json.dumps(r))
    time_ok = r["seconds"] <= TARGET_SECONDS * args.cards / 10_000
    memory_ok = r["peak_mb"] <= TARGET_MB
    append_results(
        [
            heading("Printable ID cards (issue 9)"),
            "One A4 PDF with Code 128 and QR codes, users read from SQLite in chunks of 1,000. "
            f"Targets: <= {TARGET_SECONDS} s and <= {TARGET_MB} MB for 10,000 cards; memory is "
            "the process's peak RSS.\n",
            "| cards | pages | time | per card | time target | RSS before | peak RSS "
            "| memory target | PDF size |",
            "| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |",
            f"| {r['cards']:,} | {-(-r['cards'] // 8):,} | {r['seconds']:.1f} s | "
            f"{1000 * r['seconds'] / r['cards']:.2f} ms | {'met' if time_ok else 'MISSED'} | "
            f"{r['rss_before_mb']:.0f} MB | {r['peak_mb']:.0f} MB | "
            f"{'met' if memory_ok else 'MISSED'} | {r['pdf_mb']:.1f} MB |",
        ]
    )


if __name__ == "__main__":
    main()
