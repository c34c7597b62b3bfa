"""The text-file source: CSV or tab-separated, UTF-8 with or without BOM, with a header row."""

import csv
import io
from pathlib import Path

from cardid import spreadsheet
from cardid.config.screens import NotConfigured
from cardid.directory.keys import language_tag
from cardid.directory.sync.base import Snapshot, SourceError, SourceUser, reshape

COLUMNS = {
    "username": "username",
    "full-name": "full_name",
    "email": "email",
    "department": "department",
    "office": "office",
    "language": "language",
    "primary-card": "primary",
    "secondary-card": "secondary",
}
EXTRA = ("disabled", "groups")  # disabled: true for an account disabled in the directory


class FileSource:
    kind = "file"

    def __init__(self, path: str):
        if not path:
            raise NotConfigured("no users file is set", "sync.file.path", "/path/to/users.csv")
        self.path = Path(path)

    def test(self) -> str:
        snap = self.fetch()
        return f"{self.path}: {len(snap.users)} users, {len(snap.groups)} groups"

    def fetch(self) -> Snapshot:
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise SourceError(f"cannot read {self.path}: {e.strerror}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise SourceError(
                f"{self.path} is not UTF-8 (byte 0x{data[e.start]:02x} at "
                f"position {e.start}); save it as UTF-8"
            ) from None
        lines = text.splitlines()
        if not lines:
            raise SourceError(f"{self.path} is empty")
        reader = csv.reader(io.StringIO(text), delimiter=spreadsheet.delimiter(lines[0]))
        header = [h.strip().lower().replace("_", "-") for h in next(reader)]
        if "username" not in header:
            raise SourceError(
                f"{self.path}: the header has no 'username' column; the columns "
                "are " + ", ".join([*COLUMNS, *EXTRA])
            )
        unknown = [h for h in header if h not in COLUMNS and h not in EXTRA]
        if unknown:
            raise SourceError(
                f"{self.path}: unknown column(s) {', '.join(unknown)}; the "
                "columns are " + ", ".join([*COLUMNS, *EXTRA])
            )
        snap = Snapshot()
        for lineno, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise SourceError(
                    f"{self.path}, line {lineno}: {len(row)} columns, the header "
                    f"names {len(header)}; nothing was changed"
                )
            cells = dict(zip(header, (c.strip() for c in row), strict=True))
            user = SourceUser(**{attr: cells.get(col, "") for col, attr in COLUMNS.items()})
            disabled = cells.get("disabled", "").lower()
            if disabled not in ("", "true", "yes", "1", "false", "no", "0"):
                raise SourceError(
                    f"{self.path}, line {lineno}: disabled is {disabled!r}; write true or "
                    "false (or leave it empty); nothing was changed"
                )
            user.enabled = disabled not in ("true", "yes", "1")
            user.language = language_tag(user.language)
            user.primary, user.secondary = (
                reshape(user.primary, None),
                reshape(user.secondary, None),
            )
            snap.users.append(user)
            for g in (cells.get("groups") or "").split(";"):
                if g.strip():
                    snap.groups.setdefault(g.strip(), []).append(user.username)
        return snap
