"""Shared fixtures: the database under test, the CLI in-process, subprocess environments."""

import io
import os
import socket
import sys
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.console.conftest import PASSWORD as CONSOLE_PASSWORD
from tests.environment import IN_CI, Missing

ON_POSTGRES_RUN = os.environ.get("CARDID_TEST_POSTGRES") == "1"


def _postgres_reachable() -> str | None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    try:
        with socket.create_connection(
            (db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)), timeout=2
        ):
            return None
    except OSError as e:
        return (
            f"PostgreSQL is not reachable at {db.get('HOST')}:{db.get('PORT')} ({e}); "
            "install and start it (apt-get install postgresql) or set "
            "CARDID_TEST_POSTGRES_URL"
        )


SAMBA = "tests/directory/test_sync_samba.py"
SLOW_FIRST = {
    path: rank
    for rank, path in enumerate(
        [
            "tests/ops/test_production.py",
            "tests/ops/test_deployment.py",
            "tests/console/test_browser.py",
            "tests/ops/test_backup.py",
            "tests/jobs/test_leases.py",
            "tests/access/test_single_sign_on.py",
            "tests/access/test_guard.py",
            "tests/ops/test_serve.py",
            "tests/api/test_terminals.py",
            "tests/ops/test_machines.py",
            "tests/console/test_console.py",
        ]
    )
}


def pytest_configure(config):
    """In this process passwords are hashed with few PBKDF2 iterations (Django's advice for
    tests): the tests count password checks (tests/access/hashing.py) rather than wait for
    them. The hashes are ordinary PBKDF2 ones, which the processes the tests start
    (`cardid serve`, the CLI as a process) read with the production hasher."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["tests.hashers.FastPBKDF2PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    # The files that take longest first, so that the workers of a parallel run (each takes
    # whole files) finish together instead of one waiting on the other's last long file.
    # Samba's domain controller runs in one pass at a time (its ports are fixed): first in
    # the SQLite pass, last in the PostgreSQL pass, so that neither waits for the other.
    order = {**SLOW_FIRST, SAMBA: -1 if not ON_POSTGRES_RUN else len(SLOW_FIRST) + 1}
    items.sort(key=lambda item: order.get(item.nodeid.split("::")[0], len(SLOW_FIRST)))
    # A parallel run (pytest-xdist) runs each test by its id: two tests with one id would
    # run once, silently. Every test has its own.
    ids = Counter(item.nodeid for item in items)
    twice = sorted(nodeid for nodeid, n in ids.items() if n > 1)
    if twice:
        raise pytest.UsageError(f"tests share an id (a parallel run would run one): {twice}")

    if ON_POSTGRES_RUN:
        # The PostgreSQL pass was asked for: without the server it fails, it never skips.
        problem = _postgres_reachable()
        if problem:
            raise pytest.UsageError(f"the PostgreSQL pass cannot run: {problem}")
    elif connection.vendor != "postgresql":
        # Not skipped (a skip under CI is a failure): these run in the PostgreSQL pass.
        later = [item for item in items if "postgres_only" in item.keywords]
        if later:
            config.hook.pytest_deselected(items=later)
            items[:] = [item for item in items if "postgres_only" not in item.keywords]
            config.stash[_LEFT_FOR_POSTGRES] = len(later)


_LEFT_FOR_POSTGRES = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, config):
    later = config.stash.get(_LEFT_FOR_POSTGRES, 0)
    if later:
        terminalreporter.write_line(
            f"{later} test(s) need PostgreSQL: they run in the PostgreSQL pass of ./dev test"
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A missing part of the environment is one line; under CI a skip is a failure."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(Missing):
        report.longrepr = f"{item.nodeid}: the test environment lacks something: " + str(
            call.excinfo.value
        )
    elif IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: skipped under CI, which is a failure (CI=true): {reason}"
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """Parallel runs (pytest-xdist): each worker its own data dir — its own SQLite test
    database, keys and metrics files — set before the worker reads Django's settings
    (PostgreSQL test databases get the worker's suffix from pytest-django)."""
    base = Path(os.environ.get("CARDID_DATA_DIR") or Path(__file__).parents[1] / "var" / "test")
    for i, spec in enumerate(specs):
        spec.env["CARDID_DATA_DIR"] = str(base / f"gw{i}")
        spec.env["PROMETHEUS_MULTIPROC_DIR"] = str(base / f"gw{i}" / "metrics")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A module's shared Chromium closes after its last test (tests/browser.py), once the
    test's own fixtures (its page) are torn down."""
    yield
    if nextitem is None or nextitem.module is not item.module:
        browser = sys.modules.get("tests.browser")
        if browser is not None:
            browser.close_browsers()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, stdin: str | None = None) -> CliResult:
    """Run `cardid ARGS` in this process (against the test database)."""
    from django.db import connections

    from cardid.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    code = 0
    try:
        # run_from_argv closes every connection when a command ends; the test's own
        # transaction lives on one of them, so keep it open here.
        with (
            redirect_stdout(out),
            redirect_stderr(err),
            mock.patch.object(connections, "close_all"),
        ):
            main(list(args))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdin = old_stdin
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def _fresh_recent_memory():
    """Each test starts with nothing remembered in this process for its second (options,
    tokens, locked clients): the database is rolled back between tests."""
    from cardid import recent

    recent.forget_all()
    yield
    recent.forget_all()


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def admin_account():
    return get_user_model().objects.create_user(
        "root-admin", password=CONSOLE_PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def console(admin_account):
    c = Client()
    r = c.post("/admin/login", {"username": "root-admin", "password": CONSOLE_PASSWORD})
    assert r.status_code == 302
    return c


def database_url_of_test_db() -> str:
    """A CARDID_DATABASE_URL that points a subprocess at the database this test uses."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for a `cardid` subprocess that shares this test's database."""
    env = dict(os.environ)
    env["CARDID_DATABASE_URL"] = database_url_of_test_db()
    env["CARDID_DATA_DIR"] = str(tmp_path / "data")
    env["CARDID_SECRET_KEY"] = "test-secret-key-for-subprocesses-only-0123456789"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
