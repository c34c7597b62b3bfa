"""Reads about users and groups."""

from django.db.models import Prefetch, Q, QuerySet

from cardid.directory.models import Group, User, group_key, username_key
from cardid.errors import NotFound

SEE_USERS = "check the spelling against the list of users"
SEE_GROUPS = "check the spelling against the list of groups"


def _printable(name: str, what: str) -> str:
    # No database can match a control character in a name, and PostgreSQL refuses NUL: say so.
    if any(ord(c) < 32 for c in name):
        raise NotFound(f"unknown {what} {name!r}: names have no control characters")
    return name


def get_user(username: str) -> User:
    """The user named `username` (any letter case), or NotFound."""
    _printable(username, "user")
    user = User.objects.filter(username_key=username_key(username)).first()
    if user is None:
        raise NotFound(f"unknown user {username!r}; {SEE_USERS}")
    return user


def get_group(name: str) -> Group:
    _printable(name, "group")
    group = Group.objects.filter(name_key=group_key(name)).first()
    if group is None:
        raise NotFound(f"unknown group {name!r}; {SEE_GROUPS}")
    return group


def users_by_names(usernames: list[str]) -> list[User]:
    """The named users, in the order given; NotFound naming every unknown one."""
    keys = [username_key(_printable(u, "user")) for u in usernames]
    found = {u.username_key: u for u in User.objects.filter(username_key__in=keys)}
    missing = [u for u, k in zip(usernames, keys, strict=True) if k not in found]
    if missing:
        names = ", ".join(repr(m) for m in missing[:10])
        raise NotFound(f"unknown user(s) {names}; {SEE_USERS}")
    return [found[k] for k in dict.fromkeys(keys)]


def list_users(*, group: str | None = None, search: str = "") -> QuerySet[User]:
    """Users by username; `search` matches part of the username or full name."""
    qs = User.objects.order_by("username_key").prefetch_related(
        Prefetch("groups", queryset=Group.objects.order_by("name_key"))
    )
    if group:
        qs = qs.filter(membership__group=get_group(group))
    if "\x00" in search:
        return qs.none()  # no name holds a NUL character (and PostgreSQL cannot compare one)
    if search:
        qs = qs.filter(Q(username_key__contains=search.lower()) | Q(full_name__icontains=search))
    return qs


def list_groups() -> QuerySet[Group]:
    from django.db.models import Count

    return Group.objects.annotate(member_count=Count("membership")).order_by("name_key")
