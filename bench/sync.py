"""Benchmark: syncing a directory of 100,000 users from a real slapd.

Measured in one run, each phase in its own process:
  (a) the limit: a raw ldap3 paged fetch of the same entries plus a raw bulk insert
      (executemany) of the same user rows;
  (b) cardid's first sync, with auto-generation of every primary number;
  (c) a second sync with nothing changed, against (a)'s fetch alone.

    .venv/bin/python bench/sync.py [--users 100000] [--dbs sqlite,postgres]

Targets (issue 3): (b) <= 3 x (a); (c) <= 1.5 x the fetch alone. Figures are appended to
bench/RESULTS.md.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, run_child, setup_django  # noqa: E402

GROUPS = 100


def ldif(users: int) -> str:
    from tests import ldapserver as L

    parts = [L.base_ldif()]
    for i in range(users):
        parts.append(
            f"dn: uid=u{i:06d},ou=people,{L.SUFFIX}\nobjectClass: inetOrgPerson\n"
            f"uid: u{i:06d}\ncn: User {i}\nsn: {i}\nmail: u{i:06d}@example.org\n"
            f"departmentNumber: D{i % 50}\nphysicalDeliveryOfficeName: R{i % 700}\n\n"
        )
    per = users // GROUPS
    for g in range(GROUPS):
        members = "".join(f"memberUid: u{i:06d}\n" for i in range(g * per, (g + 1) * per))
        parts.append(
            f"dn: cn=g{g},ou=groups,{L.SUFFIX}\nobjectClass: posixGroup\ncn: g{g}\n"
            f"gidNumber: {5000 + g}\n{members}\n"
        )
    return "".join(parts)


def phase(name: str, url: str) -> dict:
    setup_django()
    from django.core.management import call_command

    from cardid.audit.actor import Actor
    from cardid.config import services as config
    from tests import ldapserver as L

    if name == "limit":
        import ldap3
        from django.db import connection, transaction
        from django.utils import timezone

        from cardid import db
        from cardid.directory.models import USER_ROW, User

        call_command("migrate", verbosity=0)
        t0 = time.perf_counter()
        conn = ldap3.Connection(
            ldap3.Server(url, get_info=ldap3.NONE), L.ADMIN_DN, L.ADMIN_PW, auto_bind=True
        )
        entries = list(
            conn.extend.standard.paged_search(
                L.SUFFIX,
                "(objectClass=inetOrgPerson)",
                attributes=[
                    "uid",
                    "cn",
                    "mail",
                    "departmentNumber",
                    "physicalDeliveryOfficeName",
                    "employeeNumber",
                ],
                paged_size=500,
                generator=True,
            )
        )
        groups = list(
            conn.extend.standard.paged_search(
                L.SUFFIX,
                "(objectClass=posixGroup)",
                attributes=["cn", "memberUid"],
                paged_size=500,
                generator=True,
            )
        )
        fetch = time.perf_counter() - t0
        now = db.adapt_datetime(timezone.now())
        rows = []
        for e in entries:
            a = e["attributes"]
            uid = a["uid"][0]
            rows.append(
                (
                    uid,
                    uid,
                    a["cn"][0],
                    a["mail"][0],
                    a["departmentNumber"][0],
                    a["physicalDeliveryOfficeName"][0],
                    True,
                    "ldap",
                    "",
                    "",
                    now,
                    now,
                )
            )
        t0 = time.perf_counter()
        meta = User._meta
        cols = [meta.get_field(f).column for f in USER_ROW]
        sql = (
            f"INSERT INTO {meta.db_table} ({', '.join(cols)}) VALUES "
            f"({', '.join(['%s'] * len(cols))})"
        )
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, rows)
        insert = time.perf_counter() - t0
        assert len(entries) and len(groups) == GROUPS
        return {"fetch": fetch, "insert": insert}
    actor = Actor("bench", "sync")
    if name == "first":
        call_command("migrate", verbosity=0)
        for k, v in {
            "sync.source": "ldap",
            "sync.ldap.url": url,
            "sync.ldap.bind-dn": L.ADMIN_DN,
            "sync.ldap.bind-password": L.ADMIN_PW,
            "sync.ldap.base-dns": L.SUFFIX,
            "sync.auto-generate-primary-when-blank": "true",
            "cards.length": "10",
        }.items():
            config.set_value(key=k, raw=v, actor=actor)
    from cardid.sync import engine

    t0 = time.perf_counter()
    result = engine.run(actor=actor)
    elapsed = time.perf_counter() - t0
    assert result.ok, result.message
    return {"seconds": elapsed, "counts": result.counts}


def run_phase(name: str, url: str, env: dict) -> dict:
    return run_child(__file__, "--phase", name, "--url", url, env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--phase")
    ap.add_argument("--url")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.url)))
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardid.settings")
    from tests import ldapserver as L

    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        server = L.Slapd(Path(tmp) / "slapd", ldif(args.users)).start()
        try:
            for kind in args.dbs.split(","):
                limit = run_phase("limit", server.url, database_env(kind, Path(tmp)))
                env = database_env(kind, Path(tmp))
                first = run_phase("first", server.url, env)
                second = run_phase("second", server.url, env)
                a = limit["fetch"] + limit["insert"]
                row = {
                    "db": kind,
                    "users": args.users,
                    "fetch_s": limit["fetch"],
                    "insert_s": limit["insert"],
                    "limit_s": a,
                    "first_s": first["seconds"],
                    "first_ratio": first["seconds"] / a,
                    "second_s": second["seconds"],
                    "second_ratio": second["seconds"] / limit["fetch"],
                    "generated": first["counts"]["numbers_generated"],
                    "second_changes": sum(
                        v
                        for k, v in second["counts"].items()
                        if k != "in_source" and isinstance(v, int)
                    ),
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
        finally:
            server.stop()
    write_results(rows)


def write_results(rows: list[dict]) -> None:
    lines = [
        heading("LDAP sync (issue 3)"),
        f"A real slapd holding the users and {GROUPS} posix groups. (a) the limit: raw ldap3 "
        "paged fetch + raw executemany insert of the same user rows; (b) first sync incl. "
        "groups, audit rows and auto-generation of every primary number; (c) second sync, "
        "nothing changed. Targets: (b) <= 3 x (a); (c) <= 1.5 x the fetch alone.\n",
        "| database | users | fetch | insert | (a) limit | (b) first sync | (b)/(a) | target "
        "| numbers generated | (c) second sync | (c)/fetch | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['users']:,} | {r['fetch_s']:.2f} s | {r['insert_s']:.2f} s | "
            f"{r['limit_s']:.2f} s | {r['first_s']:.2f} s | {r['first_ratio']:.2f} | "
            f"{'met' if r['first_ratio'] <= 3 else 'MISSED'} | {r['generated']:,} | "
            f"{r['second_s']:.2f} s | {r['second_ratio']:.2f} | "
            f"{'met' if r['second_ratio'] <= 1.5 else 'MISSED'} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
