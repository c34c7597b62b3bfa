"""Self-registration at a terminal: a user proves who they are (password or one-time code)
and the card the reader just read becomes their number."""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from cardid.api import protection
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import numbers, rules
from cardid.cards import services as cards
from cardid.cards.models import Card, RegistrationCode, RetiredNumber
from cardid.config import services as config
from cardid.directory.models import User
from cardid.errors import CardidError, Invalid, NotFound
from cardid.notifications.models import OutboxMessage

# No 0/O, 1/I/L: codes are read off a screen and typed at a terminal.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFUSED = "registration refused: the credentials are wrong or this card cannot be registered"


class Refused(CardidError):
    """One answer for every refusal, so a terminal learns nothing about who holds a card."""


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


@transaction.atomic
def new_code(*, username: str, actor: Actor) -> str:
    """A fresh one-time code for the user (earlier unused codes stop working)."""
    from cardid.directory.selectors import get_user

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


def by_password(username: str, password: str) -> User | None:
    """The user whose directory password (an LDAP bind, when the user comes from the LDAP
    source) or local password this is; None otherwise, after the same work."""
    from cardid.directory.selectors import get_user

    try:
        user = get_user(username or "")
    except NotFound:
        make_password(password or "")  # the same work as for a real user
        return None
    if user.source == "ldap" and config.get("sync.source") == "ldap":
        from cardid.directory.sync import sources

        return user if sources.current().authenticate(user.username, password or "") else None
    return (
        user if user.password_hash and check_password(password or "", user.password_hash) else None
    )


def register(
    *,
    client: str,
    reader_value: str,
    rule: str = "",
    username: str = "",
    password: str = "",
    code: str = "",
    actor_name: str = "terminal",
) -> User:
    """Store the converted reader value in the configured slot, origin self-registered."""
    slot = config.get("cards.self-registration")
    if slot == "off":
        raise Invalid("self-registration is switched off (cards.self-registration)")
    if bool(code) == bool(username):
        raise Invalid("give either a one-time code, or a username and password")
    protection.check_client(client)
    try:
        number = numbers.clean(rules.convert(reader_value, rule=rule or None))
    except numbers.NumberError as e:
        raise Invalid(str(e)) from None
    key = numbers.key(number)
    with transaction.atomic():
        user = _by_code(code) if code else by_password(username, password)
        taken = Card.objects.filter(number_key=key).exclude(user=user).exists() if user else True
        retired = RetiredNumber.objects.filter(
            protection.quarantine_q(), number_hash=numbers.retired_hash(key)
        ).exists()
        if user is None or not user.enabled or taken or retired:
            transaction.set_rollback(True)
            user = None
    if user is None:
        protection.count_client_miss(client)
        raise Refused(REFUSED)
    actor = Actor(f"{actor_name} for {user.username}", "api")
    with transaction.atomic():
        cards.change_numbers(
            user=user, changes={slot: number}, actor=actor, origin=Card.Origin.SELF_REGISTERED
        )
        audit.record(actor=actor, action="card.self-registered", target=user.username, detail=slot)
        if config.get("notify.card-self-generated"):
            cards.queue_notifications(
                user_ids=[user.id], slot=slot, reason=OutboxMessage.Reason.SELF
            )
    return user
