"""The console's own rules: who is an administrator, what the dashboard counts, and how a
bulk action, a sync or a print run becomes a job. Views call these and the services of the
other apps; nothing here trusts the browser to say who the administrator is."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db.models import Count, Q

from cardid.api import protection
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import selectors as card_selectors
from cardid.cards import services as cards
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory import selectors as directory
from cardid.directory.models import Membership, SyncRun, User
from cardid.errors import Invalid, NotFound
from cardid.jobs import services as jobs
from cardid.jobs.models import Job
from cardid.notifications import services as notifications

THROTTLE = protection.LoginThrottle("console")


@dataclass(frozen=True)
class Admin:
    """A logged-in administrator: a local account, or a member of the directory group."""

    name: str
    kind: str  # local | directory
    pk: int

    @property
    def actor(self) -> Actor:
        return Actor(self.name, "console")

    def as_session(self) -> list:
        return [self.kind, self.pk]


def login(*, username: str, password: str, address: str) -> Admin:
    """The administrator these credentials belong to; LoginRefused (one message for every
    reason, slower with each failure, locked after five) otherwise."""
    username = (username or "").strip()
    THROTTLE.check(username, address)
    admin = _local(username, password) or _directory(username, password)
    if admin is None:
        THROTTLE.failed(username, address)
        audit.record(
            actor=Actor(f"console:{address}", "console"),
            action="console.login-failed",
            target=username[:150],
        )
        raise protection.LoginRefused("the username or password is wrong")
    THROTTLE.succeeded(username, address)
    audit.record(actor=admin.actor, action="console.login", target=admin.name)
    return admin


def _local(username: str, password: str) -> Admin | None:
    account = get_user_model().objects.filter(username=username).first()
    if account is None:
        return None
    if account.is_active and account.is_staff and account.check_password(password):
        return Admin(account.username, "local", account.pk)
    return None


def _directory(username: str, password: str) -> Admin | None:
    group = config.get("console.admin-group")
    if not group or not username or not password:
        make_password(password or "")  # the same work whichever way a log-in fails
        return None
    from cardid.cards.registration import _by_password

    user = _by_password(username, password)
    if user is None or not user.enabled or not _in_group(user, group):
        return None
    return Admin(user.username, "directory", user.pk)


def _in_group(user: User, group: str) -> bool:
    return Membership.objects.filter(user=user, group__name_key=group.strip().lower()).exists()


def from_session(value) -> Admin | None:
    """The administrator a session names, checked again on every request: a disabled account,
    a removed member or a changed admin group loses the console at once."""
    try:
        kind, pk = value
    except (TypeError, ValueError):
        return None
    if kind == "local":
        account = get_user_model().objects.filter(pk=pk, is_active=True, is_staff=True).first()
        return Admin(account.username, "local", account.pk) if account else None
    if kind == "directory":
        group = config.get("console.admin-group")
        user = User.objects.filter(pk=pk, enabled=True).first()
        if group and user and _in_group(user, group):
            return Admin(user.username, "directory", user.pk)
    return None


# -- dashboard -----------------------------------------------------------------------------


def dashboard() -> dict:
    users = User.objects.aggregate(total=Count("id"), enabled=Count("id", filter=Q(enabled=True)))
    slots = dict(Card.objects.values_list("slot").annotate(n=Count("id")))
    return {
        "users": users["total"],
        "enabled": users["enabled"],
        "primary": slots.get("primary", 0),
        "secondary": slots.get("secondary", 0),
        "without_primary": users["total"] - slots.get("primary", 0),
        "notifications": notifications.counts(),
        "jobs_running": Job.objects.filter(status__in=["queued", "running"]).count(),
        "recent_jobs": list(Job.objects.all()[:5]),
        "last_sync": SyncRun.objects.first(),
        "policy": policy_figures(),
        "sync_source": config.get("sync.source"),
    }


def policy_figures() -> dict:
    """The live figures beside the generation policy, with a warning near the bound."""
    figures = card_selectors.policy_figures()
    bound = figures["bound"]
    share = figures["guess_probability"] / bound if bound else 0
    figures["share_of_bound"] = share
    figures["warning"] = (
        "The chance that one random guess hits a user's number is above 80% of the allowed "
        "bound; generation will soon be refused. Lengthen the numbers or raise the bound."
        if share >= 0.8
        else ""
    )
    return figures


# -- users ---------------------------------------------------------------------------------


def search_users(query: str):
    """Users whose username or name contains `query`, and the holder of `query` when it is a
    number (exact, either slot): (queryset, holder or None)."""
    query = (query or "").strip()
    holder = card_selectors.find_owner(query) if query and len(query) <= 64 else None
    return directory.list_users(search=query), holder


def history(user: User, limit: int = 50):
    from cardid.audit.models import AuditEvent

    return AuditEvent.objects.filter(target=user.username)[:limit]


# -- bulk actions, sync and printing as jobs -------------------------------------------------


@dataclass
class Target:
    """The users a bulk action or a print run applies to, as the form chose them."""

    kind: str  # group | users | user
    group: str = ""
    usernames: tuple[str, ...] = ()

    def selection(self) -> cards.Selection:
        if self.kind == "group":
            return cards.Selection(group=self.group)
        return cards.Selection(usernames=list(self.usernames))

    def describe(self) -> str:
        if self.kind == "group":
            return f"group {self.group}"
        if len(self.usernames) == 1:
            return f"user {self.usernames[0]}"
        return f"{len(self.usernames)} listed users"


def resolve_target(*, kind: str, group: str = "", usernames: str = "", user: str = "") -> tuple:
    """Check the chosen users exist; returns (Target, how many users). Raises a
    FieldProblem naming the form field at fault."""
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
        raw = usernames if kind == "users" else user
        names = [n for n in raw.replace(",", "\n").split() if n]
        if not names:
            raise FieldProblem(field, "name at least one user")
        if kind == "user" and len(names) > 1:
            raise FieldProblem("user", "name one user here, or choose a list of users")
        try:
            found = directory.users_by_names(names)
        except (NotFound, Invalid) as e:
            raise FieldProblem(field, str(e)) from None
        return Target(
            "users" if kind == "users" else "user", usernames=tuple(u.username for u in found)
        ), len(found)
    raise FieldProblem("target", "choose a group, a list of users or one user")


class FieldProblem(Invalid):
    """A form value refused by a service, with the field it belongs beside."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def bulk_generate(*, target: Target, slot: str, replace: bool, notify: bool, admin: Admin) -> Job:
    """Bulk User Actions: generation for the target as a job the worker runs."""
    params = {
        "slot": slot,
        "replace": replace,
        "notify": notify,
        "actor_name": admin.name,
        "actor_door": "console",
    }
    if target.kind == "group":
        params["group"] = target.group
    else:
        params["usernames"] = list(target.usernames)
    return jobs.submit(
        kind="generate",
        actor=admin.actor,
        params=params,
        description=(
            f"generate {slot} numbers for {target.describe()}"
            f" ({'replace' if replace else 'only where blank'}"
            f", {'notify' if notify else 'no notification'})"
        ),
    )


