"""The Options pages of the console: which options each page shows, under which headings and
labels. The paths and the labels follow the reference product, so that the steps an
administrator already knows work here."""

import re
from dataclasses import dataclass

from cardid.config import options
from cardid.errors import Invalid


@dataclass(frozen=True)
class OptionsPage:
    slug: str
    title: str  # the breadcrumb after "Options ›"
    sections: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def keys(self) -> list[str]:
        return [k for _, keys in self.sections for k in keys]


LDAP_ATTRS = tuple(
    f"sync.ldap.attr.{a}"
    for a in (
        "username",
        "full-name",
        "email",
        "department",
        "office",
        "primary-card",
        "secondary-card",
        "disabled",
        "language",
    )
)

PAGES = {
    p.slug: p
    for p in (
        OptionsPage(
            "sync",
            "User/Group Sync",
            (
                ("Sync Source", ("sync.source", "sync.schedule", "sync.additional-groups-file")),
                (
                    "Card/ID numbers",
                    (
                        "sync.import-card-numbers",
                        "sync.auto-generate-primary-when-blank",
                        "sync.ldap.card-regex",
                        "sync.card-conversion",
                    ),
                ),
                (
                    "Disabled and missing users",
                    (
                        "sync.import-disabled",
                        "sync.missing-users",
                        "sync.guard.max-removal-percent",
                    ),
                ),
                (
                    "LDAP / Active Directory",
                    (
                        "sync.ldap.preset",
                        "sync.ldap.url",
                        "sync.ldap.starttls",
                        "sync.ldap.verify-certificate",
                        "sync.ldap.ca-file",
                        "sync.ldap.bind-dn",
                        "sync.ldap.bind-password",
                        "sync.ldap.base-dns",
                        "sync.ldap.user-filter",
                        "sync.ldap.group-filter",
                        *LDAP_ATTRS,
                    ),
                ),
                (
                    "Write-back to LDAP / Active Directory",
                    (
                        "sync.ldap.write-back",
                        "sync.ldap.write-back.bind-dn",
                        "sync.ldap.write-back.bind-password",
                    ),
                ),
                ("CSV / TSV file", ("sync.file.path",)),
                ("Custom program", ("sync.program.path", "sync.program.timeout")),
            ),
        ),
        OptionsPage(
            "notifications",
            "Notifications",
            (
                (
                    "Card/ID Number Notification",
                    (
                        "notify.card-auto-generated",
                        "notify.card-admin-generated",
                        "notify.card-self-generated",
                        "notify.card.subject",
                        "notify.card.body",
                    ),
                ),
                (
                    "E-mail (SMTP)",
                    (
                        "smtp.host",
                        "smtp.port",
                        "smtp.security",
                        "smtp.verify-certificate",
                        "smtp.ca-file",
                        "smtp.username",
                        "smtp.password",
                        "smtp.from",
                        "smtp.timeout",
                        "smtp.connections",
                    ),
                ),
            ),
        ),
        OptionsPage(
            "user-features",
            "General › User Features",
            (
                (
                    "User Features",
                    (
                        "portal.view-card-number",
                        "portal.change-card-number",
                        "portal.change-card-number.mode",
                        "portal.change-card-number.max-per-day",
                        "portal.change-pin",
                    ),
                ),
            ),
        ),
        OptionsPage(
            "card-numbers",
            "Card/ID numbers",
            (
                (
                    "Generation policy",
                    (
                        "cards.length",
                        "cards.no-leading-zero",
                        "cards.check-digit",
                        "cards.reject-weak-patterns",
                        "cards.max-guess-probability",
                        "cards.retired-quarantine-days",
                    ),
                ),
                ("PINs", ("cards.pin.min-length", "cards.pin.max-length")),
            ),
        ),
        OptionsPage(
            "card-readers",
            "Card readers",
            (
                (
                    "Self-registration at a terminal",
                    ("cards.self-registration", "cards.self-registration.code-minutes"),
                ),
            ),
        ),
        OptionsPage(
            "branding",
            "General › Branding",
            (("Organisation", ("branding.name", "branding.logo")),),
        ),
        OptionsPage(
            "webhooks",
            "Webhooks › Delivery",
            (("Delivery", ("webhooks.allowed-hosts", "webhooks.ca-file", "webhooks.timeout")),),
        ),
        OptionsPage(
            "sign-in",
            "General › Sign-in",
            (
                (
                    "Single sign-on (OpenID Connect)",
                    (
                        "auth.oidc.issuer",
                        "auth.oidc.client-id",
                        "auth.oidc.client-secret",
                        "auth.oidc.name",
                        "auth.oidc.username-claim",
                        "auth.oidc.portal",
                        "auth.oidc.console",
                        "auth.oidc.admin-group",
                    ),
                ),
                ("Passwords", ("auth.local-login",)),
            ),
        ),
        OptionsPage(
            "security",
            "General › Security",
            (
                ("Administrators", ("console.admin-group",)),
                ("Look-up protection", ("api.lookup.max-misses", "api.lookup.window-minutes")),
            ),
        ),
    )
}

