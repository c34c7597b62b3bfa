"""Keyed digests: HMAC-SHA256 with a key derived from the server's secret, for values from
a small space (Card/ID numbers, usernames, addresses) that a plain hash would give away to
anyone who can read the table (an 8-digit space reverses in under a minute)."""

from django.utils.crypto import salted_hmac


def digest(purpose: str, value: str) -> str:
    """The keyed digest of `value` for one `purpose` (each purpose its own key): 64 hex."""
    return salted_hmac(f"cardid.{purpose}", value, algorithm="sha256").hexdigest()
