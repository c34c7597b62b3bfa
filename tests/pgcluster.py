"""A PostgreSQL cluster of a test's own (initdb into a temp dir as the `postgres` user, on a
free port), to restart at will: the shared server is never restarted."""

import glob
import shutil
import subprocess
from pathlib import Path

from tests.conftest import free_port
from tests.environment import Missing


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise Missing(f"{name} not found: apt-get install postgresql")
    return found[-1]


class PrivateCluster:
    """A PostgreSQL cluster of this test's own, run as the `postgres` user."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.data = workdir / "data"
        self.port = free_port()

    def _as_postgres(self, *args: str, check=True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def init(self) -> "PrivateCluster":
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(
            postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )
        return self

    def start(self) -> None:
        self._as_postgres(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(
            postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def url(self, db: str = "cardid") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"
