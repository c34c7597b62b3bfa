"""The notification outbox: queue in the caller's transaction, render and send later."""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import formataddr

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from cardid import db, templating
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.config.options import LANGUAGE_CODES
from cardid.directory.models import User
from cardid.directory.selectors import get_user
from cardid.errors import CardidError, Invalid
from cardid.notifications import mail, transmit
from cardid.notifications.models import OutboxMessage

log = logging.getLogger(__name__)

Status = OutboxMessage.Status
BATCH = 200
# How long a sender's claim on a batch lasts; a killed sender's batch waits this long.
LEASE = timedelta(minutes=2)
# Accepted messages are recorded as sent once this many have gathered or the oldest has
# waited this long: a sender killed mid-batch resends at most these, Message-IDs unchanged.
MARK_EVERY, MARK_AFTER = 16, 0.05
MAX_ATTEMPTS = 12  # back-off 1, 2, 4 … 360 minutes: about a day and a half of trying
_ADDRESS = re.compile(r"[^@\s<>\"(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


# -- queueing ---------------------------------------------------------------------------------


def queue(*, user_ids: list[int], slot: str, reason: str, at=None) -> None:
    """Queue one card notification per user, in the caller's transaction.

    An older message for the same user and slot that is still pending is cancelled: the
    newer one will carry the current number anyway.
    """
    if not user_ids:
        return
    at = at if at is not None else db.adapt_datetime(timezone.now())
    table = OutboxMessage._meta.db_table
    db.select_in(
        f"UPDATE {table} SET status = %s, last_error = %s "
        f"WHERE status = %s AND slot = %s AND user_id IN_LIST",
        user_ids,
        before=[Status.CANCELLED, "superseded by a newer notification", Status.PENDING, slot],
        fetch=False,
    )
    db.insert_rows(
        OutboxMessage,
        (
            "user",
            "slot",
            "reason",
            "status",
            "attempts",
            "last_error",
            "lease_token",
            "sent_to",
            "created_at",
        ),
        ((uid, slot, reason, Status.PENDING, 0, "", "", "", at) for uid in user_ids),
    )


def on_numbers_issued(*, user_ids: list[int], slot: str, notify: str | None, at, **_) -> None:
    """The card ledger gave users new numbers: queue their notifications when asked to."""
    if notify:
        queue(user_ids=user_ids, slot=slot, reason=notify, at=at)


# -- rendering --------------------------------------------------------------------------------

# The options that say what a notification says, in every language.
TEXT_KEYS = (
    "notify.card.subject",
    "notify.card.body",
    "notify.default-language",
    *[f"notify.card.{part}.{code}" for code in LANGUAGE_CODES for part in ("subject", "body")],
)


# The texts an administrator writes (every TEXT_KEYS but the default language's name).
BODIES = frozenset(k for k in TEXT_KEYS if k != "notify.default-language")


def texts_for(language: str, t: dict) -> tuple[str, str, str]:
    """(language, subject, body) of the notification to a user of `language`: their
    language's texts when cardid has that language and they are not blank, else the default
    language's (a language cardid does not have is no error)."""
    default = t["notify.default-language"]
    if language in LANGUAGE_CODES and language != default:
        subject = t[f"notify.card.subject.{language}"]
        body = t[f"notify.card.body.{language}"]
        if subject or body:
            return language, subject or t["notify.card.subject"], body or t["notify.card.body"]
    return default, t["notify.card.subject"], t["notify.card.body"]


def _today() -> str:
    return timezone.localdate().isoformat()


def _fields(
    user: User, numbers: dict[str, str], slot: str, organisation: str = ""
) -> dict[str, str]:
    return {
        "organisation": organisation,
        "user": user.username,
        "full_name": user.full_name or user.username,
        "email": user.email,
        "department": user.department,
        "office": user.office,
        "card_number": numbers.get(slot, ""),
        "id_num": numbers.get("primary", ""),
        "primary_card_number": numbers.get("primary", ""),
        "secondary_card_number": numbers.get("secondary", ""),
        "date": _today(),
    }


def render_for(user: User, slot: str, subject: str, body: str) -> tuple[str, str]:
    """Subject (one line, whatever a field holds) and body for `user`, from current numbers."""
    numbers = dict(Card.objects.filter(user=user).values_list("slot", "number"))
    values = _fields(user, numbers, slot, config.get("branding.name"))
    return templating.one_line(templating.render(subject, values)), templating.render(body, values)


def preview(
    *,
    username: str,
    drafts: dict[str, str] | None = None,
    slot: str = "primary",
    language: str | None = None,
) -> tuple[str, str]:
    """The notification as `username` would get it, in `language` when given (the console's
    tab), else in the user's own. `drafts`: texts from the editor, by option key
    (notify.card.subject, notify.card.body.de …), over the saved ones; a blank one falls
    back as a blank saved one does."""
    user = get_user(username)
    texts = config.get_many(*TEXT_KEYS)
    texts.update({k: v for k, v in (drafts or {}).items() if k in BODIES})
    _, subject, body = texts_for(language if language is not None else user.language, texts)
    for text, one in ((subject, True), (body, False)):
        problem = templating.check(text, one_line=one)
        if problem:
            raise Invalid(problem)
    return render_for(user, slot, subject, body)


# -- delivery ---------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    no_address: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        for name in ("sent", "failed", "retrying", "no_address", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def pending_count() -> int:
    return OutboxMessage.objects.filter(status=Status.PENDING).count()


def deliver_due(*, force: bool = False, max_batches: int | None = None) -> DeliveryReport:
    """Send every message that is due (with `force`, also those waiting out a back-off).

    Messages are claimed in batches with a lease, sent over one SMTP connection per batch,
    and each is marked sent only after the server accepted it.
    """
    report = DeliveryReport()
    if not OutboxMessage.objects.filter(status=Status.PENDING).exists():
        return report
    settings = mail.current_settings()
    templates = config.get_many(*TEXT_KEYS, "branding.name")
    connections = config.get("smtp.connections")
    batches = 0
    while max_batches is None or batches < max_batches:
        ids = _claim(force)
        if not ids:
            break
        batches += 1
        part = _send_batch(ids, settings, templates, connections)
        report.add(part)
        if part.retrying:
            # The server is refusing or gone: what is left waits for its back-off.
            break
    return report


def _claim(force: bool) -> list[int]:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    due = OutboxMessage.objects.filter(free, status=Status.PENDING)
    if not force:
        due = due.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    ids = list(due.order_by("id").values_list("id", flat=True)[:BATCH])
    if not ids:
        return []
    token = secrets.token_hex(16)
    # The same conditions again in the UPDATE: of two senders, each row goes to one.
    OutboxMessage.objects.filter(free, id__in=ids, status=Status.PENDING).update(
        lease_until=now + LEASE, lease_token=token
    )
    return list(
        OutboxMessage.objects.filter(lease_token=token, status=Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )


def message_id(msg: OutboxMessage, sender: str) -> str:
    """The same Message-ID every time this row is sent, so a resend can be recognised."""
    domain = sender.rsplit("@", 1)[-1] or "cardid"
    return f"<cardid-outbox-{msg.pk}.{int(msg.created_at.timestamp())}@{domain}>"


def _send_batch(
    ids: list[int], settings: mail.SmtpSettings, templates: dict, connections: int
) -> DeliveryReport:
    report = DeliveryReport()
    messages = list(OutboxMessage.objects.filter(id__in=ids).select_related("user").order_by("id"))
    numbers: dict[tuple[int, str], str] = {}
    user_ids = [m.user_id for m in messages if m.user_id]
    for uid, slot, number in Card.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "slot", "number"
    ):
        numbers[(uid, slot)] = number

    def outgoing():
        for msg in messages:
            verdict = _precheck(msg, numbers)
            if verdict:
                _finish(msg, *verdict, report=report)
            else:
                yield _render(msg, numbers, settings.sender, templates)

    deferred: list[OutboxMessage] = []
    failing, lost = None, ""
    accepted: list[transmit.Outcome] = []
    since = 0.0
    for ready in transmit.send_all(outgoing(), settings, connections):
        sent = [o for o in ready if o.kind == transmit.SENT]
        if sent and not accepted:
            since = time.monotonic()
        accepted += sent
        if accepted and (len(accepted) >= MARK_EVERY or time.monotonic() - since >= MARK_AFTER):
            _mark_sent(accepted, report)
            accepted = []
        for outcome in ready:
            msg = outcome.item.key
            if outcome.kind == transmit.FAILED:
                _finish(msg, Status.FAILED, outcome.error, report=report)
            elif outcome.connection_lost and failing is None:
                failing, lost = msg, outcome.error
            elif outcome.connection_lost or outcome.kind == transmit.UNSENT:
                deferred.append(msg)
            elif outcome.kind == transmit.DEFER:  # a temporary refusal of this one message
                _retry([msg], outcome.error, report)
    _mark_sent(accepted, report)
    if failing is not None:
        # The message whose sending failed goes first: it is the one that counts an attempt.
        _retry([failing, *deferred], lost, report)
    return report


def _render(msg: OutboxMessage, numbers, sender: str, templates: dict) -> transmit.Outgoing:
    user = msg.user
    own = {s: numbers[(user.id, s)] for s in ("primary", "secondary") if (user.id, s) in numbers}
    values = _fields(user, own, msg.slot, templates["branding.name"])
    language, subject, body = texts_for(user.language, templates)
    email = EmailMessage(
        subject=templating.one_line(templating.render(subject, values)),
        body=templating.render(body, values),
        from_email=sender,
        to=[formataddr((templating.one_line(user.full_name), user.email))],
        headers={"Message-ID": message_id(msg, sender), "Content-Language": language},
    )
    # Django builds the message; it goes out over the connection of Django's backend.
    return transmit.Outgoing(msg, sender, user.email, email.message().as_bytes(linesep="\r\n"))


def _precheck(msg: OutboxMessage, numbers) -> tuple[str, str] | None:
    user = msg.user
    if user is None:
        return Status.CANCELLED, "the user was deleted before sending"
    if not user.enabled:
        return Status.CANCELLED, "the user was disabled before sending"
    if (user.id, msg.slot) not in numbers:
        return Status.CANCELLED, f"the {msg.slot} number was cleared before sending"
    if not user.email:
        return Status.NO_ADDRESS, "the user has no e-mail address"
    if not _ADDRESS.fullmatch(user.email):
        return Status.FAILED, f"the user's e-mail address {user.email[:80]!r} is not valid"
    return None


def _mark_sent(outcomes: list[transmit.Outcome], report: DeliveryReport) -> None:
    """Record the server's acceptance of these messages: one statement, its own commit."""
    if not outcomes:
        return
    table, users = OutboxMessage._meta.db_table, User._meta.db_table
    db.select_in(
        f"UPDATE {table} SET status = %s, sent_at = %s, attempts = attempts + 1, "
        f"last_error = '', lease_until = NULL, lease_token = '', "
        f"sent_to = COALESCE((SELECT email FROM {users} WHERE {users}.id = {table}.user_id), '') "
        "WHERE id IN_LIST",
        [o.item.key.pk for o in outcomes],
        before=[Status.SENT, db.adapt_datetime(timezone.now())],
        fetch=False,
    )
    report.sent += len(outcomes)


def _finish(msg: OutboxMessage, status: str, error: str, *, report: DeliveryReport) -> None:
    """A message that will not be sent (failed, no address, cancelled); sent ones are
    recorded by _mark_sent."""
    OutboxMessage.objects.filter(pk=msg.pk).update(
        status=status,
        last_error=error[:500],
        lease_until=None,
        lease_token="",
        attempts=msg.attempts + (1 if status == Status.FAILED else 0),
    )
    attr = {
        Status.FAILED: "failed",
        Status.NO_ADDRESS: "no_address",
        Status.CANCELLED: "cancelled",
    }[status]
    setattr(report, attr, getattr(report, attr) + 1)
    if status == Status.FAILED:
        report.errors.append(f"message {msg.pk}: {error}")


def _failure(msg: OutboxMessage, code: int, answer, report: DeliveryReport) -> None:
    if code >= 500:
        _finish(msg, Status.FAILED, f"{code} {_text(answer)}", report=report)
    else:
        _retry([msg], f"{code} {_text(answer)}", report)


def _retry(messages: list[OutboxMessage], error: str, report: DeliveryReport) -> None:
    """Back off: the first message counts an attempt; all wait; too many attempts fail."""
    now = timezone.now()
    first = messages[0]
    attempts = first.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        _finish(first, Status.FAILED, f"gave up after {attempts} attempts: {error}", report=report)
        messages = messages[1:]
        attempts = MAX_ATTEMPTS - 1
    delay = timedelta(minutes=min(2 ** (attempts - 1), 360))
    ids = [m.pk for m in messages]
    if ids:
        OutboxMessage.objects.filter(pk=first.pk, status=Status.PENDING).update(attempts=attempts)
        OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING).update(
            next_attempt_at=now + delay, last_error=error[:500], lease_until=None, lease_token=""
        )
        report.retrying += len(ids)
        report.errors.append(
            f"{len(ids)} message(s) will be retried in "
            f"{int(delay.total_seconds() // 60)} min: {error}"
        )
    log.warning("notification delivery deferred: %s", error)


