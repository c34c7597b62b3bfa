"""Benchmark: a 10,000-user sync from a Samba AD domain controller, beside the same from
OpenLDAP's slapd (issue 21).

Each directory holds 10,000 person accounts (a quarter with a card number: `pager` on AD,
`employeeNumber` on slapd; 2 % disabled on AD) in 50 groups of 200, and one group
containing all 50 (nested on AD). Measured for each directory and database: the raw paged
fetch of users and groups with ldap3 (the limit), cardid's first sync (users, groups,
imported numbers, auto-generation of the rest) and a second sync with nothing changed.

    .venv/bin/python bench/sync_ad.py [--dbs sqlite,postgres]

No target was set; the figures go to bench/RESULTS.md.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from generate import append_results, database_env, heading, run_child, setup_django  # noqa: E402

USERS, GROUPS = 10_000, 50


def populate_samba(dc) -> None:
    import ldap3

    from tests import samba

    conn = dc.connect()
    dns = []
    for i in range(USERS):
        dn = f"CN=u{i:05d},{samba.USERS}"
        attrs = {"sAMAccountName": f"u{i:05d}", "displayName": f"User {i}"}
        if i % 4 == 0:
            attrs["pager"] = f"{50000000 + i}"
        conn.add(dn, ["top", "person", "organizationalPerson", "user"], attrs)
        flags = samba.NO_PASSWORD | (samba.DISABLED if i % 50 == 0 else samba.NORMAL)
        conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [flags])]})
        dns.append(dn)
    per = USERS // GROUPS
    groups = [dc.add_group(conn, f"g{g}", dns[g * per : (g + 1) * per]) for g in range(GROUPS)]
    dc.add_group(conn, "everyone", groups)
    conn.unbind()


def slapd_ldif() -> str:
    from tests import ldapserver as L

    parts = [L.base_ldif()]
    for i in range(USERS):
        card = f"employeeNumber: {50000000 + i}\n" if i % 4 == 0 else ""
        parts.append(
            f"dn: uid=u{i:05d},ou=people,{L.SUFFIX}\nobjectClass: inetOrgPerson\n"
            f"uid: u{i:05d}\ncn: User {i}\nsn: {i}\n{card}\n"
        )
    per = USERS // GROUPS
    for g in range(GROUPS):
        members = "".join(f"memberUid: u{i:05d}\n" for i in range(g * per, (g + 1) * per))
        parts.append(
            f"dn: cn=g{g},ou=groups,{L.SUFFIX}\nobjectClass: posixGroup\ncn: g{g}\n"
            f"gidNumber: {5000 + g}\n{members}\n"
        )
    return "".join(parts)


def settings(directory: str, url: str) -> dict:
    from tests import ldapserver as L
    from tests import samba

    if directory == "samba":
        return {
            "sync.ldap.url": url,
            "sync.ldap.bind-dn": samba.ADMIN,
            "sync.ldap.bind-password": samba.ADMIN_PW,
            "sync.ldap.base-dns": samba.USERS,
            "sync.ldap.preset": "ad",
        }
    return {
        "sync.ldap.url": url,
        "sync.ldap.bind-dn": L.ADMIN_DN,
        "sync.ldap.bind-password": L.ADMIN_PW,
        "sync.ldap.base-dns": L.SUFFIX,
        "sync.ldap.preset": "openldap",
    }


def phase(name: str, directory: str, url: str) -> dict:
    setup_django()
    from django.core.management import call_command

    from cardid.audit.actor import Actor
    from cardid.config import services as config
    from cardid.directory.sync import sources
    from cardid.sync import engine

    actor = Actor("bench", "sync")
    if name == "first":
        call_command("migrate", verbosity=0)
        values = {
            "sync.source": "ldap",
            "sync.auto-generate-primary-when-blank": "true",
            "sync.guard.max-removal-percent": "100",
            "cards.length": "9",
            **settings(directory, url),
        }
        for k, v in values.items():
            config.set_value(key=k, raw=v, actor=actor)
    if name == "fetch":
        t0 = time.perf_counter()
        snapshot = sources.current().fetch()
        return {"seconds": time.perf_counter() - t0, "users": len(snapshot.users)}
    t0 = time.perf_counter()
    result = engine.run(actor=actor)
    elapsed = time.perf_counter() - t0
    assert result.ok, result.message
    return {"seconds": elapsed, "counts": result.counts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--phase")
    ap.add_argument("--directory")
    ap.add_argument("--url")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.directory, args.url)))
        return
    from tests import ldapserver as L
    from tests import samba

    rows = []
    with tempfile.TemporaryDirectory(prefix="cardid-bench-") as tmp:
        dc = samba.SambaDC(Path(tmp) / "samba").provision().start()
        slapd = L.Slapd(Path(tmp) / "slapd", slapd_ldif()).start()
        try:
            t0 = time.perf_counter()
            populate_samba(dc)
            print(f"samba populated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            for directory, url in (("slapd", slapd.url), ("samba", samba.URL)):
                for kind in args.dbs.split(","):
                    env = database_env(kind, Path(tmp) / f"{directory}-{kind}")
                    env["PYTHONPATH"] = str(ROOT)

                    def run(name: str, directory=directory, url=url, env=env) -> dict:
                        return run_child(
                            __file__,
                            "--phase",
                            name,
                            "--directory",
                            directory,
                            "--url",
                            url,
                            env=env,
                        )

                    first = run("first")
                    fetch = run("fetch")
                    second = run("second")
                    row = {
                        "directory": directory,
                        "db": kind,
                        "users": fetch["users"],
                        "fetch_s": fetch["seconds"],
                        "first_s": first["seconds"],
                        "second_s": second["seconds"],
                        "generated": first["counts"]["numbers_generated"],
                        "imported": first["counts"]["numbers_imported"],
                    }
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        finally:
            dc.stop()
            slapd.stop()
    lines = [
        heading("LDAP sync from Active Directory (Samba) and slapd (issue 21)"),
        f"{USERS:,} person accounts in each directory (a quarter with a card number; on AD "
        f"2 % disabled, left out), {GROUPS} groups of 200 and one group holding them all "
        "(nested on AD). The fetch is the source read alone; the first sync adds the users "
        "and groups, imports the numbers and generates the rest; the second changes "
        "nothing.\n",
        "| directory | database | users read | fetch | first sync | second sync | numbers "
        "imported / generated |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['directory']} | {r['db']} | {r['users']:,} | {r['fetch_s']:.2f} s | "
            f"{r['first_s']:.2f} s | {r['second_s']:.2f} s | {r['imported']:,} / "
            f"{r['generated']:,} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
