"""The suite cannot go green while skipping what it claims to test: under CI a skip is a
failure naming what is missing, and a missing part of the test environment is one line, not
a traceback from inside a fixture (issue 26). Checked by running pytest on a small test
module made for the purpose, in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROBE = """
import pytest

from tests.environment import Missing


@pytest.mark.skipif(True, reason="needs frobnicator: apt-get install frobnicator")
def test_skipped():
    pass


@pytest.fixture
def server():
    raise Missing("slapd did not start: port 389 is taken; stop what listens there")


def test_with_a_server(server):
    pass
"""


def run_probe(tmp_path, ci: bool) -> subprocess.CompletedProcess:
    """pytest on the probe module with the suite's own hooks (tests/conftest.py as a
    plugin), outside tests/: a parallel run collecting tests/ never sees the probe."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {**os.environ, "CARDID_DATA_DIR": str(tmp_path / "data")}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            "--ds",
            "cardid.settings",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            str(probe),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE.parent,
    )


def test_under_ci_a_skip_fails_and_names_what_is_missing(tmp_path):
    r = run_probe(tmp_path, ci=True)
    assert r.returncode != 0
    assert "skipped under CI, which is a failure (CI=true): needs frobnicator" in r.stdout


def test_outside_ci_a_skip_is_a_skip_that_names_what_to_install(tmp_path):
    r = run_probe(tmp_path, ci=False)
    assert "needs frobnicator: apt-get install frobnicator" in r.stdout
    assert "1 skipped" in r.stdout


@pytest.mark.parametrize("ci", [True, False])
def test_a_missing_part_of_the_environment_is_one_line(tmp_path, ci):
    r = run_probe(tmp_path, ci=ci)
    said = "the test environment lacks something: slapd did not start: port 389 is taken"
    assert said in r.stdout
    assert "Traceback" not in r.stdout and "def server" not in r.stdout