_text = transmit.text
_describe = transmit.describe


# -- the administrator's view -----------------------------------------------------------------


@transaction.atomic
def retry(*, ids: list[int] | None = None, actor: Actor) -> int:
    """Put failed (or no-address) messages back in the queue, due now."""
    qs = OutboxMessage.objects.filter(status__in=[Status.FAILED, Status.NO_ADDRESS])
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    n = qs.update(
        status=Status.PENDING, next_attempt_at=None, attempts=0, lease_until=None, lease_token=""
    )
    audit.record(actor=actor, action="notifications.retry", detail=f"{n} message(s)")
    return n


def counts() -> dict[str, int]:
    return dict(OutboxMessage.objects.values_list("status").annotate(n=Count("id")))


# -- the test e-mail --------------------------------------------------------------------------


def send_test(*, address: str, actor: Actor) -> str:
    """Send a test e-mail with the current settings; returns the server's answer."""
    if not _ADDRESS.fullmatch(address or ""):
        raise Invalid(f"{address!r} is not an e-mail address")
    settings = mail.current_settings()
    backend = mail.Backend(settings)
    email = EmailMessage(
        subject="cardid test e-mail",
        body="This is a test e-mail from cardid. The SMTP settings work.\n",
        from_email=settings.sender,
        to=[address],
    )
    try:
        backend.open()
        conn = backend.connection
        conn.ehlo_or_helo_if_needed()
        # The server's own words for the acceptance, which Django's send does not keep.
        code, answer = conn.mail(settings.sender)
        if code != 250:
            raise CardidError(
                f"the server refused the sender {settings.sender}: {code} {_text(answer)}"
            )
        code, answer = conn.rcpt(address)
        if code not in (250, 251):
            raise CardidError(f"the server refused {address}: {code} {_text(answer)}")
        code, answer = conn.data(email.message().as_bytes(linesep="\r\n"))
        if code != 250:
            raise CardidError(f"the server refused the message: {code} {_text(answer)}")
    except (OSError, smtplib.SMTPException) as e:
        raise CardidError(f"test e-mail not sent: {_describe(e)}") from None
    finally:
        try:
            backend.close()
        except (OSError, smtplib.SMTPException):
            pass
    audit.record(actor=actor, action="notifications.test", target=address)
    return f"{code} {_text(answer)}"


def forget_sent(*, days: int) -> int:
    """Remove messages sent or cancelled more than `days` ago; failed and pending ones stay
    until someone has seen to them (housekeeping)."""
    cutoff = timezone.now() - timedelta(days=days)
    return (
        OutboxMessage.objects.filter(status__in=[Status.SENT, Status.CANCELLED])
        .filter(created_at__lt=cutoff)
        .delete()[0]
    )
