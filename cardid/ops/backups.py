"""Backups that can be taken while the service runs, and restored into an empty data dir or
database (SPEC §10). A backup is one tar file, readable by its owner only, holding:

- the database: SQLite's online backup (a consistent copy, writers may go on), or for
  PostgreSQL a `pg_dump` in its custom format (one consistent snapshot);
- the keys the data needs: the secret key (retired numbers and counters are keyed with it)
  and the key of the encrypted option secrets — unless they come from the environment
  (CARDID_SECRET_KEY, CARDID_SECRETS_KEY), which the administrator keeps themselves;
- a manifest: what it is, when, from which version.
"""

import io
import json
import os
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection

from cardid import env
from cardid.errors import CardidError, Invalid

FORMAT = 1
KEYS = ("secret_key", "secrets.key")


def _db() -> dict:
    return settings.DATABASES["default"]


def _vendor() -> str:
    return "sqlite" if "sqlite" in _db()["ENGINE"] else "postgresql"


def _pg_env() -> dict:
    d = _db()
    return {
        **os.environ,
        "PGHOST": str(d.get("HOST") or "127.0.0.1"),
        "PGPORT": str(d.get("PORT") or 5432),
        "PGUSER": str(d.get("USER") or ""),
        "PGPASSWORD": str(d.get("PASSWORD") or ""),
        "PGDATABASE": str(d["NAME"]),
    }


def _run(args: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, check=True, env=_pg_env(), **kw)
    except FileNotFoundError:
        raise CardidError(
            f"{args[0]} is not installed; install the PostgreSQL client (apt-get install "
            "postgresql-client) to take or restore a backup"
        ) from None
    except subprocess.CalledProcessError as e:
        words = e.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CardidError(f"{what} failed: {words[-1] if words else e}") from None


def backup(target: Path) -> dict:
    """Write a backup to `target` (replacing nothing: a file there is refused)."""
    if target.exists():
        raise Invalid(f"{target} exists; give a new file name (nothing was written)")
    vendor = _vendor()
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as tmp:
        dump = Path(tmp) / ("database.sqlite3" if vendor == "sqlite" else "database.pgdump")
        if vendor == "sqlite":
            connection.close()
            source = sqlite3.connect(_db()["NAME"])
            copy = sqlite3.connect(dump)
            with copy:
                source.backup(copy)  # SQLite's online backup: consistent, writers go on
            copy.close()
            source.close()
        else:
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}"], "pg_dump")
        keys = [k for k in KEYS if (env.data_dir() / k).exists() and not _from_env(k)]
        manifest = {
            "format": FORMAT,
            "cardid": version("cardid"),
            "database": vendor,
            "taken": datetime.now(UTC).isoformat(timespec="seconds"),
            "keys": keys,
        }
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump, arcname=dump.name)
            for k in keys:
                tar.add(env.data_dir() / k, arcname=f"keys/{k}")
    return manifest


def _from_env(key_file: str) -> bool:
    variable = {"secret_key": "CARDID_SECRET_KEY", "secrets.key": "CARDID_SECRETS_KEY"}[key_file]
    return bool(os.environ.get(variable, "").strip())


def restore(source: Path) -> dict:
    """Fill an empty data dir or database from a backup; refuses a non-empty one."""
    try:
        tar = tarfile.open(source, mode="r:gz")
    except (OSError, tarfile.TarError) as e:
        raise Invalid(f"{source} is not a cardid backup ({e}); nothing was changed") from None
    with tar:
        try:
            manifest = json.load(tar.extractfile("manifest.json"))
        except (KeyError, ValueError):
            raise Invalid(f"{source} has no cardid manifest; nothing was changed") from None
        vendor = _vendor()
        keys = _members_checked(tar, manifest, source)
        if manifest.get("database") != vendor:
            raise Invalid(
                f"{source} holds a {manifest.get('database')} database; this cardid uses "
                f"{vendor} (set CARDID_DATABASE_URL to match); nothing was changed"
            )
        if _has_data():
            raise Invalid(
                "the database is not empty; restore into a new data dir or an empty database "
                "(nothing was changed)"
            )
        with tempfile.TemporaryDirectory() as tmp:
            name = "database.sqlite3" if vendor == "sqlite" else "database.pgdump"
            tar.extract(name, tmp, filter="data")
            dump = Path(tmp) / name
            if vendor == "sqlite":
                connection.close()
                target = Path(_db()["NAME"])
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{target}{suffix}").unlink(missing_ok=True)
                copy = sqlite3.connect(dump)
                dest = sqlite3.connect(target)
                with dest:
                    copy.backup(dest)
                dest.close()
                copy.close()
            else:
                os.chmod(tmp, 0o755)  # pg_restore runs as this user: it reads the file
                _run(
                    ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_db()['NAME']}"]
                    + [str(dump)],
                    "pg_restore",
                )
        # The keys the data was made with replace any this (empty) place made at its first
        # start: nothing here was keyed or encrypted with those.
        for k in keys:
            data = tar.extractfile(f"keys/{k}").read()
            here = env.data_dir() / k
            fd = os.open(
                here.with_suffix(".restored"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
            )
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(here.with_suffix(".restored"), here)
    return manifest


def _members_checked(tar: tarfile.TarFile, manifest: dict, source: Path) -> list[str]:
    """The key files to restore, once every member the restore would read is one that
    cardid writes — by exact name, a regular file of a sane size. Anything else (a name that
    climbs out of the data dir, an absolute path, a link, a device, a key cardid does not
    have) refuses the whole backup before anything is written."""
    keys = manifest.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise Invalid(
            f"{source}: its manifest's list of keys is not one cardid writes; nothing was changed"
        )
    strange = [k for k in keys if k not in KEYS]
    if strange:
        raise Invalid(
            f"{source} names key files cardid does not have ({', '.join(map(repr, strange))}); "
            "a backup cardid wrote holds only secret_key and secrets.key — nothing was changed"
        )
    database = "database.sqlite3" if manifest.get("database") == "sqlite" else "database.pgdump"
    for name, limit in [(f"keys/{k}", 64 * 1024) for k in keys] + [(database, None)]:
        try:
            member = tar.getmember(name)
        except KeyError:
            raise Invalid(f"{source} lacks {name}; nothing was changed") from None
        if not member.isreg() or (limit is not None and member.size > limit):
            raise Invalid(
                f"{source}: {name} is not a regular file of the kind cardid writes; "
                "nothing was changed"
            )
    return keys


def _has_data() -> bool:
    """Whether restoring would overwrite something: any table in PostgreSQL (pg_restore
    makes them), any user in SQLite (the file is replaced whole)."""
    tables = connection.introspection.table_names()
    if _vendor() == "postgresql":
        return bool(tables)
    if "directory_user" not in tables:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM directory_user")
        return cursor.fetchone()[0] > 0


def sqlite_path() -> str | None:
    """The SQLite file, when the database is one."""
    return _db()["NAME"] if _vendor() == "sqlite" else None


def database_label() -> str:
    """The database, for people: the SQLite file, or PostgreSQL without the password."""
    if _vendor() == "sqlite":
        return f"SQLite {_db()['NAME']}"
    url = urlparse(env.database_url())
    host = url.hostname or "localhost"
    return f"PostgreSQL {url.username or ''}@{host}:{url.port or 5432}{url.path}"
