"""Plain factory functions that make unique test data."""

import itertools

from cardid.audit.actor import Actor
from cardid.cards import numbers
from cardid.cards.models import Card
from cardid.directory.models import Group, Membership, User

_seq = itertools.count(1)
ADMIN = Actor("tester", "cli")


def make_user(**overrides) -> User:
    n = next(_seq)
    fields = {
        "username": f"user{n}",
        "full_name": f"User Number {n}",
        "email": f"user{n}@example.org",
        "department": "Physics",
        "office": f"R{n}",
    }
    fields.update(overrides)
    fields["username_key"] = fields["username"].lower()
    return User.objects.create(**fields)


def make_group(name: str | None = None, members=()) -> Group:
    name = name or f"group{next(_seq)}"
    group = Group.objects.create(name=name, name_key=name.lower())
    Membership.objects.bulk_create([Membership(user=u, group=group) for u in members])
    return group


def give_number(user: User, number: str, slot: str = "primary") -> Card:
    from django.utils import timezone

    return Card.objects.create(
        user=user,
        slot=slot,
        number=number,
        number_key=numbers.key(number),
        keypad_length=numbers.keypad_length(number),
        origin=Card.Origin.MANUAL,
        issued_at=timezone.now(),
        issued_by="factory",
    )


def numbers_of(user: User) -> dict[str, str]:
    return {c.slot: c.number for c in Card.objects.filter(user=user)}
