"""`cardid backup` while terminals look numbers up, and `cardid restore` into an empty data
dir (SQLite) or an empty database (PostgreSQL): the restored service has the same users,
numbers, options, tokens and audit trail (SPEC §10)."""

import csv
import json
import sqlite3
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
from django.db import connection

from tests.ops.helpers import (
    Site,
    drop_postgres_database,
    new_postgres_database,
    request,
)

SECRET = "restored-smtp-secret-91b2"


@pytest.fixture
def vendor():
    """The database of this pass: SQLite in the SQLite pass, PostgreSQL in the other."""
    return connection.vendor


@pytest.fixture
def places(tmp_path, vendor):
    """Two sites: the one in service, and an empty one to restore into."""
    made = []
    sites = []
    for name in ("live", "restored"):
        url = ""
        if vendor == "postgresql":
            db, url = new_postgres_database()
            made.append(db)
        sites.append(Site(tmp_path / name, url))
    yield sites
    for s in sites:
        s.stop()
    for db in made:
        drop_postgres_database(db)


def dump(site: Site) -> dict:
    """What an administrator would compare: users with numbers, options, tokens, audit."""
    numbers = site.run("export-numbers").stdout
    options = site.run("config", "list", "--format", "json").stdout
    tokens = [
        {k: t[k] for k in ("name", "scope")}
        for t in json.loads(site.run("tokens", "list", "--format", "json").stdout)
    ]
    audit = site.run(
        "django",
        "shell",
        "--no-imports",
        "-c",
        "from cardid.audit.models import AuditEvent as A; "
        "print(list(A.objects.order_by('id').values_list('action', 'target')))",
    ).stdout
    return {"numbers": numbers, "options": options, "tokens": tokens, "audit": audit}


def test_a_backup_taken_while_lookups_run_restores_the_same_service(places, tmp_path):
    live, restored = places
    live.run("init")
    people = tmp_path / "people.csv"
    people.write_text(
        "username,full-name,email\n"
        + "".join(f"p{i},Person {i},p{i}@example.org\n" for i in range(300))
    )
    live.run("users", "import", str(people))
    live.run("generate", "--all")
    live.run("config", "set", "smtp.password", SECRET)
    live.run("config", "set", "cards.length", "9")
    key = live.run("tokens", "create", "door", "--scope", "lookup").stdout.strip()
    held = dict(row[:2] for row in csv.reader(live.run("export-numbers").stdout.splitlines()[1:]))
    numbers = list(held.values())
    port = live.serve("--no-worker")

    answers: list[int] = []
    stop = threading.Event()

    def terminal():
        i = 0
        while not stop.is_set():
            r = request(
                port,
                "/api/v1/lookup",
                method="POST",
                body=json.dumps({"number": numbers[i % len(numbers)]}).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            answers.append(r.status)
            i += 1

    t = threading.Thread(target=terminal)
    t.start()
    try:
        while len(answers) < 20:
            stop.wait(0.05)
        backup = tmp_path / "cardid.backup"
        r = live.run("backup", str(backup))
        during = len(answers)
        while len(answers) < during + 20:
            stop.wait(0.05)
    finally:
        stop.set()
        t.join(timeout=30)
    assert set(answers) == {200}, f"look-ups failed during the backup: {set(answers)}"
    assert "written to" in r.stderr and "keys: secret_key, secrets.key" in r.stderr

    r = restored.run("restore", str(backup))
    assert "restored the backup of" in r.stderr
    assert dump(restored) == dump(live)
    assert restored.run("lookup", held["p7"]).stdout.strip() == "p7"
    # The restored site opens the stored secret with the restored key.
    probe = "from cardid.config import services as c; print(c.get('smtp.password'))"
    out = restored.run("django", "shell", "--no-imports", "-c", probe).stdout
    assert out.strip() == SECRET
    # And the terminal's token works there too.
    port2 = restored.serve("--no-worker")
    r = request(
        port2,
        "/api/v1/lookup",
        method="POST",
        body=json.dumps({"number": held["p3"]}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert r.status == 200 and r.json()["username"] == "p3"


def test_the_backup_file_holds_a_sound_database_and_the_keys(places, tmp_path, vendor):
    site = places[0]
    site.run("init")
    site.run("config", "set", "smtp.password", SECRET)
    site.run("backup", str(tmp_path / "b.tar.gz"))
    database = "database.sqlite3" if vendor == "sqlite" else "database.pgdump"
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        names = tar.getnames()
        tar.extract(database, tmp_path, filter="data")
        manifest = json.load(tar.extractfile("manifest.json"))
    assert sorted(names) == sorted(
        [database, "keys/secret_key", "keys/secrets.key", "manifest.json"]
    )
    assert manifest["database"] == vendor and manifest["keys"] == ["secret_key", "secrets.key"]
    if vendor == "sqlite":
        db = sqlite3.connect(tmp_path / database)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM django_migrations").fetchone()[0] > 10
    else:
        listing = subprocess.run(
            ["pg_restore", "--list", str(tmp_path / database)], capture_output=True, text=True
        )
        assert listing.returncode == 0 and "TABLE DATA public directory_user" in listing.stdout


def hostile_backup(path, members: list[tuple[str, bytes | None, str]], keys: list) -> None:
    """A backup-shaped file: a manifest naming `keys`, then members (name, data, kind) where
    kind is "file", "symlink" (data is the target) or "device"."""
    import io

    with tarfile.open(path, "w:gz") as tar:
        manifest = json.dumps({"format": 1, "database": "sqlite", "keys": keys}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tar.addfile(info)
            elif kind == "device":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("keys", "members", "said"),
    [
        (["../../escaped"], [("keys/../../escaped", b"x", "file")], "key files cardid does not"),
        (["/tmp/cardid-escaped"], [("keys//tmp/cardid-escaped", b"x", "file")], "does not have"),
        (["secret_key"], [("keys/secret_key", b"/etc/passwd", "symlink")], "not a regular file"),
        (["secret_key"], [("keys/secret_key", None, "device")], "not a regular file"),
        ("secret_key", [("keys/secret_key", b"k", "file")], "list of keys is not one"),
        (["secrets.key"], [], "lacks keys/secrets.key"),
    ],
)
def test_a_hostile_backup_is_refused_before_anything_is_written(tmp_path, keys, members, said):
    site = Site(tmp_path / "a" / "b" / "data")
    database = ("database.sqlite3", b"SQLite format 3\x00" + bytes(84), "file")
    hostile_backup(tmp_path / "evil.tar.gz", [*members, database], keys)
    r = site.run("restore", str(tmp_path / "evil.tar.gz"), check=False)
    assert r.returncode == 1 and said in r.stderr and "nothing was changed" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1  # one line
    assert not list(tmp_path.rglob("*escaped*")) and not Path("/tmp/cardid-escaped").exists()
    assert not (site.data / "secret_key.restored").exists()
