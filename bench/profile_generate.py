"""Where bulk generation spends its time: 100,000 users on SQLite (or --db postgres), the
same run as bench/generate.py's "generate" phase, under cProfile; the top lines by time in
the function itself, and the share of the time in the database's own work (executing
statements and committing), appended to bench/RESULTS.md.

    .venv/bin/python bench/profile_generate.py [--users 100000] [--db sqlite]
"""

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import (  # noqa: E402
    append_results,
    database_env,
    heading,
    run_child,
    run_phase,
    setup_django,
)

TOP = 15
DATABASE = ("execute", "executemany", "commit", "fetchmany", "fetchone", "fetchall", "copy")


def measure(users: int) -> dict:
    setup_django()
    from cardid.audit.actor import Actor
    from cardid.cards import generation

    profiler = cProfile.Profile()
    profiler.enable()
    result = generation.generate(
        selection=generation.Selection(all=True),
        slot="primary",
        replace=False,
        actor=Actor("bench", "cli"),
    )
    profiler.disable()
    assert result.issued == users, result
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    in_database = sum(
        tt
        for (file, _, name), (_, _, tt, _, _) in stats.stats.items()
        if file == "~" and any(word in name for word in DATABASE)
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(TOP)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    rows = [ln.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "") for ln in lines[start:]]
    return {"total": total, "database": in_database, "top": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--db", default="sqlite")
    ap.add_argument("--phase")
    args = ap.parse_args()
    if args.phase == "measure":
        print(json.dumps(measure(args.users)))
        return
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        env = database_env(args.db, Path(tmp))
        env["PYTHONPATH"] = str(ROOT)
        run_phase("setup", args.users, env)
        row = run_child(__file__, "--phase", "measure", "--users", str(args.users), env=env)
    print("\n".join(row["top"]))
    share = row["database"] / row["total"]
    append_results(
        [
            heading("Where bulk generation's time goes (issue 19)"),
            f"{args.users:,} users on {args.db}, generation of every primary number under "
            f"cProfile (which slows Python code more than the database's): {row['total']:.2f} s "
            f"in all, {row['database']:.2f} s ({share:.0%}) in the database's own work "
            "(statements and commits). Top lines by time in the function itself:\n",
            "```",
            *row["top"],
            "```",
        ]
    )


if __name__ == "__main__":
    main()
