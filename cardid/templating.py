"""`%field%` templates of the Card/ID notification, in the reference product's style
(no Django import)."""

import re

from cardid.words import gettext_noop

FIELDS = {
    "user": gettext_noop("the username"),
    "full_name": gettext_noop("the user's full name"),
    "email": gettext_noop("the user's e-mail address"),
    "card_number": gettext_noop("the new number"),
    "id_num": gettext_noop("the primary number (the reference product's name for it)"),
    "primary_card_number": gettext_noop("the primary number"),
    "secondary_card_number": gettext_noop("the secondary number"),
    "department": gettext_noop("the user's department"),
    "office": gettext_noop("the user's office"),
    "date": gettext_noop("today's date"),
    "organisation": gettext_noop("the organisation's name (Options › General › Branding)"),
}

PLACEHOLDER = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")


def unknown_fields(template: str) -> list[str]:
    """Placeholders in `template` that are not fields, in order of appearance."""
    seen = []
    for name in PLACEHOLDER.findall(template):
        if name.lower() not in FIELDS and name not in seen:
            seen.append(name)
    return seen


def check(template: str, *, one_line: bool = False) -> str | None:
    """What is wrong with `template`, or None."""
    try:
        template.encode("utf-8")
    except UnicodeEncodeError:
        return "the text is not valid UTF-8; save it as UTF-8 and try again"
    bad = unknown_fields(template)
    if bad:
        known = ", ".join(f"%{f}%" for f in FIELDS)
        return f"unknown placeholder {', '.join(f'%{b}%' for b in bad)}; the fields are {known}"
    if one_line and ("\n" in template or "\r" in template):
        return "a subject is one line"
    return None


def render(template: str, values: dict[str, str]) -> str:
    """Replace every known `%field%`; anything else is left as written."""

    def sub(match: re.Match) -> str:
        name = match.group(1).lower()
        return values.get(name, "") if name in FIELDS else match.group(0)

    return PLACEHOLDER.sub(sub, template)


def one_line(text: str) -> str:
    """A header value: line breaks (a header-injection attempt) become spaces."""
    return " ".join(text.split())
