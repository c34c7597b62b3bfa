"""Bulk work on chosen users: which users (a group, a list, one user, everyone), checked
before anything starts; the plan of a generation for review; generation and printing
handed to the task worker. Every door starts bulk work through here."""

from __future__ import annotations

from dataclasses import dataclass

from cardid.audit.actor import Actor
from cardid.cards import generation, printing
from cardid.cards.services import slot_of
from cardid.directory import selectors as directory
from cardid.directory.models import Membership, User
from cardid.errors import Invalid, NotFound
from cardid.jobs import services as jobs
from cardid.jobs.models import Job


@dataclass(frozen=True)
class Target:
    """The users bulk work applies to."""

    kind: str  # all | group | users | user
    group: str = ""
    usernames: tuple[str, ...] = ()

    def selection(self) -> generation.Selection:
        if self.kind == "all":
            return generation.Selection(all=True)
        return generation.Selection(group=self.group or None, usernames=self.usernames)

    def describe(self) -> str:
        if self.kind == "all":
            return "all users"
        if self.kind == "group":
            return f"group {self.group}"
        if len(self.usernames) == 1:
            return f"user {self.usernames[0]}"
        return f"{len(self.usernames)} listed users"


def resolve(*, kind: str, group: str = "", usernames: str = "", user: str = "") -> tuple:
    """Check that the chosen users exist; returns (Target, how many users). Each refusal
    names the input it concerns (`field`)."""
    if kind == "all":
        n = User.objects.count()
        if n == 0:
            raise Invalid("there are no users yet: nothing to do", field="target")
        return Target("all"), n
    if kind == "group":
        try:
            g = directory.get_group(group.strip())
        except (NotFound, Invalid) as e:
            raise type(e)(str(e), field="group") from None
        n = Membership.objects.filter(group=g).count()
        if n == 0:
            raise Invalid(f"group {g.name} has no members: nothing to do", field="group")
        return Target("group", group=g.name), n
    if kind in ("users", "user"):
        field = "usernames" if kind == "users" else "user"
        names = (usernames if kind == "users" else user).replace(",", " ").split()
        if not names:
            raise Invalid("name at least one user", field=field)
        if kind == "user" and len(names) > 1:
            raise Invalid("name one user here, or choose a list of users", field="user")
        try:
            found = directory.users_by_names(names)
        except (NotFound, Invalid) as e:
            raise type(e)(str(e), field=field) from None
        return Target(kind, usernames=tuple(u.username for u in found)), len(found)
    raise Invalid("choose all users, a group, a list of users or one user", field="target")


def review(*, target: Target, slot: str, replace: bool, notify: bool | None) -> generation.Plan:
    """The plan a person reviews before the job starts: the same computation the job makes."""
    return generation.plan(selection=target.selection(), slot=slot, replace=replace, notify=notify)


def generate(
    *,
    target: Target,
    slot: str,
    replace: bool,
    notify: bool | None,
    actor: Actor,
    expect: dict | None = None,
    queue: bool = True,
) -> Job:
    """Generation for the target as a job (the worker runs it unless `queue` is off: then
    the caller does). With `expect` (the figures of a reviewed plan), the job refuses to
    run if the plan has changed meanwhile."""
    slot = slot_of(slot)
    return jobs.submit(
        kind="generate",
        actor=actor,
        queue=queue,
        params={
            **target.selection().params(),
            "slot": slot,
            "replace": replace,
            "notify": notify,
            "actor_name": actor.name,
            "actor_door": actor.door,
            "expect": expect,
        },
        description=(
            f"generate {slot} numbers for {target.describe()}"
            f" ({'replace' if replace else 'only where blank'}"
            f"{'' if notify is None else ', notify' if notify else ', no notification'})"
        ),
    )


def print_cards(*, target: Target, slot: str, paper: str, with_qr: bool, actor: Actor) -> Job:
    """ID cards as a job: thousands of cards take a while; the PDF is kept for a day."""
    if paper not in printing.PAPERS:
        raise Invalid(f"unknown paper {paper!r}; choose a4 or letter", field="paper")
    if not target.selection().queryset().filter(cards__slot=slot).exists():
        raise Invalid(
            f"nobody in {target.describe()} has a {slot} number: nothing to print", field="slot"
        )
    return jobs.submit(
        kind="print",
        actor=actor,
        params={**target.selection().params(), "slot": slot, "paper": paper, "qr": with_qr},
        description=f"print {slot} ID cards for {target.describe()} ({paper.upper()})",
    )


def render_cards(
    *, selection: generation.Selection, slot: str, paper: str, with_qr: bool, out, progress=None
) -> tuple[int, int]:
    """A PDF of ID cards for the selected users that have a number in `slot`; returns (cards
    drawn, users skipped for having no number). Users are read in chunks; `progress(done,
    total)` is called after each chunk."""
    if paper not in printing.PAPERS:
        raise Invalid(f"unknown paper {paper!r}; use a4 or letter", field="paper")
    slot = slot_of(slot)
    users = selection.queryset()
    total = users.count()
    holders = users.filter(cards__slot=slot)
    if not holders.exists():
        raise Invalid(
            f"none of the {total} selected user(s) has a {slot} number: nothing to print",
            field="slot",
        )
    drawn_so_far = [0]

    def rows():
        last = ""
        while True:
            part = list(
                holders.filter(username_key__gt=last)
                .order_by("username_key")
                .values_list("username_key", "full_name", "username", "cards__number")[:1000]
            )
            if not part:
                return
            for _, full_name, username, number in part:
                yield (full_name or username), number
            last = part[-1][0]
            drawn_so_far[0] += len(part)
            if progress:
                progress(drawn_so_far[0], total)

    drawn = printing.render(rows(), out, paper=paper, with_qr=with_qr)
    return drawn, total - drawn
