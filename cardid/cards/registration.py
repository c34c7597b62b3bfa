"""Self-registration at a terminal: a user proves who they are (password or one-time code)
and the card the reader just read becomes their number."""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cardid import keyed
from cardid.access import guard, passwords
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.audit.models import AuditEvent
from cardid.cards import ledger, rules
from cardid.cards.models import Card, NotifyReason, RegistrationCode
from cardid.cards.services import change_numbers, clean
from cardid.config import services as config
from cardid.directory.models import User, username_key
from cardid.directory.selectors import get_user
from cardid.errors import CardidError, Conflict, Invalid, Refused

# No 0/O, 1/I/L: codes are read off a screen and typed at a terminal.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFUSED = "registration refused: the credentials are wrong or this card cannot be registered"
REGISTERED = "card.self-registered"  # the audit action; a user's registrations are counted


class RegistrationRefused(CardidError):
    """One answer for every refusal, so a terminal learns nothing about who holds a card."""


def _hash(code: str) -> str:
    return keyed.digest("registration-code", code.strip().upper())


@transaction.atomic
def new_code(*, username: str, actor: Actor) -> str:
    """A fresh one-time code for the user (earlier unused codes stop working)."""
    user = get_user(username)
    minutes = config.get("cards.self-registration.code-minutes")
    RegistrationCode.objects.filter(user=user, used_at__isnull=True).delete()
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    RegistrationCode.objects.create(
        user=user, code_hash=_hash(code), expires_at=timezone.now() + timedelta(minutes=minutes)
    )
    audit.record(actor=actor, action="registration.code", target=user.username)
    return code


def _by_code(code: str) -> User | None:
    now = timezone.now()
    row = (
        RegistrationCode.objects.select_for_update()
        .select_related("user")
        .filter(code_hash=_hash(code or ""))
        .first()
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    row.used_at = now
    row.save(update_fields=["used_at"])
    return row.user


def register(
    *,
    client: str,
    reader_value: str,
    chain: str = "",
    username: str = "",
    password: str = "",
    code: str = "",
    actor_name: str = "terminal",
) -> User:
    """Store the converted reader value in the configured slot, origin self-registered.

    Every refusal — wrong credentials, a number held by someone else or retired, a
    disabled user, more cards than a day allows — gives one answer, is counted against the
    client and the account, and changes nothing (RegistrationRefused; Locked past the
    limits). A wrong password counts as a failed log-in of that account, so the portal's
    lock and this one are the same."""
    slot = config.get("cards.self-registration")
    if slot == "off":
        raise Refused("self-registration is switched off (cards.self-registration)")
    if bool(code) == bool(username):
        raise Invalid("give either a one-time code, or a username and password")
    number = clean(rules.convert(reader_value, chain=chain) if chain else reader_value)
    subject = "" if code else username_key(username)
    guard.check("register", client=client, subject=subject)
    if not code:
        guard.check("password", client=client, subject=subject)
    user, wrong_password = None, False
    try:
        with transaction.atomic():
            user = _by_code(code) if code else passwords.by_password(username, password)
            if user is None:
                wrong_password = not code
                raise RegistrationRefused(REFUSED)
            if not user.enabled or _registered_today(user) >= config.get(
                "cards.self-registration.max-per-day"
            ):
                raise RegistrationRefused(REFUSED)
            # A number held by someone else, or retired and in quarantine, is refused like
            # wrong credentials; the code stays unused (the transaction rolls back).
            change_numbers(
                user=user,
                changes={slot: number},
                actor=Actor(f"{actor_name} for {user.username}", "api"),
                origin=Card.Origin.SELF_REGISTERED,
                checks=ledger.Checks(quarantine=True),
                action=REGISTERED,
                notify=NotifyReason.SELF if config.get("notify.card-self-generated") else None,
            )
    except (RegistrationRefused, Conflict):
        # Counted after the rollback, so that the counts stay.
        if wrong_password:
            guard.failed("password", client=client, subject=subject, account=username)
        guard.failed(
            "register",
            client=client,
            subject=subject or (user.username_key if user else ""),
            account=user.username if user else subject,
        )
        raise RegistrationRefused(REFUSED) from None
    if not code:
        guard.succeeded("password", client=client, subject=subject)
    return user


def _registered_today(user: User) -> int:
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return AuditEvent.objects.filter(target=user.username, action=REGISTERED, at__gte=today).count()


def forget_expired() -> int:
    """Remove one-time codes that expired or were used more than a day ago (housekeeping)."""
    day_ago = timezone.now() - timedelta(days=1)
    return RegistrationCode.objects.filter(expires_at__lt=day_ago).delete()[0]
