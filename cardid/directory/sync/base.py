"""What every sync source delivers: the whole directory, read before anything is written
(no Django import)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cardid.directory.keys import username_key
from cardid.errors import CardidError
from cardid.patterns import PatternError, compile_pattern


class SourceError(CardidError):
    """The source could not be read; the message names the problem and the way out."""


@dataclass
class SourceUser:
    username: str
    full_name: str = ""
    email: str = ""
    department: str = ""
    office: str = ""
    language: str = ""  # a primary language subtag (keys.language_tag), "" when not given
    primary: str = ""
    secondary: str = ""
    enabled: bool = True  # False: the account is disabled in the directory


@dataclass
class Snapshot:
    users: list[SourceUser] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group name -> usernames
    warnings: list[str] = field(default_factory=list)


def reshape(value: str, pattern) -> str:
    """A card value as imported: trimmed, then the regex's first group if one is set."""
    value = (value or "").strip()
    if not value or pattern is None:
        return value
    m = pattern.search(value)
    if not m:
        return ""
    return (m.group(1) if m.groups() else m.group(0)) or ""


def compile_card_regex(text: str):
    """The compiled card regex (RE2: linear time), None when blank, else SourceError."""
    if not text:
        return None
    try:
        return compile_pattern(text)
    except PatternError as e:
        raise SourceError(f"sync.ldap.card-regex: {e}") from None


def check_unique(users: list[SourceUser]) -> None:
    """Refuse a directory that names one user twice (usernames are case-insensitive here)."""
    seen: dict[str, str] = {}
    dupes = []
    for u in users:
        key = username_key(u.username)
        if not key:
            raise SourceError(
                "the source returned a user with an empty username; fix the "
                "username attribute or the records"
            )
        if key in seen and len(dupes) < 5:
            dupes.append(f"{seen[key]!r} and {u.username!r}")
        seen.setdefault(key, u.username)
    if dupes:
        raise SourceError(
            "the source has usernames that differ only in letter case ("
            + "; ".join(dupes)
            + "); cardid treats them as one user: rename one "
            "in the directory"
        )


def parse_additional_groups(text: str) -> dict[str, list[str]]:
    """`group: username` lines (blank lines and # comments ignored)."""
    groups: dict[str, list[str]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            raise SourceError(f"additional groups file, line {lineno}: expected 'group: username'")
        group, user = (p.strip() for p in line.split(":", 1))
        if not group or not user:
            raise SourceError(f"additional groups file, line {lineno}: group or username is empty")
        groups.setdefault(group, []).append(user)
    return groups
