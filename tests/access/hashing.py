"""Counting password checks: every check of a password against a stored hash, by any door,
ends in the hasher's `verify`."""

from contextlib import contextmanager
from unittest import mock

from django.contrib.auth.hashers import get_hasher


@contextmanager
def password_checks():
    """A list that gets one entry per password check made inside the block."""
    hasher = type(get_hasher())
    made: list[str] = []
    real = hasher.verify

    def verify(self, password, encoded):
        made.append(encoded.split("$", 1)[0])
        return real(self, password, encoded)

    with mock.patch.object(hasher, "verify", verify):
        yield made