def sync_now(*, admin: Admin, dry_run: bool = False) -> Job:
    if config.get("sync.source") == "none":
        raise Invalid("choose a sync source and save it before syncing")
    return jobs.submit(
        kind="sync",
        actor=admin.actor,
        params={"actor_name": admin.name, "dry_run": dry_run},
        description="user/group sync" + (" (dry run: nothing is changed)" if dry_run else ""),
    )


def print_cards(*, target: Target, slot: str, paper: str, with_qr: bool, admin: Admin) -> Job:
    """ID cards as a job: thousands of cards take a while; the job page offers the PDF."""
    from cardid.cards import printing

    if paper not in printing.PAPERS:
        raise FieldProblem("paper", f"unknown paper {paper!r}; choose A4 or Letter")
    holders = target.selection().queryset().filter(cards__slot=slot).count()
    if holders == 0:
        raise FieldProblem(
            "slot", f"nobody in {target.describe()} has a {slot} number: nothing to print"
        )
    return jobs.submit(
        kind="print",
        actor=admin.actor,
        params={
            "group": target.group,
            "usernames": list(target.usernames),
            "slot": slot,
            "paper": paper,
            "qr": with_qr,
            "actor_name": admin.name,
        },
        description=f"print {slot} ID cards for {target.describe()} ({paper.upper()})",
    )


def retry_notifications(*, ids: list[int] | None, admin: Admin) -> int:
    return notifications.retry(ids=ids, actor=admin.actor)
