"""Writes to the directory: users, groups, membership, and the user import."""

import csv
import io
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from cardid import spreadsheet
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.directory.keys import language_tag, username_problem
from cardid.directory.models import Group, Membership, User, group_key, username_key
from cardid.directory.selectors import get_group, get_user, users_by_names
from cardid.directory.signals import announce
from cardid.errors import Conflict, Invalid

USER_FIELDS = ("full_name", "email", "department", "office")


def _clean_username(raw: str) -> str:
    name = (raw or "").strip()
    problem = username_problem(name)
    if problem:
        raise Invalid(problem, field="username")
    return name


@transaction.atomic
def add_user(*, username: str, actor: Actor, source: str = "local", **details: str) -> User:
    name = _clean_username(username)
    unknown = set(details) - set(USER_FIELDS)
    if unknown:
        raise Invalid(f"unknown user field(s): {', '.join(sorted(unknown))}")
    if User.objects.filter(username_key=username_key(name)).exists():
        raise Conflict(f"user {name!r} already exists")
    try:
        with transaction.atomic():
            user = User.objects.create(
                username=name,
                username_key=username_key(name),
                source=source,
                **{k: (v or "").strip() for k, v in details.items()},
            )
    except IntegrityError:
        raise Conflict(f"user {name!r} already exists") from None
    audit.record(actor=actor, action="user.added", target=name)
    announce("user.created", [(user.id, user.username)])
    return user


@transaction.atomic
def update_user(*, user: User, actor: Actor, enabled: bool | None = None, **details: str) -> User:
    """Change a user's details and/or enabled flag; audited."""
    unknown = set(details) - set(USER_FIELDS)
    if unknown:
        raise Invalid(f"unknown user field(s): {', '.join(sorted(unknown))}")
    changed = []
    for k, v in details.items():
        v = (v or "").strip()
        if any(c in v for c in "\r\n\x00"):
            raise Invalid(f"{k} must be one line of text")
        if getattr(user, k) != v:
            setattr(user, k, v)
            changed.append(k)
    if enabled is not None and user.enabled != enabled:
        user.enabled = enabled
        changed.append("enabled" if enabled else "disabled")
    if changed:
        user.save()
        audit.record(
            actor=actor, action="user.updated", target=user.username, detail=", ".join(changed)
        )
        if "disabled" in changed:
            announce("user.disabled", [(user.id, user.username)])
    return user


@transaction.atomic
def set_password(*, username: str, password: str, actor: Actor) -> None:
    """A local password for a card holder (portal and terminal log-ins); stored hashed."""
    if len(password or "") < 8:
        raise Invalid("a password has at least 8 characters")
    user = get_user(username)
    user.password_hash = make_password(password)
    user.save(update_fields=["password_hash", "updated_at"])
    audit.record(actor=actor, action="user.password-set", target=user.username)


@transaction.atomic
def add_group(*, name: str, actor: Actor) -> Group:
    clean = (name or "").strip()
    if not clean or len(clean) > 200:
        raise Invalid("a group name must have 1 to 200 characters")
    if Group.objects.filter(name_key=group_key(clean)).exists():
        raise Conflict(f"group {clean!r} already exists")
    group = Group.objects.create(name=clean, name_key=group_key(clean))
    audit.record(actor=actor, action="group.added", target=clean)
    return group


@transaction.atomic
def add_members(*, group: str, usernames: list[str], actor: Actor) -> int:
    """Add the users to the group; returns how many were not members before."""
    g = get_group(group)
    users = users_by_names(usernames)
    have = set(Membership.objects.filter(group=g).values_list("user_id", flat=True))
    new = [Membership(group=g, user=u) for u in users if u.id not in have]
    Membership.objects.bulk_create(new)
    audit.record_many(
        actor=actor, events=[("group.member-added", m.user.username, g.name) for m in new]
    )
    return len(new)


# -- import users ----------------------------------------------------------------------------

IMPORT_COLUMNS = (
    "username",
    "full-name",
    "email",
    "department",
    "office",
    "language",
    "groups",
)


@dataclass
class UserImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    groups_added: int = 0
    errors: list[str] = field(default_factory=list)


