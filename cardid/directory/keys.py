"""How usernames and group names are matched: letter case folded, surrounding spaces gone
(no Django import). The UNIQUE keys of users and groups hold exactly this."""


def username_key(username: str) -> str:
    return username.strip().lower()


def group_key(name: str) -> str:
    return name.strip().lower()


def language_tag(raw: str) -> str:
    """A user's language as the directory or a file gives it ("de-CH", "fr_FR", "ES") as its
    primary subtag ("de", "fr", "es"); "" for nothing usable. One cardid does not have is kept
    (its messages fall back to the default language)."""
    primary = (raw or "").strip().replace("_", "-").split("-")[0].split(",")[0].lower()
    return primary if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 8 else ""
