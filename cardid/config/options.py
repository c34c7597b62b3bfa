"""The runtime options of SPEC §8: each key's type, default and validation (no Django import)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cardid import templating
from cardid.destinations import Refused, parse_allowed
from cardid.patterns import PatternError, compile_pattern
from cardid.words import gettext_noop


class OptionError(ValueError):
    """A key that does not exist or a value that does not fit its option."""


TRUE_WORDS = {"true", "yes", "on", "1", "y"}
FALSE_WORDS = {"false", "no", "off", "0", "n"}


@dataclass(frozen=True)
class Option:
    key: str
    kind: str  # bool | int | float | choice | str | secret | schedule
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def parse(self, raw: Any) -> Any:
        """Turn text (CLI, form) or a JSON value into this option's typed value, or raise."""
        value = self._coerce(raw)
        if self.minimum is not None and value < self.minimum:
            raise OptionError(f"{self.key} must be at least {_fmt(self.minimum)} (got {raw})")
        if self.maximum is not None and value > self.maximum:
            raise OptionError(f"{self.key} must be at most {_fmt(self.maximum)} (got {raw})")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise OptionError(f"{self.key}: {problem}")
        return value

    def _coerce(self, raw: Any) -> Any:
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            word = str(raw).strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise OptionError(f"{self.key} must be true or false (got {raw!r})")
        if self.kind == "int":
            if isinstance(raw, bool):
                raise OptionError(f"{self.key} must be a whole number (got {raw!r})")
            try:
                return int(str(raw).strip())
            except ValueError:
                raise OptionError(f"{self.key} must be a whole number (got {raw!r})") from None
        if self.kind == "float":
            text = str(raw).strip()
            try:
                if "/" in text:  # "1/10000" reads as administrators write odds
                    num, den = text.split("/", 1)
                    return float(num) / float(den)
                return float(text)
            except (ValueError, ZeroDivisionError):
                raise OptionError(
                    f"{self.key} must be a number such as 0.0001 (got {raw!r})"
                ) from None
        if self.kind == "choice":
            word = str(raw).strip().lower()
            if word not in self.choices:
                raise OptionError(
                    f"{self.key} must be one of {', '.join(self.choices)} (got {raw!r})"
                )
            return word
        if self.kind == "schedule":
            word = str(raw).strip().lower()
            if word in ("off", ""):
                return "off"
            match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", word)
            if not match:
                raise OptionError(f"{self.key} must be off or a time HH:MM (got {raw!r})")
            return f"{int(match.group(1)):02d}:{match.group(2)}"
        text = "" if raw is None else str(raw)
        if "\x00" in text:
            raise OptionError(f"{self.key} must not contain NUL characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise OptionError(
                f"{self.key} is not valid UTF-8 text; save it as UTF-8 and try again"
            ) from None
        return text.strip() if self.kind != "secret" else text

    def display(self, value: Any) -> str:
        """The value as `config list` prints it (secrets hidden)."""
        if self.kind == "secret":
            return "set" if value else "not set"
        if self.kind == "bool":
            return "true" if value else "false"
        return str(value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _probability(value: float) -> str | None:
    if not 0 < value <= 1:
        return "must be a probability above 0 and at most 1, such as 0.0001 (1 in 10,000)"
    return None


def _pattern(value: str) -> str | None:
    if not value:
        return None
    try:
        compile_pattern(value)
    except PatternError as e:
        return str(e)
    return None


def _quarantine(value: int) -> str | None:
    if value < -1:
        return "must be -1 (never reuse), 0 (reuse at once) or a number of days"
    return None


def _subject(value: str) -> str | None:
    return templating.check(value, one_line=True)


def _body(value: str) -> str | None:
    return templating.check(value)


def _optional_subject(value: str) -> str | None:
    return _subject(value) if value else None


def _optional_body(value: str) -> str | None:
    return _body(value) if value else None


def _readable_file(value: str) -> str | None:
    """A file cardid reads (a users file, a CA certificate): it must be there and readable
    now, not found missing at the next sync."""
    if value and not (os.path.isfile(value) and os.access(value, os.R_OK)):
        return (
            f"there is no readable file at {value}; give the full path of a file that the "
            "cardid service can read"
        )
    return None


def _program(value: str) -> str | None:
    """A command line whose program exists and may be run."""
    if not value:
        return None
    try:
        program = shlex.split(value)[0]
    except (ValueError, IndexError) as e:
        return f"{value!r} cannot be read as a command line ({e})"
    found = shutil.which(program) if os.sep not in program else program
    if not found or not (os.path.isfile(found) and os.access(found, os.X_OK)):
        return (
            f"there is no program {program} that cardid may run; give its full path "
            "(executable by the cardid service)"
        )
    return None


def _logo(value: str) -> str | None:
    """An image file cardid serves itself (no request leaves for another site)."""
    if not value:
        return None
    if os.path.splitext(value)[1].lower() not in LOGO_TYPES:
        return f"{value} is not a PNG, JPEG or SVG file; give the path of one of those"
    problem = _readable_file(value)
    if problem:
        return problem
    if os.path.getsize(value) > 512 * 1024:
        return f"{value} is larger than 512 KB; give a smaller image (a logo for a header)"
    return None


LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}


