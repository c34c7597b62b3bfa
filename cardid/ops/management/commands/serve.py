"""cardid serve: the production web server (gunicorn) and, unless told otherwise, one worker."""

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cardid.commands import CardidCommand
from cardid.errors import CardidError

THREADS = 8  # per web process: each may hold a database connection


class Command(CardidCommand):
    help = "Run the production web server (gunicorn) plus one task worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="serve web requests only; run `cardid worker` elsewhere",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("CARDID_WEB_WORKERS", "2")),
            help="web worker processes (default 2)",
        )

    def handle(self, *args, host, port, no_worker, workers, **opts):
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CardidError(
                "the database is not initialised or not up to date; run `cardid init` first"
            )
        if not get_user_model().objects.filter(is_staff=True, is_active=True).exists():
            self.note(
                "no administrator yet: create one with `cardid init --admin NAME "
                "--password-file FILE` to log in to the console at /admin/"
            )
        _port_free(host, port)
        _fresh_metrics()
        connection.close()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "cardid.wsgi:application",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    str(workers),
                    # Threads, each taking one connection: a client that sends its request
                    # slowly holds one thread, never a whole process (a buffering proxy in
                    # front holds it instead; see the README's Deployment).
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(THREADS),
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "10",
                ]
            )
        ]
        if not no_worker:
            procs.append(subprocess.Popen([sys.executable, "-m", "cardid", "worker"]))
        self.note(
            f"cardid serving on http://{host}:{port}/"
            + ("" if no_worker else " with one task worker")
        )

        def stop(signum, frame):
            for p in procs:
                if p.poll() is None:
                    p.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        finally:
            stop(None, None)
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        codes = [p.returncode for p in procs]
        if any(c not in (0, -signal.SIGTERM, -signal.SIGINT) for c in codes):
            raise CardidError(f"a server process stopped unexpectedly (exit codes {codes})")


def _port_free(host: str, port: int) -> None:
    """Refuse at once, in words, when another process serves on the address (gunicorn
    itself retries for a while and then only says that it stopped)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise CardidError(
                    f"port {port} on {host} is in use (another cardid or another program "
                    "serves there); stop it, or choose another port with --port"
                ) from None
            raise CardidError(f"cannot serve on {host}:{port}: {e.strerror}") from None


def _fresh_metrics() -> None:
    """Counters start again with the server (Prometheus takes a restart of a counter in its
    stride); the files of processes that are gone would otherwise pile up."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    for path in Path(folder).glob("*.db") if folder else []:
        path.unlink(missing_ok=True)