# Labels where the option's own help text is not the words the reference uses.
LABELS = {
    "sync.source": "Sync source",
    "sync.schedule": "Daily sync at (HH:MM, or off)",
    "sync.ldap.preset": "Directory product",
    "sync.ldap.url": "Server URL",
    "sync.ldap.starttls": "Use StartTLS",
    "sync.ldap.verify-certificate": "Verify the server's certificate",
    "sync.ldap.ca-file": "CA certificate file",
    "sync.ldap.bind-dn": "Bind DN",
    "sync.ldap.bind-password": "Bind password",
    "sync.ldap.base-dns": "Base DNs",
    "sync.ldap.user-filter": "User filter",
    "sync.ldap.group-filter": "Group filter",
    "sync.ldap.attr.username": "Username attribute",
    "sync.ldap.attr.full-name": "Full name attribute",
    "sync.ldap.attr.email": "E-mail attribute",
    "sync.ldap.attr.department": "Department attribute",
    "sync.ldap.attr.office": "Office attribute",
    "sync.ldap.attr.primary-card": "Primary Card/ID number attribute",
    "sync.ldap.attr.secondary-card": "Secondary Card/ID number attribute",
    "sync.ldap.card-regex": "Card number regular expression",
    "sync.ldap.write-back": "Write numbers back to the directory",
    "sync.ldap.write-back.bind-dn": "Bind DN for writing",
    "sync.ldap.write-back.bind-password": "Bind password for writing",
    "webhooks.allowed-hosts": "Allowed hosts",
    "auth.oidc.issuer": "Issuer URL",
    "auth.oidc.client-id": "Client ID",
    "auth.oidc.client-secret": "Client secret",
    "auth.oidc.name": "Provider's name on the button",
    "auth.oidc.username-claim": "Username claim",
    "auth.oidc.portal": "Single sign-on for the user portal",
    "auth.oidc.console": "Single sign-on for the console",
    "auth.oidc.admin-group": "Administrators' group",
    "auth.local-login": "Log-in with a username and password",
    "webhooks.ca-file": "CA certificate file",
    "webhooks.timeout": "Time-out (seconds)",
    "sync.card-conversion": "Card number conversion rule",
    "sync.file.path": "Users file",
    "sync.additional-groups-file": "Additional groups file",
    "sync.program.path": "Program",
    "sync.program.timeout": "Program timeout (seconds)",
    "sync.import-card-numbers": "Import card numbers from the source",
    "sync.import-disabled": "Import accounts the directory marks disabled (as disabled users)",
    "sync.ldap.attr.disabled": "Disabled-account attribute (other than Active Directory)",
    "sync.ldap.attr.language": "Language attribute",
    "sync.missing-users": "Users no longer in the source",
    "sync.guard.max-removal-percent": "Stop a sync that would remove more than (%)",
    "notify.card.subject": "Subject",
    "notify.card.body": "Body",
    "smtp.port": "Port",
    "smtp.verify-certificate": "Verify the server's certificate",
    "smtp.ca-file": "CA certificate file",
    "smtp.username": "Username",
    "smtp.password": "Password",
    "smtp.timeout": "Timeout (seconds)",
    "smtp.connections": "Connections at once",
    "portal.change-card-number.mode": "How users change it",
    "portal.change-pin": "Allow users to change their PIN",
    "cards.length": "Length (digits)",
    "cards.no-leading-zero": "Never start with 0",
    "cards.check-digit": "Check digit",
    "cards.reject-weak-patterns": "Reject weak patterns (1111…, 1234…)",
    "cards.max-guess-probability": "Largest allowed chance that one guess hits a user",
    "cards.retired-quarantine-days": "Days before a retired number may be reused (-1: never)",
    "cards.self-registration": "Let users register a card at a terminal, into",
    "cards.self-registration.code-minutes": "One-time code valid for (minutes)",
    "console.admin-group": "Directory group of administrators",
    "branding.name": "Organisation name",
    "branding.logo": "Logo (image file on the server)",
    "api.lookup.max-misses": "Failed look-ups allowed per client",
    "api.lookup.window-minutes": "Within (minutes)",
}


