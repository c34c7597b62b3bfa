"""Bulk work on chosen users as jobs: which users (a group, a list, one user), checked before
anything starts, then generation or printing handed to the task worker. The console and the
API both start bulk work through here."""

from __future__ import annotations

from dataclasses import dataclass

from cardid.audit.actor import Actor
from cardid.cards import services
from cardid.directory import selectors as directory
from cardid.directory.models import Membership
from cardid.errors import Invalid, NotFound
from cardid.jobs import services as jobs
from cardid.jobs.models import Job


class FieldProblem(Invalid):
    """A refused choice, with the name of the input it belongs beside."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Target:
    """The users bulk work applies to."""

    kind: str  # group | users | user
    group: str = ""
    usernames: tuple[str, ...] = ()

    def params(self) -> dict:
        if self.kind == "group":
            return {"group": self.group}
        return {"usernames": list(self.usernames)}

    def selection(self) -> services.Selection:
        return services.Selection(group=self.group or None, usernames=list(self.usernames))

    def describe(self) -> str:
        if self.kind == "group":
            return f"group {self.group}"
        if len(self.usernames) == 1:
            return f"user {self.usernames[0]}"
        return f"{len(self.usernames)} listed users"


def resolve(*, kind: str, group: str = "", usernames: str = "", user: str = "") -> tuple:
    """Check that the chosen users exist; returns (Target, how many users)."""
    if kind == "group":
        try:
            g = directory.get_group(group.strip())
        except (NotFound, Invalid) as e:
            raise FieldProblem("group", str(e)) from None
        n = Membership.objects.filter(group=g).count()
        if n == 0:
            raise FieldProblem("group", f"group {g.name} has no members: nothing to do")
        return Target("group", group=g.name), n
    if kind in ("users", "user"):
        field = "usernames" if kind == "users" else "user"
        names = (usernames if kind == "users" else user).replace(",", " ").split()
        if not names:
            raise FieldProblem(field, "name at least one user")
        if kind == "user" and len(names) > 1:
            raise FieldProblem("user", "name one user here, or choose a list of users")
        try:
            found = directory.users_by_names(names)
        except (NotFound, Invalid) as e:
            raise FieldProblem(field, str(e)) from None
        return Target(kind, usernames=tuple(u.username for u in found)), len(found)
    raise FieldProblem("target", "choose a group, a list of users or one user")


def generate(*, target: Target, slot: str, replace: bool, notify: bool | None, actor: Actor) -> Job:
    """Generation for the target as a job the worker runs."""
    return jobs.submit(
        kind="generate",
        actor=actor,
        params={
            **target.params(),
            "slot": slot,
            "replace": replace,
            "notify": notify,
            "actor_name": actor.name,
            "actor_door": actor.door,
        },
        description=(
            f"generate {slot} numbers for {target.describe()}"
            f" ({'replace' if replace else 'only where blank'}"
            f"{'' if notify is None else ', notify' if notify else ', no notification'})"
        ),
    )


def print_cards(*, target: Target, slot: str, paper: str, with_qr: bool, actor: Actor) -> Job:
    """ID cards as a job: thousands of cards take a while; the PDF is kept for a day."""
    from cardid.cards import printing

    if paper not in printing.PAPERS:
        raise FieldProblem("paper", f"unknown paper {paper!r}; choose a4 or letter")
    if not target.selection().queryset().filter(cards__slot=slot).exists():
        raise FieldProblem(
            "slot", f"nobody in {target.describe()} has a {slot} number: nothing to print"
        )
    return jobs.submit(
        kind="print",
        actor=actor,
        params={**target.params(), "slot": slot, "paper": paper, "qr": with_qr},
        description=f"print {slot} ID cards for {target.describe()} ({paper.upper()})",
    )
