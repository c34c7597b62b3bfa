"""Mutation testing of the pure core (issue 26): mutmut changes the code of the generator,
the policy, the check digits, the conversion steps and the number rules one small edit at a
time (a `<` for a `<=`, a constant, a dropped call) and runs their tests against each
mutant; a mutant the tests do not notice (one that survives) is a missing test.

    ./dev mutants            (or: .venv/bin/python bench/mutants.py)

Which modules and which tests: [tool.mutmut] in pyproject.toml. Not part of CI (a few
minutes on two cores). Target (issue 26): at least 90 % of mutants killed. The figure and
the surviving mutants are appended to bench/RESULTS.md.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import append_results, heading  # noqa: E402

TARGET = 0.90


def main() -> None:
    mutmut = Path(sys.executable).with_name("mutmut")
    if not mutmut.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "mutmut>=3.3"], check=True
        )
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    env = dict(os.environ, CARDID_DATA_DIR=str(ROOT / "var" / "mutants"))
    env.pop("CARDID_DATABASE_URL", None)
    run = subprocess.run([str(mutmut), "run", "--max-children", "2"], cwd=ROOT, env=env)
    if run.returncode not in (0, 1):
        raise SystemExit(f"mutmut run failed ({run.returncode})")
    subprocess.run([str(mutmut), "export-cicd-stats"], cwd=ROOT, env=env, check=True)
    stats = json.loads((ROOT / "mutants" / "mutmut-cicd-stats.json").read_text())
    listed = subprocess.run(
        [str(mutmut), "results"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    survivors = [line.strip() for line in listed.splitlines() if line.strip()]
    killed, total = stats["killed"], stats["total"]
    score = killed / total if total else 0.0
    verdict = "met" if score >= TARGET else "MISSED"
    lines = [
        heading("Mutation testing of the pure core (issue 26)"),
        "mutmut on cards/generator.py, policy.py, checkdigits.py, conversion.py, numbers.py "
        "with their tests (pyproject.toml [tool.mutmut]).\n",
        "| mutants | killed | survived | no tests | timeout | killed share | target |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {total} | {killed} | {stats.get('survived', 0)} | {stats.get('no_tests', 0)} | "
        f"{stats.get('timeout', 0)} | {score:.1%} | >= 90 % {verdict} |",
        "",
        "Not killed:" if survivors else "Every mutant was killed.",
        *[f"- `{s}`" for s in survivors],
    ]
    print("\n".join(lines))
    append_results(lines)


if __name__ == "__main__":
    main()