# The help line under a console field: the option's own help, except where the label says it
# all (SELF_EXPLAINED) or where the console says more (HINTS).
SELF_EXPLAINED = {
    "cards.length",
    "cards.no-leading-zero",
    "cards.retired-quarantine-days",
    "sync.import-card-numbers",
    "sync.ldap.starttls",
    "sync.ldap.bind-dn",
    "sync.ldap.bind-password",
    "sync.schedule",
    "smtp.password",
    "portal.change-pin",
    "api.lookup.max-misses",
    "notify.card.subject",
    "notify.card.body",
}
HINTS = {
    "cards.check-digit": "the last digit checks the others: a mistyped number is refused at once",
    "cards.self-registration": "someone without a card swipes one at a terminal and signs in: "
    "the card becomes their number in this slot (off: terminals cannot register cards)",
    "cards.self-registration.code-minutes": "how long the code on the portal's "
    "“Register a card” page works",
    "sync.ldap.base-dns": "several are separated by “;”",
    "sync.ldap.preset": "sets the filters and attribute names below; a field left blank takes "
    "the product's",
    "sync.file.path": "a CSV or TSV file on this server, read at each sync",
    "auth.oidc.issuer": "as the provider gives it, e.g. https://login.microsoftonline.com/"
    "<tenant>/v2.0 or https://accounts.google.com",
    "auth.oidc.username-claim": "the claim that holds the directory username, e.g. "
    "preferred_username, email or upn; a person whose name matches no card holder is refused",
    "auth.oidc.admin-group": "as the ID token's groups claim names it (on Entra ID, the "
    "group's object ID); members may use the console",
    "auth.local-login": "off: the log-in pages offer single sign-on only (on again with "
    "`cardid config set auth.local-login true`)",
    "sync.ldap.write-back": "after every change, the number goes to the entry's Card/ID number "
    "attribute above; a cleared number is deleted there",
    "sync.ldap.write-back.bind-dn": "blank: the bind DN above, when it may write",
    "webhooks.allowed-hosts": "names, domains (*.example.org) and networks (10.0.0.0/8), "
    "separated by spaces; blank: any host but this machine. Never: link-local addresses",
}


def hint(key: str, help_text: str) -> str:
    """The help line a labelled option shows under its field ("" for none)."""
    if key in HINTS:
        return HINTS[key]
    return "" if key in SELF_EXPLAINED or key not in LABELS else help_text


# The words a select shows for each choice (the stored value stays the code).
CHOICES = {
    "sync.source": {
        "none": "None (users are added by hand or by import)",
        "ldap": "LDAP / Active Directory",
        "file": "Text file (CSV or TSV)",
        "program": "Custom program",
    },
    "sync.ldap.preset": {"ad": "Active Directory", "openldap": "OpenLDAP and others"},
    "sync.ldap.write-back": {
        "off": "Off",
        "primary": "Primary number",
        "secondary": "Secondary number",
        "both": "Both numbers",
    },
    "sync.missing-users": {
        "keep": "Keep them",
        "disable": "Disable them",
        "delete": "Delete them",
    },
    "cards.check-digit": {"none": "None", "luhn": "Luhn", "damm": "Damm"},
    "smtp.security": {"none": "None", "starttls": "STARTTLS", "tls": "TLS (SMTPS)"},
    "portal.change-card-number.mode": {
        "generate": "Generate a new random number",
        "enter": "Type a number of their own",
    },
}
SLOT_CHOICES = {"off": "Off", "primary": "Primary number", "secondary": "Secondary number"}
# The source each section of User/Group Sync belongs to (shown only when it is chosen).
SOURCE_SECTIONS = {
    "LDAP / Active Directory": "ldap",
    "CSV / TSV file": "file",
    "Custom program": "program",
    "Write-back to LDAP / Active Directory": "ldap",
}


def choice_label(key: str, value: str) -> str:
    words = CHOICES.get(key) or (
        SLOT_CHOICES if set(options.get(key).choices) == set(SLOT_CHOICES) else {}
    )
    return words.get(value, value)


def label(key: str) -> str:
    """An option's label on its page."""
    return LABELS.get(key) or options.get(key).help


def where(key: str) -> str:
    """Where an administrator sets `key` in the console, in the words on the screen:
    "Options › Notifications › E-mail (SMTP) › SMTP server"."""
    for page in PAGES.values():
        for heading, keys in page.sections:
            if key in keys:
                return f"Options › {page.title} › {heading} › {label(key)}"
    return f"the option {key}"


class NotConfigured(Invalid):
    """A setting that must be made before the thing asked for can work. The message names
    the screen and field (and the option key); the command line adds its own command."""

    def __init__(self, what: str, key: str, example: str):
        super().__init__(f"{what}: fill in {where(key)}", field=key)
        self.example = example


def _page_of(key: str) -> str:
    for page in PAGES.values():
        if key in page.keys:
            return f"Options › {page.title}"
    return ""


_KEYS = re.compile(
    r"(?<![\w.-])("
    + "|".join(re.escape(k) for k in sorted(options.OPTIONS, key=len, reverse=True))
    + r")(?![\w-])"
)


def in_words(text: str) -> str:
    """A message for a web page: each option key in it becomes the field's label and its
    page, as the administrator sees them ("set cards.length to 9" → "set “Length (digits)”
    (Options › Card/ID numbers) to 9")."""

    def label_and_page(m: re.Match) -> str:
        key = m.group(1)
        page = _page_of(key)
        return f"“{label(key)}”" + (f" ({page})" if page else "")

    return _KEYS.sub(label_and_page, text)
