"""Real `cardid` processes for the operations tests: each with its own data dir (and its own
database, SQLite in the data dir or a fresh PostgreSQL database), started and stopped by
the test."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CARDID = [sys.executable, "-m", "cardid"]


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []

    def json(self):
        return json.loads(self.body)


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict | None = None,
    body: bytes | None = None,
    source: str = "127.0.0.1",
    timeout: float = 15.0,
) -> Answer:
    """One HTTP request to 127.0.0.1:`port`, sent from the loopback address `source`; an
    answer slower than `timeout` seconds raises."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Answer(r.status, r.headers, r.read())
    finally:
        conn.close()


@dataclass
class Site:
    """A cardid installation of its own: a data dir, a database, an environment."""

    data: Path
    database_url: str = ""
    extra: dict = field(default_factory=dict)
    procs: list = field(default_factory=list)
    log: str = ""  # what the stopped servers wrote on standard error

    @property
    def env(self) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CARDID_", "PROMETHEUS_", "DJANGO_"))
        }
        env["CARDID_DATA_DIR"] = str(self.data)
        if self.database_url:
            env["CARDID_DATABASE_URL"] = self.database_url
        env.update(self.extra)
        return env

    def run(self, *args: str, check: bool = True, cwd=None, stdin: str | None = None):
        r = subprocess.run(
            [*CARDID, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=cwd or ROOT,
            input=stdin,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"cardid {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def serve(self, *extra: str, port: int | None = None) -> int:
        port = port or free_port()
        proc = subprocess.Popen(
            [*CARDID, "serve", "--port", str(port), "--workers", "1", *extra],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=ROOT,
        )
        self.procs.append(proc)
        wait_for(lambda: _answers(port) or proc.poll() is not None, what="the server")
        if proc.poll() is not None:
            raise AssertionError(f"cardid serve stopped: {proc.stderr.read().decode()}")
        return port

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            self.log += p.stderr.read().decode("utf-8", "replace")
        self.procs.clear()


def _answers(port: int) -> bool:
    try:
        return request(port, "/healthz").status in (200, 503)
    except OSError:
        return False


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def new_postgres_database() -> tuple[str, str]:
    """A fresh, empty database on the shared PostgreSQL: (name, URL)."""
    name = f"cardid_ops_{uuid.uuid4().hex[:10]}"
    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True, capture_output=True
    )
    return name, f"postgres://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(name: str) -> None:
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", "--if-exists", name],
        capture_output=True,
    )
