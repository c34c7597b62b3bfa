"""Password checks for card holders: the directory password (an LDAP bind, when the user
comes from the LDAP source) or the local one. The portal, the console's directory
administrators and self-registration all ask here."""

from django.contrib.auth.hashers import check_password, make_password

from cardid.config import services as config
from cardid.directory.models import User
from cardid.directory.selectors import get_user
from cardid.directory.sync import sources
from cardid.errors import NotFound


def by_password(username: str, password: str) -> User | None:
    """The user whose directory or local password this is; None otherwise, after the same
    work."""
    try:
        user = get_user(username or "")
    except NotFound:
        make_password(password or "")  # the same work as for a real user
        return None
    if user.source == "ldap" and config.get("sync.source") == "ldap":
        return user if sources.current().authenticate(user.username, password or "") else None
    return (
        user if user.password_hash and check_password(password or "", user.password_hash) else None
    )
