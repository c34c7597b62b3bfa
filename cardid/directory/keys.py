"""How usernames and group names are matched: letter case folded, surrounding spaces gone
(no Django import). The UNIQUE keys of users and groups hold exactly this. A username is
also compared in its compatibility form (NFKC: fullwidth ＡＬＩＣＥ is alice), and a name that
could pass for another — an invisible or direction-changing character (ali\u200bce,
\u202eecila), or Latin letters mixed with Cyrillic or Greek look-alikes (Cyrillic а in аlice) —
is no username at all."""

import unicodedata

# Scripts whose letters look like Latin ones: mixed with Latin in one name, they disguise it.
LOOK_ALIKE = {"CYRILLIC", "GREEK"}


def username_key(username: str) -> str:
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def username_problem(name: str) -> str | None:
    """Why `name` (already stripped) cannot be a username, or None when it can."""
    if not name:
        return "the username is empty"
    if len(name) > 150:
        return f"username {name[:40]!r}… is longer than 150 characters"
    for c in name:
        kind = unicodedata.category(c)
        if kind == "Cc":
            return f"username {name[:40]!r} has a control character"
        if kind == "Cf" or unicodedata.bidirectional(c) in ("LRE", "RLE", "LRO", "RLO", "PDF"):
            return (
                f"username {name[:40]!r} has an invisible or direction-changing character "
                f"(U+{ord(c):04X}), which would let it pass for another name"
            )
    scripts = {
        unicodedata.name(c, "?").split()[0]
        for c in unicodedata.normalize("NFKC", name)
        if c.isalpha()
    }
    if "LATIN" in scripts and scripts & LOOK_ALIKE:
        other = sorted(scripts & LOOK_ALIKE)[0].title()
        return (
            f"username {name[:40]!r} mixes Latin and {other} letters that look alike, which "
            "would let it pass for another name"
        )
    return None


def group_key(name: str) -> str:
    return name.strip().lower()


def language_tag(raw: str) -> str:
    """A user's language as the directory or a file gives it ("de-CH", "fr_FR", "ES") as its
    primary subtag ("de", "fr", "es"); "" for nothing usable. One cardid does not have is kept
    (its messages fall back to the default language)."""
    primary = (raw or "").strip().replace("_", "-").split("-")[0].split(",")[0].lower()
    return primary if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 8 else ""
