"""The Options pages of the console: which options each page shows, under which headings and
labels. The paths and the labels follow the reference product, so that the steps an
administrator already knows work here."""

import re
from dataclasses import dataclass

from cardid.config import options
from cardid.errors import Invalid
from cardid.words import gettext_noop


@dataclass(frozen=True)
class OptionsPage:
    slug: str
    title: str  # the breadcrumb after "Options ›"
    sections: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def keys(self) -> list[str]:
        return [k for _, keys in self.sections for k in keys]


# The notification editor's tabs, by language code (config.options.LANGUAGE_CODES).
LANGUAGE_TABS = {
    "en": gettext_noop("In English"),
    "de": gettext_noop("In German"),
    "fr": gettext_noop("In French"),
    "es": gettext_noop("In Spanish"),
}
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
            gettext_noop("User/Group Sync"),
            (
                (
                    gettext_noop("Sync Source"),
                    ("sync.source", "sync.schedule", "sync.additional-groups-file"),
                ),
                (
                    gettext_noop("Card/ID numbers"),
                    (
                        "sync.import-card-numbers",
                        "sync.auto-generate-primary-when-blank",
                        "sync.ldap.card-regex",
                        "sync.card-conversion",
                    ),
                ),
                (
                    gettext_noop("Disabled and missing users"),
                    (
                        "sync.import-disabled",
                        "sync.missing-users",
                        "sync.guard.max-removal-percent",
                    ),
                ),
                (
                    gettext_noop("LDAP / Active Directory"),
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
                    gettext_noop("Write-back to LDAP / Active Directory"),
                    (
                        "sync.ldap.write-back",
                        "sync.ldap.write-back.bind-dn",
                        "sync.ldap.write-back.bind-password",
                    ),
                ),
                (gettext_noop("CSV / TSV file"), ("sync.file.path",)),
                (gettext_noop("Custom program"), ("sync.program.path", "sync.program.timeout")),
            ),
        ),
        OptionsPage(
            "notifications",
            gettext_noop("Notifications"),
            (
                (
                    gettext_noop("Card/ID Number Notification"),
                    (
                        "notify.card-auto-generated",
                        "notify.card-admin-generated",
                        "notify.card-self-generated",
                        "notify.default-language",
                        "notify.card.subject",
                        "notify.card.body",
                    ),
                ),
                # One tab per language: the texts for users of that language.
                *[
                    (title, (f"notify.card.subject.{code}", f"notify.card.body.{code}"))
                    for code, title in LANGUAGE_TABS.items()
                ],
                (
                    gettext_noop("E-mail (SMTP)"),
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
            gettext_noop("General › User Features"),
            (
                (
                    gettext_noop("User Features"),
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
            gettext_noop("Card/ID numbers"),
            (
                (
                    gettext_noop("Generation policy"),
                    (
                        "cards.length",
                        "cards.no-leading-zero",
                        "cards.check-digit",
                        "cards.reject-weak-patterns",
                        "cards.max-guess-probability",
                        "cards.retired-quarantine-days",
                    ),
                ),
                (gettext_noop("PINs"), ("cards.pin.min-length", "cards.pin.max-length")),
            ),
        ),
        OptionsPage(
            "card-readers",
            gettext_noop("Card readers"),
            (
                (
                    gettext_noop("Self-registration at a terminal"),
                    ("cards.self-registration", "cards.self-registration.code-minutes"),
                ),
            ),
        ),
        OptionsPage(
            "branding",
            gettext_noop("General › Branding"),
            ((gettext_noop("Organisation"), ("branding.name", "branding.logo")),),
        ),
        OptionsPage(
            "webhooks",
            gettext_noop("Webhooks › Delivery"),
            (
                (
                    gettext_noop("Delivery"),
                    ("webhooks.allowed-hosts", "webhooks.ca-file", "webhooks.timeout"),
                ),
            ),
        ),
        OptionsPage(
            "sign-in",
            gettext_noop("General › Sign-in"),
            (
                (
                    gettext_noop("Single sign-on (OpenID Connect)"),
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
                (gettext_noop("Passwords"), ("auth.local-login",)),
            ),
        ),
        OptionsPage(
            "security",
            gettext_noop("General › Security"),
            (
                (gettext_noop("Administrators"), ("console.admin-group",)),
                (
                    gettext_noop("Look-up protection"),
                    ("api.lookup.max-misses", "api.lookup.window-minutes"),
                ),
            ),
        ),
    )
}

# Labels where the option's own help text is not the words the reference uses.
LABELS = {
    "sync.source": gettext_noop("Sync source"),
    "sync.schedule": gettext_noop("Daily sync at (HH:MM, or off)"),
    "sync.ldap.preset": gettext_noop("Directory product"),
    "sync.ldap.url": gettext_noop("Server URL"),
    "sync.ldap.starttls": gettext_noop("Use StartTLS"),
    "sync.ldap.verify-certificate": gettext_noop("Verify the server's certificate"),
    "sync.ldap.ca-file": gettext_noop("CA certificate file"),
    "sync.ldap.bind-dn": gettext_noop("Bind DN"),
    "sync.ldap.bind-password": gettext_noop("Bind password"),
    "sync.ldap.base-dns": gettext_noop("Base DNs"),
    "sync.ldap.user-filter": gettext_noop("User filter"),
    "sync.ldap.group-filter": gettext_noop("Group filter"),
    "sync.ldap.attr.username": gettext_noop("Username attribute"),
    "sync.ldap.attr.full-name": gettext_noop("Full name attribute"),
    "sync.ldap.attr.email": gettext_noop("E-mail attribute"),
    "sync.ldap.attr.department": gettext_noop("Department attribute"),
    "sync.ldap.attr.office": gettext_noop("Office attribute"),
    "sync.ldap.attr.primary-card": gettext_noop("Primary Card/ID number attribute"),
    "sync.ldap.attr.secondary-card": gettext_noop("Secondary Card/ID number attribute"),
    "sync.ldap.card-regex": gettext_noop("Card number regular expression"),
    "sync.ldap.write-back": gettext_noop("Write numbers back to the directory"),
    "sync.ldap.write-back.bind-dn": gettext_noop("Bind DN for writing"),
    "sync.ldap.write-back.bind-password": gettext_noop("Bind password for writing"),
    "webhooks.allowed-hosts": gettext_noop("Allowed hosts"),
    "auth.oidc.issuer": gettext_noop("Issuer URL"),
    "auth.oidc.client-id": gettext_noop("Client ID"),
    "auth.oidc.client-secret": gettext_noop("Client secret"),
    "auth.oidc.name": gettext_noop("Provider's name on the button"),
    "auth.oidc.username-claim": gettext_noop("Username claim"),
    "auth.oidc.portal": gettext_noop("Single sign-on for the user portal"),
    "auth.oidc.console": gettext_noop("Single sign-on for the console"),
    "auth.oidc.admin-group": gettext_noop("Administrators' group"),
    "auth.local-login": gettext_noop("Log-in with a username and password"),
    "webhooks.ca-file": gettext_noop("CA certificate file"),
    "webhooks.timeout": gettext_noop("Time-out (seconds)"),
    "sync.card-conversion": gettext_noop("Card number conversion rule"),
    "sync.file.path": gettext_noop("Users file"),
    "sync.additional-groups-file": gettext_noop("Additional groups file"),
    "sync.program.path": gettext_noop("Program"),
    "sync.program.timeout": gettext_noop("Program timeout (seconds)"),
    "sync.import-card-numbers": gettext_noop("Import card numbers from the source"),
    "sync.import-disabled": gettext_noop(
        "Import accounts the directory marks disabled (as disabled users)"
    ),
    "sync.ldap.attr.disabled": gettext_noop(
        "Disabled-account attribute (other than Active Directory)"
    ),
    "sync.ldap.attr.language": gettext_noop("Language attribute"),
    "sync.missing-users": gettext_noop("Users no longer in the source"),
    "sync.guard.max-removal-percent": gettext_noop("Stop a sync that would remove more than (%)"),
    "notify.card.subject": gettext_noop("Subject"),
    "notify.card.body": gettext_noop("Body"),
    **{f"notify.card.subject.{code}": gettext_noop("Subject") for code in LANGUAGE_TABS},
    **{f"notify.card.body.{code}": gettext_noop("Body") for code in LANGUAGE_TABS},
    "notify.default-language": gettext_noop("Default language"),
    "smtp.port": gettext_noop("Port"),
    "smtp.verify-certificate": gettext_noop("Verify the server's certificate"),
    "smtp.ca-file": gettext_noop("CA certificate file"),
    "smtp.username": gettext_noop("Username"),
    "smtp.password": gettext_noop("Password"),
    "smtp.timeout": gettext_noop("Timeout (seconds)"),
    "smtp.connections": gettext_noop("Connections at once"),
    "portal.change-card-number.mode": gettext_noop("How users change it"),
    "portal.change-pin": gettext_noop("Allow users to change their PIN"),
    "cards.length": gettext_noop("Length (digits)"),
    "cards.no-leading-zero": gettext_noop("Never start with 0"),
    "cards.check-digit": gettext_noop("Check digit"),
    "cards.reject-weak-patterns": gettext_noop("Reject weak patterns (1111…, 1234…)"),
    "cards.max-guess-probability": gettext_noop(
        "Largest allowed chance that one guess hits a user"
    ),
    "cards.retired-quarantine-days": gettext_noop(
        "Days before a retired number may be reused (-1: never)"
    ),
    "cards.self-registration": gettext_noop("Let users register a card at a terminal, into"),
    "cards.self-registration.code-minutes": gettext_noop("One-time code valid for (minutes)"),
    "console.admin-group": gettext_noop("Directory group of administrators"),
    "branding.name": gettext_noop("Organisation name"),
    "branding.logo": gettext_noop("Logo (image file on the server)"),
    "api.lookup.max-misses": gettext_noop("Failed look-ups allowed per client"),
    "api.lookup.window-minutes": gettext_noop("Within (minutes)"),
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
    *[f"notify.card.{part}.{code}" for code in LANGUAGE_TABS for part in ("subject", "body")],
}
HINTS = {
    **{
        key: gettext_noop("blank: the directory product's attribute; none: not synced")
        for key in LDAP_ATTRS
        if key not in ("sync.ldap.attr.disabled", "sync.ldap.attr.language")
    },
    "cards.check-digit": gettext_noop(
        "the last digit checks the others: a mistyped number is refused at once"
    ),
    "cards.self-registration": gettext_noop(
        "someone without a card swipes one at a terminal and signs in: "
        "the card becomes their number in this slot (off: terminals cannot register cards)"
    ),
    "cards.self-registration.code-minutes": gettext_noop(
        "how long the code on the portal's “Register a card” page works"
    ),
    "sync.ldap.base-dns": gettext_noop("several are separated by “;”"),
    "sync.ldap.preset": gettext_noop(
        "sets the filters and attribute names below; a field left blank takes the product's"
    ),
    "sync.file.path": gettext_noop("a CSV or TSV file on this server, read at each sync"),
    "notify.default-language": gettext_noop(
        "the language of the subject and body above, and of users whose language is unknown "
        "or not one of these; the tabs below hold the texts for users of each language (a "
        "blank one: the default language's)"
    ),
    "auth.oidc.issuer": gettext_noop(
        "as the provider gives it, e.g. https://login.microsoftonline.com/"
        "<tenant>/v2.0 or https://accounts.google.com"
    ),
    "auth.oidc.username-claim": gettext_noop(
        "the claim that holds the directory username, e.g. "
        "preferred_username, email or upn; a person whose name matches no card holder is refused"
    ),
    "auth.oidc.admin-group": gettext_noop(
        "as the ID token's groups claim names it (on Entra ID, the "
        "group's object ID); members may use the console"
    ),
    "auth.local-login": gettext_noop(
        "off: the log-in pages offer single sign-on only (on again with "
        "`cardid config set auth.local-login true`)"
    ),
    "sync.ldap.write-back": gettext_noop(
        "after every change, the number goes to the entry's Card/ID number "
        "attribute above; a cleared number is deleted there"
    ),
    "sync.ldap.write-back.bind-dn": gettext_noop("blank: the bind DN above, when it may write"),
    "webhooks.allowed-hosts": gettext_noop(
        "names, domains (*.example.org) and networks (10.0.0.0/8), "
        "separated by spaces; blank: any host but this machine. Never: link-local addresses"
    ),
}


def hint(key: str, help_text: str) -> str:
    """The help line a labelled option shows under its field ("" for none)."""
    if key in HINTS:
        return HINTS[key]
    return "" if key in SELF_EXPLAINED or key not in LABELS else help_text


# The words a select shows for each choice (the stored value stays the code).
CHOICES = {
    "sync.source": {
        "none": gettext_noop("None (users are added by hand or by import)"),
        "ldap": gettext_noop("LDAP / Active Directory"),
        "file": gettext_noop("Text file (CSV or TSV)"),
        "program": gettext_noop("Custom program"),
    },
    "notify.default-language": {
        "en": gettext_noop("English"),
        "de": gettext_noop("German"),
        "fr": gettext_noop("French"),
        "es": gettext_noop("Spanish"),
    },
    "sync.ldap.preset": {
        "ad": gettext_noop("Active Directory"),
        "openldap": gettext_noop("OpenLDAP and others"),
    },
    "sync.ldap.write-back": {
        "off": gettext_noop("Off"),
        "primary": gettext_noop("Primary number"),
        "secondary": gettext_noop("Secondary number"),
        "both": gettext_noop("Both numbers"),
    },
    "sync.missing-users": {
        "keep": gettext_noop("Keep them"),
        "disable": gettext_noop("Disable them"),
        "delete": gettext_noop("Delete them"),
    },
    "cards.check-digit": {
        "none": gettext_noop("None"),
        "luhn": gettext_noop("Luhn"),
        "damm": gettext_noop("Damm"),
    },
    "smtp.security": {
        "none": gettext_noop("None"),
        "starttls": gettext_noop("STARTTLS"),
        "tls": gettext_noop("TLS (SMTPS)"),
    },
    "portal.change-card-number.mode": {
        "generate": gettext_noop("Generate a new random number"),
        "enter": gettext_noop("Type a number of their own"),
    },
}
SLOT_CHOICES = {
    "off": gettext_noop("Off"),
    "primary": gettext_noop("Primary number"),
    "secondary": gettext_noop("Secondary number"),
}
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
