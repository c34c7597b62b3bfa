"""Deployment settings read from CARDID_* environment variables, with their defaults."""

import os
import secrets
import stat
from pathlib import Path

DEFAULT_ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


PACKAGE = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The directory that holds the SQLite file, the generated keys and printed cards:
    CARDID_DATA_DIR; else `var/` of the source checkout cardid runs from (found from the
    package's own place, never from the current directory); else, for an installed
    package, $XDG_DATA_HOME/cardid (~/.local/share/cardid)."""
    explicit = os.environ.get("CARDID_DATA_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    checkout = PACKAGE.parent
    if (checkout / "pyproject.toml").exists() and (checkout / "cardid").is_dir():
        return checkout / "var"
    xdg = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser().resolve() / "cardid"


def private_dir(path: Path) -> Path:
    """`path` made if missing, readable by its owner only (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def make_private(data: Path, *more: str | None) -> int:
    """Close what an older cardid (or a copy) left open to others: the data dir and its
    directories 0700, its files 0600 (and the SQLite file with its journals when it lies
    elsewhere). Returns how many were changed."""
    changed = 0
    paths = [data, *data.rglob("*")] if data.exists() else []
    for extra in filter(None, more):
        paths += [Path(f"{extra}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    for path in paths:
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & 0o077:
            continue
        path.chmod(0o700 if stat.S_ISDIR(mode) else 0o600)
        changed += 1
    return changed


def proxy_https() -> bool:
    """CARDID_PROXY_HTTPS=1: a TLS-terminating proxy in front says so in X-Forwarded-Proto."""
    return os.environ.get("CARDID_PROXY_HTTPS", "").strip().lower() in ("1", "true", "yes")


def trusted_proxies() -> list[str]:
    """Addresses or networks of reverse proxies whose X-Forwarded-For names the client
    (CARDID_TRUSTED_PROXIES, comma-separated; default none: the peer is the client)."""
    raw = os.environ.get("CARDID_TRUSTED_PROXIES", "").strip()
    return [a.strip() for a in raw.split(",") if a.strip()]


def metrics_allow() -> list[str]:
    """Addresses or networks that may read /metrics without a token (default: loopback)."""
    raw = os.environ.get("CARDID_METRICS_ALLOW", "").strip()
    return [a.strip() for a in raw.split(",") if a.strip()] or ["127.0.0.1", "::1"]


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
    private_dir(path.parent)
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