def _allowed_hosts(value: str) -> str | None:
    try:
        parse_allowed(value)
    except Refused as e:
        return str(e)
    return None


def _issuer(value: str) -> str | None:
    if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        return (
            f"{value!r} is not an issuer URL; give it as the provider says, e.g. "
            "https://login.microsoftonline.com/<tenant>/v2.0"
        )
    return None


def _one_line(value: str) -> str | None:
    if not value.strip() or len(value) > 60 or any(c in value for c in "\r\n"):
        return "give a short name on one line (at most 60 characters)"
    return None


def _address(value: str) -> str | None:
    if value and not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+", value):
        return f"{value!r} is not an e-mail address"
    return None


DEFAULT_SUBJECT = "Your new Card/ID number"
DEFAULT_BODY = (
    "Hello %full_name%,\n\n"
    "your new Card/ID number is %card_number%.\n"
    "Use it at the copiers, print-release stations and doors of your organisation.\n\n"
    "Your user name: %user%\n"
    "Date: %date%\n"
)
# The languages of the e-mails (and of the pages, cardid.settings.LANGUAGES), and the
# notification as cardid writes it in each until an administrator writes their own.
LANGUAGE_CODES = ("en", "de", "fr", "es")
DEFAULT_NOTIFICATION = {
    "en": (DEFAULT_SUBJECT, DEFAULT_BODY),
    "de": (
        "Ihre neue Karten-/ID-Nummer",
        "Guten Tag %full_name%,\n\n"
        "Ihre neue Karten-/ID-Nummer lautet %card_number%.\n"
        "Sie gilt an den Kopierern, Druckfreigabestationen und Türen Ihrer Organisation.\n\n"
        "Ihr Benutzername: %user%\n"
        "Datum: %date%\n",
    ),
    "fr": (
        "Votre nouveau numéro de carte/ID",
        "Bonjour %full_name%,\n\n"
        "votre nouveau numéro de carte/ID est %card_number%.\n"
        "Il sert aux copieurs, aux postes de libération d'impression et aux portes de votre "
        "organisation.\n\n"
        "Votre nom d'utilisateur : %user%\n"
        "Date : %date%\n",
    ),
    "es": (
        "Su nuevo número de tarjeta/ID",
        "Hola, %full_name%:\n\n"
        "su nuevo número de tarjeta/ID es %card_number%.\n"
        "Úselo en las copiadoras, las estaciones de liberación de impresión y las puertas de "
        "su organización.\n\n"
        "Su nombre de usuario: %user%\n"
        "Fecha: %date%\n",
    ),
}

