"""Console administrators with a local account (Django's users): created, re-passworded
and removed through here by every door, their passwords held to Django's validators."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.errors import Conflict, Invalid, NotFound


class WeakPassword(Invalid):
    """A password Django's validators refuse; the message says which rule it breaks."""


@dataclass(frozen=True)
class Administrator:
    name: str
    active: bool
    last_login: str


def validate(*, name: str, password: str) -> None:
    """Refuse (WeakPassword, Invalid) a name or password an administrator may not have,
    before anything is done (no database needed)."""
    _check(name, password, get_user_model()(username=name))


def _check(name: str, password: str, account=None) -> None:
    if not name or len(name) > 150 or not name.isprintable() or name != name.strip():
        raise Invalid("an administrator's name has 1 to 150 printable characters", field="name")
    try:
        validate_password(password, account)
    except ValidationError as e:
        raise WeakPassword(
            "the password is refused: " + " ".join(e.messages), field="password"
        ) from None


@transaction.atomic
def add(*, name: str, password: str, actor: Actor) -> None:
    User = get_user_model()
    if User.objects.filter(username=name).exists():
        raise Conflict(f"administrator {name!r} exists; set a new password instead")
    _check(name, password, User(username=name))
    account = User(username=name, is_staff=True, is_superuser=True)
    account.set_password(password)
    account.save()
    audit.record(actor=actor, action="admin.created", target=name)


@transaction.atomic
def set_password(*, name: str, password: str, actor: Actor) -> None:
    """A new password; every session the administrator has open ends with it."""
    account = _get(name)
    _check(name, password, account)
    account.set_password(password)
    account.save()
    audit.record(actor=actor, action="admin.password-set", target=name)


@transaction.atomic
def remove(*, name: str, actor: Actor) -> None:
    """The account goes; its sessions end at their next request."""
    _get(name).delete()
    audit.record(actor=actor, action="admin.removed", target=name)


def listing() -> list[Administrator]:
    return [
        Administrator(
            a.username,
            a.is_active,
            a.last_login.isoformat(timespec="seconds") if a.last_login else "never",
        )
        for a in get_user_model().objects.filter(is_staff=True).order_by("username")
    ]


def _get(name: str):
    account = get_user_model().objects.filter(username=name, is_staff=True).first()
    if account is None:
        raise NotFound(f"no administrator {name!r}; `cardid admins list` shows them")
    return account
