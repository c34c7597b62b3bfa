"""The README's "Deployment" section, followed from start to finish: `deploy/install.sh`
into a temporary root (its places are variables), the settings file filled in, the units
checked with `systemd-analyze verify` and started as systemd would start them (their
EnvironmentFile, ExecStart and UMask), the first administrator, `cardid check`, a backup
while it serves, an upgrade, a restore into an empty place. systemctl itself is recorded,
not run: there is no systemd in the test machine's container."""

import getpass
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import free_port
from tests.ops.helpers import (
    ROOT,
    drop_postgres_database,
    new_postgres_database,
    request,
    wait_for,
)

CLEAN = ("CARDID_", "PROMETHEUS_", "DJANGO_")


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(CLEAN)}


def key_values(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as systemd reads a unit's settings and an EnvironmentFile."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "#")


class Install:
    def __init__(self, root: Path):
        self.root = root
        self.prefix = root / "opt" / "cardid"
        self.data = root / "var" / "lib" / "cardid"
        self.etc = root / "etc" / "cardid"
        self.units = root / "etc" / "systemd" / "system"
        self.units.mkdir(parents=True)
        self.systemctl_log = root / "systemctl.log"
        self.systemctl = root / "systemctl"
        self.systemctl.write_text(f'#!/bin/sh\necho "$@" >> {self.systemctl_log}\n')
        self.systemctl.chmod(0o755)
        self.procs: list[subprocess.Popen] = []

    def install(self) -> subprocess.CompletedProcess:
        env = clean_environment()
        env.update(
            PREFIX=str(self.prefix),
            DATA=str(self.data),
            ETC=str(self.etc),
            UNITS=str(self.units),
            SERVICE_USER=getpass.getuser(),
            SYSTEMCTL=str(self.systemctl),
            PYTHON=sys.executable,
        )
        r = subprocess.run(
            [str(ROOT / "deploy" / "install.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert r.returncode == 0, r.stderr
        return r

    def cardid(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """The README's `sudo -u cardid /opt/cardid/bin/cardid ...` (as this user)."""
        r = subprocess.run(
            [str(self.prefix / "bin" / "cardid"), *args],
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.root,
        )
        if check:
            assert r.returncode == 0, f"cardid {args}: {r.stderr}"
        return r

    def start(self, port: int) -> None:
        """Start both units as systemd would."""
        for name in ("cardid-web.service", "cardid-worker.service"):
            unit = key_values(self.units / name)
            argv = shlex.split(unit["ExecStart"])
            if name == "cardid-web.service":
                argv[argv.index("--port") + 1] = str(port)
            env = clean_environment() | key_values(Path(unit["EnvironmentFile"]))
            umask = int(unit["UMask"], 8)
            self.procs.append(
                subprocess.Popen(
                    argv,
                    env=env,
                    cwd="/",
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=lambda mask=umask: os.umask(mask),
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait(timeout=30)
        self.procs.clear()


@pytest.fixture
def place(tmp_path):
    inst = Install(tmp_path / "root")
    databases = []

    def database() -> str:
        """A database for the settings file: a fresh PostgreSQL one in the PostgreSQL pass;
        SQLite in the data dir otherwise ("" keeps the default)."""
        if connection.vendor != "postgresql":
            return ""
        name, url = new_postgres_database()
        databases.append(name)
        return url

    inst.database = database
    yield inst
    inst.stop()
    for name in databases:
        drop_postgres_database(name)


def set_settings(path: Path, **values: str) -> None:
    lines = [line for line in path.read_text().splitlines() if line.split("=", 1)[0] not in values]
    lines += [f"{k}={v}" for k, v in values.items() if v]
    path.write_text("\n".join(lines) + "\n")


def test_the_readme_deployment_from_install_to_restore(place, tmp_path):
    # 1. The first run installs and stops at the settings file.
    r = place.install()
    assert "wrote " + str(place.etc / "cardid.env") in r.stderr
    settings_file = place.etc / "cardid.env"
    assert oct(settings_file.stat().st_mode & 0o777) == "0o640"
    assert oct(place.data.stat().st_mode & 0o777) == "0o700"
    assert not place.systemctl_log.exists()  # nothing started yet

    # 2. Fill in the settings, run it again: the database is made, the services started.
    url = place.database()
    set_settings(
        settings_file,
        CARDID_DATABASE_URL=url,
        CARDID_ALLOWED_HOSTS="cards.example.org,127.0.0.1",
    )
    if not url:
        set_settings(settings_file, CARDID_DATABASE_URL="")
    place.install()
    assert place.systemctl_log.read_text().splitlines() == [
        "daemon-reload",
        "enable cardid-web.service cardid-worker.service",
        "restart cardid-web.service cardid-worker.service",
    ]

    # 3. The units as installed pass systemd's own check.
    assert shutil.which("systemd-analyze"), "./dev test installs it: apt-get install systemd"
    verify = subprocess.run(
        ["systemd-analyze", "verify", *map(str, sorted(place.units.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == "", verify.stderr

    # 4. Started as systemd would: the web server answers, the worker beats.
    port = free_port()
    place.start(port)
    wait_for(lambda: _health(port) == "ok", timeout=90, what="a healthy service")

    # 5. The first administrator, then `cardid check`.
    password = tmp_path / "pw"
    password.write_text("correct-horse-battery-9\n")
    place.cardid("init", "--admin", "boss", "--password-file", str(password))
    check = place.cardid("check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert oct(place.data.stat().st_mode & 0o777) == "0o700"
    for f in place.data.rglob("*"):
        if f.is_file():
            assert f.stat().st_mode & 0o077 == 0, f

    # 6. A backup while it serves.
    place.cardid("users", "add", "ann", "--full-name", "Ann")
    place.cardid("set-number", "ann", "60017734")
    backup = tmp_path / "cardid-backup.tar.gz"
    place.cardid("backup", str(backup))
    assert _health(port) == "ok"

    # 7. The upgrade: the same script again; the data stays.
    place.stop()
    place.install()
    assert place.cardid("lookup", "60017734").stdout.strip() == "ann"

    # 8. Restore into an empty place: point the settings at it, restore, start.
    empty = place.root / "var" / "lib" / "cardid-restored"
    set_settings(settings_file, CARDID_DATA_DIR=str(empty), CARDID_DATABASE_URL=place.database())
    place.cardid("restore", str(backup))
    assert place.cardid("lookup", "60017734").stdout.strip() == "ann"
    assert "boss" in place.cardid("admins", "list").stdout
    place.start(port)
    wait_for(lambda: _health(port) == "ok", timeout=90, what="the restored service")


def _health(port: int) -> str:
    try:
        return request(port, "/healthz").json()["status"]
    except (OSError, ValueError):
        return ""
