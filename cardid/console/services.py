"""The console's own rules: who is an administrator, what the dashboard counts, and how a
bulk action, a sync or a print run becomes a job. Views call these and the services of the
other apps; nothing here trusts the browser to say who the administrator is."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cardid.access import guard, oidc, passwords
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import selectors as card_selectors
from cardid.cards.models import Card
from cardid.cards.policy import MAX_LENGTH
from cardid.config import services as config
from cardid.directory import selectors as directory
from cardid.directory.models import Membership, SyncRun, User, group_key, username_key
from cardid.errors import Refused
from cardid.jobs.models import Job
from cardid.notifications import services as notifications
from cardid.notifications.models import OutboxMessage
from cardid.ops import monitoring

REFUSED = gettext_lazy("the username or password is wrong")


@dataclass(frozen=True)
class Admin:
    """A logged-in administrator: a local account, or a member of the directory group."""

    name: str
    kind: str  # local | directory
    pk: int
    # Ties the session to the password it was opened with: a new password ends it.
    session_hash: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(self.name, "console")

    def as_session(self) -> list:
        return [self.kind, self.pk, self.session_hash]


def login(*, username: str, password: str, address: str) -> Admin:
    """The administrator these credentials belong to. Refused (passwords.LoginRefused, one
    message for every reason) otherwise; five failures for one account from one address,
    or thirty from one address, refuse that address at once for the rest of the window
    (guard.Locked) — the right password from another address still works."""
    username = (username or "").strip()
    subject = username_key(username)
    guard.check("console", client=address, subject=subject)
    admin = _authenticate(username, password)
    if admin is None:
        guard.failed("console", client=address, subject=subject, account=username)
        audit.record(
            actor=Actor(f"console:{address}", "console"),
            action="console.login-failed",
            target=username[:150],
        )
        raise passwords.LoginRefused(str(REFUSED))
    guard.succeeded("console", client=address, subject=subject)
    audit.record(actor=admin.actor, action="console.login", target=admin.name)
    return admin


def sign_in(identity: oidc.Identity, *, address: str) -> Admin:
    """The administrator the identity provider signed in: a member of auth.oidc.admin-group
    (per the groups claim) who is a card holder here or a local administrator of that name.
    Refused with words for the page otherwise."""
    s = oidc.settings()
    admin = None
    if identity.in_group(s.admin_group):
        admin = _oidc_admin(identity.username, s.admin_group)
    if admin is None:
        audit.record(
            actor=Actor(f"console:{address}", "console"),
            action="console.sso-refused",
            target=identity.username[:150],
        )
        raise Refused(
            _(
                "you signed in as %(name)s, who may not use the console: it is for "
                "members of the administrators' group; ask an administrator"
            )
            % {"name": identity.username}
        )
    audit.record(
        actor=admin.actor, action="console.login", target=admin.name, detail="single sign-on"
    )
    return admin


def _oidc_admin(username: str, group: str) -> Admin | None:
    key = username_key(username)
    user = User.objects.filter(username_key=key, enabled=True).first()
    if user is not None:
        return Admin(
            user.username, "oidc-user", user.pk, _sso_hash(passwords.session_hash(user), group)
        )
    account = (
        get_user_model()
        .objects.filter(username__iexact=username, is_active=True, is_staff=True)
        .first()
    )
    if account is not None:
        return Admin(
            account.username,
            "oidc-local",
            account.pk,
            _sso_hash(account.get_session_auth_hash(), group),
        )
    return None


def _sso_hash(base: str, group: str) -> str:
    """A single sign-on session ends when the admin group or the account changes."""
    return salted_hmac("cardid.console.sso", f"{base}|{group_key(group)}").hexdigest()


def _authenticate(username: str, password: str) -> Admin | None:
    """Exactly one password check (or directory bind) whoever asks, so that the time of the
    answer does not tell whether an administrator of that name exists."""
    account = get_user_model().objects.filter(username=username).first()
    if account is not None and account.is_active and account.is_staff:
        if account.check_password(password):
            return Admin(account.username, "local", account.pk, account.get_session_auth_hash())
        return None
    group = config.get("console.admin-group")
    if not group:
        passwords.decoy_check(password)
        return None
    user = passwords.by_password(username, password)
    if user is None or not user.enabled or not _in_group(user, group):
        return None
    return Admin(user.username, "directory", user.pk, passwords.session_hash(user))


def _oidc_admin_by_pk(kind: str, pk, group: str) -> Admin | None:
    if kind == "oidc-user":
        user = User.objects.filter(pk=pk, enabled=True).first()
        return user and Admin(
            user.username, kind, user.pk, _sso_hash(passwords.session_hash(user), group)
        )
    account = get_user_model().objects.filter(pk=pk, is_active=True, is_staff=True).first()
    return account and Admin(
        account.username, kind, account.pk, _sso_hash(account.get_session_auth_hash(), group)
    )


def _in_group(user: User, group: str) -> bool:
    return Membership.objects.filter(user=user, group__name_key=group_key(group)).exists()


def from_session(value) -> Admin | None:
    """The administrator a session names, checked again on every request: a disabled account,
    a removed member, a changed admin group or a new password loses the console at once."""
    try:
        kind, pk, opened_with = value
    except (TypeError, ValueError):
        return None
    admin = None
    if kind == "local":
        account = get_user_model().objects.filter(pk=pk, is_active=True, is_staff=True).first()
        if account:
            admin = Admin(account.username, "local", account.pk, account.get_session_auth_hash())
    elif kind in ("oidc-user", "oidc-local"):
        s = oidc.settings()
        if s.on_for("console") and s.admin_group:
            admin = _oidc_admin_by_pk(kind, pk, s.admin_group)
    elif kind == "directory":
        group = config.get("console.admin-group")
        user = User.objects.filter(pk=pk, enabled=True).first()
        if group and user and _in_group(user, group):
            admin = Admin(user.username, "directory", user.pk, passwords.session_hash(user))
    if admin is None or not constant_time_compare(admin.session_hash, str(opened_with)):
        return None
    return admin


# -- dashboard -----------------------------------------------------------------------------


def administrators_exist() -> bool:
    """Whether anyone can log in to the console: an active local administrator, or a
    directory group of administrators."""
    local = get_user_model().objects.filter(is_staff=True, is_active=True).exists()
    return local or bool(config.get("console.admin-group"))


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
        # Cards whose PIN look-ups wait for tomorrow: too many wrong PINs today.
        "pins_locked": sum(1 for lk in guard.locks() if lk.kind == "pin" and not lk.client),
        "warnings": warnings(users["enabled"]),
    }


@dataclass(frozen=True)
class Alert:
    """A misconfiguration the dashboard names, with the page that fixes it."""

    key: str  # a stable name, for tests and for the element's id
    text: str
    page: str = ""  # an Options page slug, when one fixes it


def warnings(enabled_users: int) -> list[Alert]:
    """What is set up so that it cannot work: notifications with no (working) mail server,
    auto-generation with no source, more enabled users than the guess bound allows at the
    current length, jobs waiting with no worker."""
    o = config.get_many(
        "notify.card-auto-generated",
        "notify.card-admin-generated",
        "notify.card-self-generated",
        "smtp.host",
        "smtp.from",
        "sync.source",
        "sync.auto-generate-primary-when-blank",
    )
    found = []
    pending = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
    waiting = pending.count()
    if any(v for k, v in o.items() if k.startswith("notify.")) and not (
        o["smtp.host"] and o["smtp.from"]
    ):
        words = (
            _(
                "E-mail notifications are switched on, but no mail server is set, so nothing "
                "is sent (%(n)s message(s) waiting). Fill in E-mail (SMTP) under "
                "Options › Notifications, and send a test e-mail there."
            )
            if not o["smtp.host"]
            else _(
                "E-mail notifications are switched on, but no sender address is set, so "
                "nothing is sent (%(n)s message(s) waiting). Fill in E-mail (SMTP) under "
                "Options › Notifications, and send a test e-mail there."
            )
        )
        found.append(Alert("mail-not-set", words % {"n": f"{waiting:,}"}, "notifications"))
    else:
        failing = pending.exclude(last_error="").order_by("-next_attempt_at").first()
        if failing is not None:
            found.append(
                Alert(
                    "mail-failing",
                    _(
                        "The mail server refuses or does not answer (%(n)s message(s) "
                        "waiting); it last said: %(said)s. Check E-mail (SMTP) "
                        "under Options › Notifications and send a test e-mail there."
                    )
                    % {"n": f"{waiting:,}", "said": failing.last_error},
                    "notifications",
                )
            )
    if o["sync.auto-generate-primary-when-blank"] and o["sync.source"] == "none":
        found.append(
            Alert(
                "auto-generation-without-source",
                _(
                    "New users are to get a number during sync, but no sync source is chosen, "
                    "so no user arrives that way. Choose the source under Options › "
                    "User/Group Sync."
                ),
                "sync",
            )
        )
    policy = card_selectors.current_policy()
    if enabled_users > policy.capacity():
        fits = next(
            (
                n
                for n in range(policy.length + 1, MAX_LENGTH + 1)
                if enabled_users <= policy.capacity(n)
            ),
            None,
        )
        advice = (
            _("set the length to %(n)s digits or more") % {"n": fits}
            if fits
            else _("raise the largest allowed chance of a hit")
        )
        found.append(
            Alert(
                "beyond-guess-bound",
                _(
                    "%(users)s users are enabled, but at %(length)s digits only "
                    "%(capacity)s numbers fit within the allowed chance that one random "
                    "guess hits a user: %(advice)s under Options › Card/ID numbers."
                )
                % {
                    "users": f"{enabled_users:,}",
                    "length": policy.length,
                    "capacity": f"{policy.capacity():,}",
                    "advice": advice,
                },
                "card-numbers",
            )
        )
    queued = Job.objects.filter(status="queued").count()
    if queued and not monitoring.workers():
        found.append(
            Alert(
                "no-worker",
                _(
                    "%(n)s job(s) wait, but no task worker has been seen in the last 30 s: "
                    "the server's task worker is not running, so nothing queued will start. "
                    "Start it on the server (the README's Deployment section says how)."
                )
                % {"n": queued},
            )
        )
    return found


def _one_in(p: float) -> str:
    """A chance as people read it: "1 in 439,000" (three significant figures), "none"."""
    if p <= 0:
        return _("none")
    n = 1 / p
    rounded = round(n, -max(0, len(str(int(n))) - 3))
    return _("1 in %(n)s") % {"n": f"{int(rounded):,}"}


def policy_figures() -> dict:
    """The live figures beside the generation policy, with a warning near the bound."""
    figures = card_selectors.policy_figures()
    bound = figures["bound"]
    share = figures["guess_probability"] / bound if bound else 0
    figures["share_of_bound"] = share
    # For people: "1 in 439,000" rather than 0.00000228; the bound the same way.
    figures["odds"] = _one_in(figures["guess_probability"])
    figures["bound_odds"] = _one_in(bound)
    figures["share_percent"] = f"{share * 100:.0f} %" if share >= 0.01 else _("under 1 %")
    figures["warning"] = (
        _(
            "The chance that one random guess hits a user's number is above 80%% of the "
            "allowed bound; generation will soon be refused. Lengthen the numbers or raise "
            "the bound."
        )
        % {}
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
    found = directory.list_users(search=query)
    if holder is not None:  # the holder's row is among the results, whatever their name
        found = found | User.objects.filter(pk=holder.pk)
    return found, holder


# -- the guard's locks ------------------------------------------------------------------------

LOCK_WORDS = {
    "console": gettext_lazy("Console log-in"),
    "password": gettext_lazy("Log-in (portal, terminal)"),
    "pin-change": gettext_lazy("Portal PIN change"),
    "register": gettext_lazy("Card registration"),
    "pin": gettext_lazy("PIN look-ups of a card"),
    "lookup": gettext_lazy("Look-ups"),
}


@dataclass(frozen=True)
class LockRow:
    what: str
    account: str
    client: str
    failures: int
    until: object


def locks() -> list[LockRow]:
    return [
        LockRow(LOCK_WORDS.get(lk.kind, lk.kind), lk.account, lk.client, lk.failures, lk.until)
        for lk in guard.locks()
    ]


def unlock(*, user: str, address: str, admin: Admin) -> int:
    n = guard.unlock(user=user, address=address)
    audit.record(
        actor=admin.actor,
        action="access.unlocked",
        target=(f"user {user}" if user else f"address {address}")[:200],
    )
    return n


# -- notifications -------------------------------------------------------------------------


def retry_notifications(*, ids: list[int] | None, admin: Admin) -> int:
    return notifications.retry(ids=ids, actor=admin.actor)


# -- uploads kept between a review and its application -------------------------------------

UPLOADS_KEPT = timedelta(hours=1)


def _uploads() -> Path:
    folder = Path(settings.DATA_DIR) / "uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def keep_upload(data: bytes) -> str:
    """Keep an uploaded file (readable by cardid alone) until it is applied; returns its
    token. Uploads older than an hour are removed."""
    cutoff = time.time() - UPLOADS_KEPT.total_seconds()
    for old in _uploads().glob("*.upload"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(16)
    path = _uploads() / f"{token}.upload"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return token


def take_upload(token: str) -> bytes | None:
    """The kept upload (removed as it is read), or None when it is gone."""
    if not isinstance(token, str) or not token.replace("-", "").replace("_", "").isalnum():
        return None
    path = _uploads() / f"{token}.upload"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    path.unlink(missing_ok=True)
    return data
