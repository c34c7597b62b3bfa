"""Benchmark: what a conversion rule costs a terminal look-up (issue 9).

The same POST /api/v1/lookup under wrk, served by gunicorn, twice in one run: with a token
that has no rule (the terminal sends the stored number) and with a token whose three-step
rule "upper,reverse-bytes,hex2dec" turns what a reader sends (a lower-case, byte-reversed
hex UID) into the stored number. The two are measured alternately, three rounds each, and
the best round of each is compared.

    .venv/bin/python bench/rule_lookup.py [--users 100000] [--dbs sqlite,postgres]

Target (issue 9): the rule costs at most 5 % of the throughput (ratio >= 0.95).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, run_child  # noqa: E402
from lookup import WORKERS, serve, wrk  # noqa: E402

CHAIN = "upper,reverse-bytes,hex2dec"
ROUNDS = 3


def setup(users: int) -> dict:
    import lookup

    data = lookup.setup(users)
    from cardid.access import tokens
    from cardid.audit.actor import Actor
    from cardid.cards import conversion, rules

    who = Actor("bench", "cli")
    rules.set_rule(name="reader", chain=CHAIN, actor=who)
    key = tokens.create(
        name="bench-rule", scope="lookup", actor=who, rule=rules.get_rule("reader")
    )[1]
    steps = conversion.parse(CHAIN)
    readers = []
    for number in data["sample"]:
        reader = conversion.reverse_bytes(conversion.dec2hex(number)).lower()
        assert conversion.apply(steps, reader) == number, (number, reader)
        readers.append(reader)
    return {
        "plain_key": data["key"],
        "rule_key": key,
        "numbers": data["sample"],
        "readers": readers,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--phase")
    args = ap.parse_args()
    if args.phase == "setup":
        print(json.dumps(setup(args.users)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        for kind in args.dbs.split(","):
            env = database_env(kind, Path(tmp))
            env["PYTHONPATH"] = str(ROOT)
            data = run_child(__file__, "--phase", "setup", "--users", str(args.users), env=env)
            from tests.conftest import free_port

            port = free_port()
            proc = serve("cardid.wsgi:application", port, env)
            best = {"plain": 0.0, "rule": 0.0}
            try:
                for _ in range(ROUNDS):
                    for name, key, sample in (
                        ("plain", data["plain_key"], data["numbers"]),
                        ("rule", data["rule_key"], data["readers"]),
                    ):
                        sent = [json.dumps({"number": n}) for n in sample]
                        r = wrk(port, "/api/v1/lookup", key, sent, Path(tmp), "application/json")
                        if r["non2xx"]:
                            raise SystemExit(f"{kind} {name}: {r['non2xx']} look-ups failed")
                        best[name] = max(best[name], r["rps"])
            finally:
                proc.terminate()
                proc.wait()
            row = {"db": kind, "users": args.users, **best, "ratio": best["rule"] / best["plain"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = [
        heading("Look-ups through a conversion rule (issue 9)"),
        f"POST /api/v1/lookup, gunicorn with {WORKERS} workers, wrk -t2 -c16 for 10 s, best of "
        f"{ROUNDS} alternating rounds each: a token without a rule sending stored numbers, and "
        f'a token with the three-step rule "{CHAIN}" sending what a reader reads. '
        "Target: the rule costs <= 5 % of throughput (ratio >= 0.95).\n",
        "| database | users | without rule req/s | with rule req/s | ratio | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['users']:,} | {r['plain']:.0f} | {r['rule']:.0f} | "
            f"{r['ratio']:.3f} | {'met' if r['ratio'] >= 0.95 else 'MISSED'} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
