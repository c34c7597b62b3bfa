"""What the test environment lacks, said in one line.

A server or program the tests start (slapd, Samba, Chromium, node's OpenID provider, a
PostgreSQL cluster of their own) that is not installed, or cannot start, raises `Missing`
with what is wrong and how to fix it; the report of that test is that one line, never a
traceback from deep inside a fixture. Under CI (`CI=true`) a skip is a failure: a run that
goes green while skipping what it claims to test proves nothing."""

import os

IN_CI = os.environ.get("CI") == "true"


class Missing(Exception):
    """The environment cannot give a test what it needs; the message says how to fix it."""
