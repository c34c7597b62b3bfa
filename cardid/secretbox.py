"""Secrets among the options (SMTP password, LDAP bind passwords, an OpenID Connect client
secret, webhook secrets) are stored encrypted (Fernet: AES-128-CBC with HMAC-SHA256) with a
key kept outside the database: CARDID_SECRETS_KEY, else the file `secrets.key` in the data
dir (made once, readable by its owner only). A copy of the database alone gives away no
secret. `cardid secrets rotate` re-encrypts them with a new key."""

import os
from pathlib import Path

PREFIX = "fernet:"
# cryptography is imported where a secret is sealed or opened, not at every start-up.


class SecretError(ValueError):
    """A stored secret that the current key cannot open."""


def key_path(data_dir: Path) -> Path:
    return data_dir / "secrets.key"


def from_environment() -> bool:
    return bool(os.environ.get("CARDID_SECRETS_KEY", "").strip())


def keys(data_dir: Path) -> list[bytes]:
    """The keys, newest first: CARDID_SECRETS_KEY (comma-separated, for a rotation by
    environment), else the key file (one key a line), made on first use."""
    env = os.environ.get("CARDID_SECRETS_KEY", "").strip()
    if env:
        return [k.strip().encode() for k in env.split(",") if k.strip()]
    path = key_path(data_dir)
    if not path.exists():
        from cryptography.fernet import Fernet

        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key() + b"\n")
    return [line.strip() for line in path.read_bytes().splitlines() if line.strip()]


def seal(plain: str, data_dir: Path) -> str:
    """The stored form of a secret ("" stays "": not set)."""
    if not plain:
        return ""
    from cryptography.fernet import Fernet, MultiFernet

    return (
        PREFIX + MultiFernet([Fernet(k) for k in keys(data_dir)]).encrypt(plain.encode()).decode()
    )


def open_(stored: str, data_dir: Path) -> str:
    """The secret in clear; a value stored before secrets were encrypted is returned as it
    is (and sealed at the next rotation)."""
    if not stored or not stored.startswith(PREFIX):
        return stored
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet

    try:
        return (
            MultiFernet([Fernet(k) for k in keys(data_dir)])
            .decrypt(stored[len(PREFIX) :].encode())
            .decode()
        )
    except InvalidToken:
        raise SecretError(
            "a stored secret cannot be decrypted with the key in use; restore the key "
            f"({key_path(data_dir)} or CARDID_SECRETS_KEY) or set the secret again"
        ) from None


def prepare_rotation(stored_values: list[str], data_dir: Path) -> tuple[list[str], Path]:
    """The values re-encrypted with a new key, and the new key file (the new key first, the
    old ones kept to read what is not yet re-encrypted) written beside the key file but not
    yet in its place: `put_in_place` moves it there once the values are stored, so that a
    rotation that fails leaves the key file as it was."""
    from cryptography.fernet import Fernet, MultiFernet

    old = keys(data_dir)
    new = Fernet.generate_key()
    plain = [open_(v, data_dir) for v in stored_values]
    pending = key_path(data_dir).with_suffix(".new")
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(b"\n".join([new, *old]) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    box = MultiFernet([Fernet(new), *[Fernet(k) for k in old]])
    return [PREFIX + box.encrypt(p.encode()).decode() if p else "" for p in plain], pending


def put_in_place(pending: Path, data_dir: Path) -> None:
    """The prepared key file becomes the key file (one atomic rename)."""
    os.replace(pending, key_path(data_dir))


def reencrypt(stored_values: list[str], data_dir: Path) -> list[str]:
    """The values re-encrypted with the first key in use (after a new key was put first
    in CARDID_SECRETS_KEY); values stored in clear are sealed."""
    return [seal(open_(v, data_dir), data_dir) if v else "" for v in stored_values]
