"""Deployment settings read from CARDID_* environment variables, with their defaults."""

import os
import secrets
from pathlib import Path

DEFAULT_ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def data_dir() -> Path:
    """The directory that holds the SQLite file and the generated secret key."""
    return Path(os.environ.get("CARDID_DATA_DIR", "./var")).resolve()


def database_url() -> str:
    """The database to use: CARDID_DATABASE_URL, else SQLite in the data directory."""
    url = os.environ.get("CARDID_DATABASE_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{data_dir() / 'cardid.sqlite3'}"


def secret_key() -> str:
    """CARDID_SECRET_KEY, else a key generated once and kept in the data directory."""
    key = os.environ.get("CARDID_SECRET_KEY", "").strip()
    if key:
        return key
    path = data_dir() / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # Written with owner-only permissions: the key signs sessions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def allowed_hosts() -> list[str]:
    raw = os.environ.get("CARDID_ALLOWED_HOSTS", "").strip()
    if not raw:
        return list(DEFAULT_ALLOWED_HOSTS)
    return [h.strip() for h in raw.split(",") if h.strip()]


def tasks_backend() -> str:
    return os.environ.get("CARDID_TASKS_BACKEND", "django_tasks_db.DatabaseBackend")


def debug() -> bool:
    return os.environ.get("CARDID_DEBUG", "").lower() in ("1", "true", "yes")
