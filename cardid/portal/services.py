"""The user portal's rules: log-in with its throttle, viewing and changing one's own number
and PIN. Views call these; nothing here trusts a form field to say who the user is."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cardid.access import guard, oidc, passwords
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.audit.models import AuditEvent
from cardid.cards import generation, ledger, selectors
from cardid.cards import services as cards
from cardid.cards.errors import GenerationRefused, NumberTaken
from cardid.cards.models import Card, NotifyReason
from cardid.config import services as config
from cardid.directory.models import User, username_key
from cardid.errors import Conflict, Invalid, Refused

# The audit action of a number the user changed here; counted for the daily limit.
SELF_SERVICE = "card.self-service"


def login(*, username: str, password: str, address: str) -> User:
    """The enabled user whose directory or local password this is. Refused otherwise
    (passwords.LoginRefused, one message for every reason, after the same work); past the
    guard's limits for this account from this address, refused at once (guard.Locked)."""
    subject = username_key(username or "")
    guard.check("password", client=address, subject=subject)
    user = passwords.by_password(username, password)
    if user is None or not user.enabled:
        guard.failed("password", client=address, subject=subject, account=username or "")
        audit.record(
            actor=Actor(f"portal:{address}", "portal"),
            action="portal.login-failed",
            target=(username or "")[:150],
        )
        raise passwords.LoginRefused(_("the username or password is wrong"))
    guard.succeeded("password", client=address, subject=subject)
    audit.record(actor=Actor(user.username, "portal"), action="portal.login", target=user.username)
    return user


def sign_in(identity: oidc.Identity, *, address: str) -> User:
    """The enabled card holder the identity provider signed in, matched by username (letter
    case folded); never created here. Refused with words for the page otherwise."""
    user = User.objects.filter(username_key=username_key(identity.username)).first()
    if user is None or not user.enabled:
        audit.record(
            actor=Actor(f"portal:{address}", "portal"),
            action="portal.sso-refused",
            target=identity.username[:150],
            detail="no such user" if user is None else "disabled",
        )
        words = (
            _(
                "you signed in as %(name)s, but no card holder of that name exists here; "
                "ask your administrator"
            )
            if user is None
            else _(
                "you signed in as %(name)s, but that card holder may not use the portal now; "
                "ask your administrator"
            )
        )
        raise Refused(words % {"name": identity.username})
    audit.record(
        actor=Actor(user.username, "portal"),
        action="portal.login",
        target=user.username,
        detail="single sign-on",
    )
    return user


def actor(user: User) -> Actor:
    return Actor(user.username, "portal")


def visible_number(user: User) -> tuple[str, str | None] | None:
    """(slot, number) the user may see, or None when viewing is off."""
    slot = config.get("portal.view-card-number")
    if slot == "off":
        return None
    number = Card.objects.filter(user=user, slot=slot).values_list("number", flat=True).first()
    return slot, number


def changes_today(user: User) -> int:
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return AuditEvent.objects.filter(
        target=user.username, door="portal", action=SELF_SERVICE, at__gte=today
    ).count()


def _may_change(user: User) -> str:
    slot = config.get("portal.change-card-number")
    if slot == "off":
        raise Refused(_("changing the Card/ID number is switched off"))
    limit = config.get("portal.change-card-number.max-per-day")
    if changes_today(user) >= limit:
        raise Refused(
            _(
                "your number has been changed too many times today; "
                "please contact your administrator"
            )
        )
    return slot


def _notify() -> str | None:
    return NotifyReason.SELF if config.get("notify.card-self-generated") else None


@transaction.atomic
def generate(*, user: User) -> str:
    """A fresh random number in the slot users may change; returns it."""
    slot = _may_change(user)
    result = generation.generate(
        selection=generation.Selection(usernames=(user.username,)),
        slot=slot,
        replace=True,
        actor=actor(user),
        notify=_notify() is not None,
        reason=NotifyReason.SELF,
        origin=Card.Origin.SELF_SERVICE,
        action=SELF_SERVICE,
    )
    if result.issued != 1:
        raise Refused(_("no number could be issued now; please try again later"))
    return Card.objects.get(user=user, slot=slot).number


@transaction.atomic
def enter(*, user: User, number: str) -> None:
    """The user's own number typed in (when the mode allows it). It follows the generation
    policy and the quarantine, as a generated one does (SPEC §1)."""
    slot = _may_change(user)
    if config.get("portal.change-card-number.mode") != "enter":
        raise Refused(_("numbers can only be generated here, not typed in"))
    try:
        changed = cards.change_numbers(
            user=user,
            changes={slot: number},
            actor=actor(user),
            origin=Card.Origin.SELF_SERVICE,
            checks=ledger.Checks(policy=selectors.current_policy(), quarantine=True),
            action=SELF_SERVICE,
            notify=_notify(),
        )
    except GenerationRefused:
        # The guess bound: no number of this kind may come into use now, whichever is typed.
        raise Refused(
            _("no new number can be taken into use now; please contact your administrator")
        ) from None
    except (NumberTaken, Conflict):
        # Never say whose it is, nor whether it was someone's before.
        raise Invalid(_("that number cannot be used; choose another"), field="number") from None
    if not changed:
        raise Invalid(_("that is your number already"), field="number")


def change_pin(*, user: User, current: str, new: str, address: str) -> None:
    """Needs the current PIN (or, when there is none yet, the password); wrong ones are
    counted by the guard like failed log-ins of the account from this address."""
    if not config.get("portal.change-pin"):
        raise Refused(_("changing the PIN is switched off"))
    # Without a PIN the password is asked: its failures count as failed log-ins, so this
    # form is no second way to guess the password.
    kind = "pin-change" if user.pin_hash else "password"
    guard.check(kind, client=address, subject=user.username_key)
    ok = (
        cards.verify_pin(user, current)
        if user.pin_hash
        else passwords.by_password(user.username, current) is not None
    )
    if not ok:
        guard.failed(kind, client=address, subject=user.username_key, account=user.username)
        audit.record(actor=actor(user), action="portal.pin-refused", target=user.username)
        raise Invalid(_("the current PIN (or password) is wrong"), field="current")
    guard.succeeded(kind, client=address, subject=user.username_key)
    cards.set_pin(username=user.username, pin=new, actor=actor(user))


def forged(*, user: User, what: str) -> None:
    """Record an attempt to act on something other than one's own allowed slot: the first
    in ten minutes as an audit event, the rest counted (the console's refusals list them),
    so that a signed-in user cannot flood the trail."""
    _aggregated(user, "portal.forged-request", what)


def refused(*, user: User, what: str) -> None:
    """Record a change the portal refused (bad number, taken number, bad PIN, the limit),
    as `forged` does: the first in ten minutes, the rest counted."""
    _aggregated(user, "portal.change-refused", what)


def _aggregated(user: User, action: str, what: str) -> None:
    kind = action.removeprefix("portal.")
    if guard.refusal(kind, client=f"user:{user.username}"):
        detail = f"{what[:300]} (more in the next {guard.REFUSAL_MINUTES} minutes are counted)"
        audit.record(actor=actor(user), action=action, target=user.username, detail=detail)
