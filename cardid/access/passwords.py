"""Password checks for card holders — the directory password (an LDAP bind, when the user
comes from the LDAP source) or the local one — and what ties a session to the password it
was opened with. The portal, the console's directory administrators and self-registration
all ask here.

Every check does the same work whatever the account: one password hash (or the bind) for
an unknown user, a user without a local password and a user with one alike, so the time
of the answer says nothing about who exists."""

import functools

from django.contrib.auth.hashers import check_password, make_password
from django.utils.crypto import salted_hmac

from cardid.config import services as config
from cardid.directory.models import User, username_key
from cardid.directory.selectors import get_user
from cardid.directory.sync import sources
from cardid.errors import CardidError, NotFound


class LoginRefused(CardidError):
    """Wrong credentials: one message for every reason (no such account, no password, a
    wrong one, a disabled account)."""


@functools.cache
def _decoy() -> str:
    """A real hash to check against when there is none: the same cost as a real check."""
    return make_password("cardid decoy password")


def by_password(username: str, password: str) -> User | None:
    """The enabled or disabled user whose directory or local password this is; None
    otherwise, after the same work. On Active Directory, the userPrincipalName
    (ann@example.org) names the user too."""
    ldap = config.get("sync.source") == "ldap"
    if "\x00" in (username or ""):  # no account's name: refused after the same work
        decoy_check(password)
        return None
    try:
        user = get_user(username or "")
    except NotFound:
        user = None
    if user is None and ldap:
        # A name cardid does not know asks the directory all the same (the same search and
        # bind as a directory user's wrong password): the time tells nothing. On Active
        # Directory the userPrincipalName (ann@example.org) names a user this way.
        canonical = sources.current().authenticate(username or "", password or "")
        if canonical:
            return User.objects.filter(username_key=username_key(canonical)).first()
        decoy_check(password)
        return None
    if user is None:
        decoy_check(password)
        return None
    if user.source == "ldap" and ldap:
        if sources.current().authenticate(user.username, password or ""):
            return user
        decoy_check(password)  # a refused bind takes as long as a wrong local password
        return None
    if not user.password_hash:
        decoy_check(password)
        return None
    return user if check_password(password or "", user.password_hash) else None


def decoy_check(password: str) -> None:
    """The work of one password check, for a caller that has no account to check."""
    check_password(password or "", _decoy())


def session_hash(user: User) -> str:
    """What a session of `user` keeps and compares on every request: a new local password
    (set by anyone, through any door) gives another value, which ends the old sessions."""
    return salted_hmac("cardid.session", f"{user.pk}:{user.password_hash}").hexdigest()
