"""Keyed digests: HMAC-SHA256 with a key derived from the server's secret, for values from
a small space (Card/ID numbers, usernames, addresses, PINs) that a plain hash would give away
to anyone who can read the table (an 8-digit space reverses in under a minute)."""

import functools
import hashlib
import hmac

from django.conf import settings


def digest(purpose: str, value: str) -> str:
    """The keyed digest of `value` for one `purpose` (each purpose its own key): 64 hex.
    The same as Django's salted_hmac(f"cardid.{purpose}", value, algorithm="sha256"), with
    each purpose's key worked out once (terminals ask for several at every swipe)."""
    key = _key(purpose, settings.SECRET_KEY)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=64)
def _key(purpose: str, secret: str) -> bytes:
    return hashlib.sha256(f"cardid.{purpose}{secret}".encode()).digest()