def decode(data: bytes, what: str = "file") -> str:
    """UTF-8 text (with or without BOM), or Invalid naming where the encoding breaks."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Invalid(
            f"the {what} is not UTF-8 (byte 0x{data[e.start]:02x} at position {e.start}); "
            "save it as UTF-8 and try again"
        ) from None


def import_users(*, data: bytes, actor: Actor, dry_run: bool = False) -> UserImportResult:
    """Create or update the users of a CSV/TSV file with a header; all or nothing."""
    text = decode(data)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise Invalid("the file is empty; it needs a header line naming the columns")
    separator = spreadsheet.delimiter(lines[0])
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    header = [h.strip().lower().replace("_", "-") for h in next(reader)]
    if "username" not in header:
        raise Invalid(
            f"the header has no 'username' column (read as separated by "
            f"{spreadsheet.separator_name(separator)}); the columns are "
            + ", ".join(IMPORT_COLUMNS)
        )
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    if unknown:
        raise Invalid(
            f"unknown column(s) {', '.join(unknown)}; the columns are " + ", ".join(IMPORT_COLUMNS)
        )
    result = UserImportResult()
    rows: dict[str, dict] = {}
    for lineno, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(header):
            result.errors.append(
                f"line {lineno}: {len(raw)} columns, the header names {len(header)}"
            )
            continue
        row = dict(zip(header, (spreadsheet.unescape(c.strip()) for c in raw), strict=True))
        try:
            name = _clean_username(row["username"])
        except Invalid as e:
            result.errors.append(f"line {lineno}: {e}")
            continue
        if username_key(name) in rows:
            result.errors.append(f"line {lineno}: user {name!r} appears twice in the file")
            continue
        row["username"] = name
        rows[username_key(name)] = row
    if result.errors:
        return result
    if not rows:
        raise Invalid("the file has a header but no users")
    if dry_run:
        existing = set(
            User.objects.filter(username_key__in=list(rows)).values_list("username_key", flat=True)
        )
        result.added = len(rows) - len(existing)
        result.updated = len(existing)
        return result
    _apply_user_import(rows, actor, result)
    return result


@transaction.atomic
def _apply_user_import(rows: dict[str, dict], actor: Actor, result: UserImportResult) -> None:
    now = timezone.now()
    existing = {u.username_key: u for u in User.objects.filter(username_key__in=list(rows))}
    fields = {
        "full-name": "full_name",
        "email": "email",
        "department": "department",
        "office": "office",
        "language": "language",
    }
    to_create, to_update, events = [], [], []
    for key, row in rows.items():
        values = {attr: row[col] for col, attr in fields.items() if col in row}
        if "language" in values:
            values["language"] = language_tag(values["language"])
        user = existing.get(key)
        if user is None:
            to_create.append(
                User(username=row["username"], username_key=key, source="import", **values)
            )
            events.append(("user.added", row["username"], ""))
        elif any(getattr(user, a) != v for a, v in values.items()):
            for a, v in values.items():
                setattr(user, a, v)
            user.updated_at = now
            to_update.append(user)
            events.append(("user.updated", user.username, ""))
        else:
            result.unchanged += 1
    User.objects.bulk_create(to_create, batch_size=500)
    if to_create:
        created = User.objects.filter(username_key__in=[u.username_key for u in to_create])
        announce("user.created", list(created.values_list("id", "username")))
    if to_update:
        User.objects.bulk_update(
            to_update, [*USER_FIELDS, "language", "updated_at"], batch_size=500
        )
    result.added, result.updated = len(to_create), len(to_update)
    # Group membership: groups are created when missing, memberships are added (never removed).
    wanted = {
        key: [g.strip() for g in row.get("groups", "").split(";") if g.strip()]
        for key, row in rows.items()
    }
    names = {group_key(g): g for gs in wanted.values() for g in gs}
    if names:
        groups = {g.name_key: g for g in Group.objects.filter(name_key__in=list(names))}
        new_groups = [Group(name=n, name_key=k) for k, n in names.items() if k not in groups]
        Group.objects.bulk_create(new_groups)
        result.groups_added = len(new_groups)
        groups = {g.name_key: g for g in Group.objects.filter(name_key__in=list(names))}
        users = {u.username_key: u.id for u in User.objects.filter(username_key__in=list(wanted))}
        have = set(
            Membership.objects.filter(user_id__in=list(users.values())).values_list(
                "user_id", "group_id"
            )
        )
        members = []
        for key, gs in wanted.items():
            for g in gs:
                pair = (users[key], groups[group_key(g)].id)
                if pair not in have:
                    have.add(pair)
                    members.append(Membership(user_id=pair[0], group_id=pair[1]))
        Membership.objects.bulk_create(members, batch_size=500)
    audit.record_many(actor=actor, events=events)