_ALL = [
    # Card/ID numbers: the generation policy.
    Option(
        "cards.length",
        "int",
        8,
        gettext_noop("digits in a generated number"),
        minimum=4,
        maximum=20,
    ),
    Option(
        "cards.no-leading-zero", "bool", True, gettext_noop("generated numbers never start with 0")
    ),
    Option(
        "cards.check-digit",
        "choice",
        "none",
        gettext_noop("last digit checks the others"),
        choices=("none", "luhn", "damm"),
    ),
    Option(
        "cards.reject-weak-patterns",
        "bool",
        True,
        gettext_noop("never generate all-one-digit numbers or runs like 123456"),
    ),
    Option(
        "cards.max-guess-probability",
        "float",
        0.0001,
        gettext_noop("largest allowed chance that one random keypad guess hits some user's number"),
        check=_probability,
    ),
    Option(
        "cards.retired-quarantine-days",
        "int",
        -1,
        gettext_noop("days before a retired number may be generated again (-1: never)"),
        check=_quarantine,
    ),
    Option("cards.pin.min-length", "int", 4, gettext_noop("shortest PIN"), minimum=1, maximum=32),
    Option("cards.pin.max-length", "int", 8, gettext_noop("longest PIN"), minimum=1, maximum=32),
    Option(
        "cards.pin.max-misses",
        "int",
        5,
        gettext_noop("wrong PINs for one number from one client within the look-up window"),
        minimum=1,
        maximum=1000,
    ),
    Option(
        "cards.pin.max-misses-per-day",
        "int",
        20,
        gettext_noop(
            "wrong PINs for one number from all clients in a day; then its PIN look-ups wait "
            "for the next day"
        ),
        minimum=1,
        maximum=100000,
    ),
    Option(
        "cards.self-registration",
        "choice",
        "off",
        gettext_noop("slot a terminal may register a card in"),
        choices=("off", "primary", "secondary"),
    ),
    Option(
        "cards.self-registration.code-minutes",
        "int",
        10,
        gettext_noop("minutes a one-time activation code stays valid"),
        minimum=1,
        maximum=1440,
    ),
    Option(
        "cards.self-registration.max-per-day",
        "int",
        3,
        gettext_noop("cards one user may register at terminals in a day"),
        minimum=1,
        maximum=100,
    ),
    # User/group sync.
    Option(
        "sync.source",
        "choice",
        "none",
        gettext_noop("the directory users come from"),
        choices=("none", "ldap", "file", "program"),
    ),
    Option(
        "sync.auto-generate-primary-when-blank",
        "bool",
        False,
        gettext_noop("Auto-generate random primary Card/ID number when blank"),
    ),
    Option(
        "sync.import-card-numbers", "bool", True, gettext_noop("take card numbers from the source")
    ),
    Option(
        "sync.import-disabled",
        "bool",
        False,
        gettext_noop(
            "also import accounts the directory marks disabled (they are synced disabled: no "
            "number looks up, no log-in, no notification); off: accounts new to cardid that are "
            "disabled are left out. A known user disabled in the directory is always disabled "
            "here"
        ),
    ),
    Option(
        "sync.missing-users",
        "choice",
        "keep",
        gettext_noop("what happens to users gone from the source"),
        choices=("keep", "disable", "delete"),
    ),
    Option(
        "sync.guard.max-removal-percent",
        "int",
        10,
        gettext_noop("a sync that would remove or disable more users than this stops"),
        minimum=0,
        maximum=100,
    ),
    Option("sync.ldap.url", "str", "", gettext_noop("ldap://host:389 or ldaps://host:636")),
    Option("sync.ldap.starttls", "bool", False, gettext_noop("upgrade ldap:// with StartTLS")),
    Option(
        "sync.ldap.ca-file",
        "str",
        "",
        gettext_noop("CA certificate file to trust for LDAPS/StartTLS"),
        check=_readable_file,
    ),
    Option(
        "sync.ldap.verify-certificate", "bool", True, gettext_noop("reject untrusted certificates")
    ),
    Option("sync.ldap.bind-dn", "str", "", gettext_noop("DN to bind as")),
    Option("sync.ldap.bind-password", "secret", "", gettext_noop("password of the bind DN")),
    Option("sync.ldap.base-dns", "str", "", gettext_noop("base DNs to search, separated by ';'")),
    Option(
        "sync.ldap.preset",
        "choice",
        "openldap",
        gettext_noop("attribute names of a directory product"),
        choices=("ad", "openldap"),
    ),
    Option(
        "sync.ldap.user-filter", "str", "", gettext_noop("LDAP filter for users (blank: preset's)")
    ),
    Option(
        "sync.ldap.group-filter",
        "str",
        "",
        gettext_noop("LDAP filter for groups (blank: preset's)"),
    ),
    *[
        Option(
            f"sync.ldap.attr.{name}", "str", "", f"attribute holding the {name} (blank: preset's)"
        )
        for name in (
            "username",
            "full-name",
            "email",
            "department",
            "office",
            "primary-card",
            "secondary-card",
        )
    ],
    Option(
        "sync.ldap.attr.language",
        "str",
        "",
        gettext_noop(
            "attribute holding the user's language for e-mails, e.g. de or fr-CH (blank: the "
            "preset's, preferredLanguage; none: not synced)"
        ),
    ),
    Option(
        "sync.ldap.attr.disabled",
        "str",
        "",
        gettext_noop(
            "attribute that marks a disabled account (blank: the preset's — userAccountControl on "
            "Active Directory, none on OpenLDAP; e.g. nsAccountLock or pwdAccountLockedTime)"
        ),
    ),
    Option(
        "sync.ldap.card-regex",
        "str",
        "",
        gettext_noop("regular expression whose first group reshapes an imported card number"),
        check=_pattern,
    ),
    Option(
        "sync.ldap.write-back",
        "choice",
        "off",
        gettext_noop(
            "write Card/ID numbers to the card attributes of the user's directory entry after "
            "every change (off, primary, secondary or both)"
        ),
        choices=("off", "primary", "secondary", "both"),
    ),
    Option(
        "sync.ldap.write-back.bind-dn",
        "str",
        "",
        gettext_noop(
            "DN to bind as for the write-back, when the sync's account may not write (blank: the "
            "sync's)"
        ),
    ),
    Option(
        "sync.ldap.write-back.bind-password",
        "secret",
        "",
        gettext_noop("password of the write-back bind DN"),
    ),
    Option(
        "sync.card-conversion",
        "str",
        "",
        gettext_noop("conversion rule applied to card numbers read from the source (blank: none)"),
    ),
    Option(
        "sync.file.path", "str", "", gettext_noop("CSV or TSV file of users"), check=_readable_file
    ),
    Option(
        "sync.program.path",
        "str",
        "",
        gettext_noop("custom user-directory program (a command line)"),
        check=_program,
    ),
    Option(
        "sync.program.timeout",
        "int",
        120,
        gettext_noop("seconds one call of the sync program may take"),
        minimum=1,
        maximum=3600,
    ),
    Option(
        "sync.additional-groups-file",
        "str",
        "",
        gettext_noop("file of 'group: username' lines"),
        check=_readable_file,
    ),
    Option("sync.schedule", "schedule", "off", gettext_noop("daily sync time HH:MM, or off")),
    # Notifications.
    Option(
        "notify.card-auto-generated",
        "bool",
        False,
        gettext_noop("Notify users when their Card/ID number is auto-generated"),
    ),
    Option(
        "notify.card-admin-generated",
        "bool",
        False,
        gettext_noop("notify users when an administrator generates their number"),
    ),
    Option(
        "notify.card-self-generated",
        "bool",
        False,
        gettext_noop("notify users when they generate their own number"),
    ),
    Option(
        "notify.card.subject",
        "str",
        DEFAULT_SUBJECT,
        gettext_noop("subject of the Card/ID notification"),
        check=_subject,
    ),
    Option(
        "notify.card.body",
        "str",
        DEFAULT_BODY,
        gettext_noop("body of the Card/ID notification"),
        check=_body,
    ),
    Option(
        "notify.default-language",
        "choice",
        "en",
        gettext_noop(
            "the language of the subject and body above, and of every user whose language is not "
            "known or not one of cardid's"
        ),
        choices=LANGUAGE_CODES,
    ),
    *[
        option
        for code in LANGUAGE_CODES
        for option in (
            Option(
                f"notify.card.subject.{code}",
                "str",
                DEFAULT_NOTIFICATION[code][0],
                f"subject of the notification to users whose language is {code} (blank: the "
                "default language's)",
                check=_optional_subject,
            ),
            Option(
                f"notify.card.body.{code}",
                "str",
                DEFAULT_NOTIFICATION[code][1],
                f"body of the notification to users whose language is {code} (blank: the "
                "default language's)",
                check=_optional_body,
            ),
        )
    ],
    Option("smtp.host", "str", "", gettext_noop("SMTP server")),
    Option(
        "smtp.port",
        "int",
        25,
        gettext_noop("SMTP port (25, 587 for STARTTLS, 465 for TLS)"),
        minimum=1,
        maximum=65535,
    ),
    Option(
        "smtp.security",
        "choice",
        "none",
        gettext_noop("encryption"),
        choices=("none", "starttls", "tls"),
    ),
    Option("smtp.verify-certificate", "bool", True, gettext_noop("reject untrusted certificates")),
    Option(
        "smtp.connections",
        "int",
        3,
        gettext_noop("SMTP connections used at once to deliver notifications"),
        minimum=1,
        maximum=10,
    ),
    Option(
        "smtp.ca-file",
        "str",
        "",
        gettext_noop("CA certificate file to trust (blank: the system's)"),
        check=_readable_file,
    ),
    Option(
        "smtp.timeout",
        "int",
        30,
        gettext_noop("seconds to wait for the SMTP server"),
        minimum=1,
        maximum=600,
    ),
    Option("smtp.username", "str", "", gettext_noop("SMTP login (blank: none)")),
    Option("smtp.password", "secret", "", gettext_noop("SMTP password")),
    Option("smtp.from", "str", "", gettext_noop("sender address"), check=_address),
    # Branding: the organisation's name and logo in the console, the portal and e-mails.
    Option(
        "branding.name",
        "str",
        "",
        gettext_noop(
            "the organisation's name, shown in the header of the console and the portal and "
            "available to e-mails as %organisation%"
        ),
    ),
    Option(
        "branding.logo",
        "str",
        "",
        gettext_noop("an image file (PNG, JPEG or SVG, at most 512 KB) shown beside the name"),
        check=_logo,
    ),
    # User web portal.
    Option(
        "portal.view-card-number",
        "choice",
        "off",
        gettext_noop("Allow users to view their Card/ID numbers"),
        choices=("off", "primary", "secondary"),
    ),
    Option(
        "portal.change-card-number",
        "choice",
        "off",
        gettext_noop("Allow users to change their Card/ID number"),
        choices=("off", "primary", "secondary"),
    ),
    Option(
        "portal.change-card-number.mode",
        "choice",
        "generate",
        gettext_noop("generate: random only; enter: the user may type a number"),
        choices=("generate", "enter"),
    ),
    Option(
        "portal.change-card-number.max-per-day",
        "int",
        3,
        gettext_noop("changes per user per day"),
        minimum=1,
        maximum=1000,
    ),
    Option(
        "portal.change-pin", "bool", False, gettext_noop("Allow users to change their Card/ID PIN")
    ),
    # The administrator's console.
    Option(
        "console.admin-group",
        "str",
        "",
        gettext_noop(
            "directory group whose members may log in to the console with their directory "
            "password (blank: local administrators only)"
        ),
    ),
    # Sign-in (SPEC §12).
    Option(
        "auth.oidc.issuer",
        "str",
        "",
        gettext_noop(
            "the identity provider's issuer URL; its discovery document is read from "
            "<issuer>/.well-known/openid-configuration"
        ),
        check=_issuer,
    ),
    Option(
        "auth.oidc.client-id",
        "str",
        "",
        gettext_noop("cardid's client ID at the identity provider"),
    ),
    Option(
        "auth.oidc.client-secret",
        "secret",
        "",
        gettext_noop("cardid's client secret at the identity provider"),
    ),
    Option(
        "auth.oidc.name",
        "str",
        "Single sign-on",
        gettext_noop("the provider's name on the log-in pages' button: Sign in with <name>"),
        check=_one_line,
    ),
    Option(
        "auth.oidc.username-claim",
        "str",
        "preferred_username",
        gettext_noop(
            "the ID token claim that holds the directory username (letter case does not matter)"
        ),
    ),
    Option("auth.oidc.portal", "bool", False, gettext_noop("single sign-on for the user portal")),
    Option("auth.oidc.console", "bool", False, gettext_noop("single sign-on for the console")),
    Option(
        "auth.oidc.admin-group",
        "str",
        "",
        gettext_noop(
            "members of this group (in the ID token's groups claim) may use the console after "
            "single sign-on (blank: nobody)"
        ),
    ),
    Option(
        "auth.local-login",
        "bool",
        True,
        gettext_noop(
            "log-in with a username and password (directory or local); off only once single "
            "sign-on is on for the portal and the console. The way back in: `cardid config set "
            "auth.local-login true`"
        ),
    ),
    # Jobs and housekeeping (SPEC §11).
    Option(
        "jobs.lease-seconds",
        "int",
        60,
        gettext_noop(
            "seconds a worker holds a job without a heartbeat before another worker takes it "
            "over; at least 10 (a heartbeat every third of it, and a chunk of 5,000 users "
            "takes about a second)"
        ),
        minimum=10,
        maximum=3600,
    ),
    Option(
        "housekeeping.keep-days",
        "int",
        90,
        gettext_noop("days sent notifications and finished jobs are kept"),
        minimum=1,
    ),
    Option(
        "audit.keep-days",
        "int",
        -1,
        gettext_noop("days the audit trail is kept (-1: for ever)"),
        minimum=-1,
    ),
    # Webhooks (SPEC §13).
    Option(
        "webhooks.allowed-hosts",
        "str",
        "",
        gettext_noop(
            "hosts webhooks may send to: names, domains (*.example.org) and networks "
            "(10.0.0.0/8), separated by spaces (blank: any host but this machine)"
        ),
        check=_allowed_hosts,
    ),
    Option(
        "webhooks.ca-file",
        "str",
        "",
        gettext_noop("CA certificate file to trust for webhook receivers (blank: the system's)"),
        check=_readable_file,
    ),
    Option(
        "webhooks.timeout",
        "int",
        10,
        gettext_noop("seconds to wait for a webhook receiver's answer"),
        minimum=1,
        maximum=120,
    ),
    # API look-up protection.
    Option(
        "api.lookup.max-misses",
        "int",
        100,
        gettext_noop("failed look-ups per client within the window"),
        minimum=1,
    ),
    Option(
        "api.lookup.window-minutes",
        "int",
        10,
        gettext_noop("look-up protection window"),
        minimum=1,
        maximum=10080,
    ),
]

OPTIONS: dict[str, Option] = {o.key: o for o in _ALL}


def get(key: str) -> Option:
    """The declaration of `key`, or OptionError naming how to list the keys."""
    try:
        return OPTIONS[key]
    except KeyError:
        raise OptionError(f"unknown option {key!r}; `cardid config list` shows them all") from None
