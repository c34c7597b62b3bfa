"""cardid notifications: deliver, test, list, retry and preview Card/ID notifications."""

from cardid.commands import CardidCommand
from cardid.errors import CardidError
from cardid.notifications import services
from cardid.notifications.models import OutboxMessage
from cardid.outbound import services as outbound


class Command(CardidCommand):
    help = (
        "Card/ID notifications: `send-pending`, `test ADDRESS`, `list`, `retry`, "
        "`preview USERNAME`."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "send-pending",
            help="try every pending message now (e-mails, webhooks, directory write-back), "
            "back-off or not; exit 1 if any is still undelivered",
        )
        t = sub.add_parser(
            "test",
            help="send a test e-mail with the current SMTP settings and print the server's answer",
        )
        t.add_argument("address")
        ls = sub.add_parser("list", help="the outbox: sent, failed, pending, no address")
        ls.add_argument("--status", choices=[s.value for s in OutboxMessage.Status])
        ls.add_argument("--format", choices=["text", "json"], default="text")
        ls.add_argument("--limit", type=int, default=100)
        r = sub.add_parser("retry", help="queue failed messages again")
        r.add_argument("ids", nargs="*", type=int, help="message ids (default: every failed one)")
        p = sub.add_parser("preview", help="the notification as a user would get it")
        p.add_argument("username")
        p.add_argument("--slot", choices=["primary", "secondary"], default="primary")

    def handle(self, *args, action, **opts):
        getattr(self, "_" + action.replace("-", "_"))(**opts)

    def _send_pending(self, **_):
        # Webhooks and directory write-back go through an outbox of their own.
        flows = outbound.deliver_due(force=True, seconds=None)
        for e in flows.errors:
            self.note(e)
        if flows.sent or flows.failed or flows.retrying or flows.cancelled:
            self.stdout.write(
                f"webhooks and write-back: sent {flows.sent}, failed {flows.failed}, retrying "
                f"{flows.retrying}, cancelled {flows.cancelled}"
            )
        report = services.deliver_due(force=True)
        for e in report.errors:
            self.note(e)
        self.stdout.write(
            f"sent {report.sent}, failed {report.failed}, retrying "
            f"{report.retrying}, no address {report.no_address}, cancelled "
            f"{report.cancelled}"
        )
        problems = []
        left = services.pending_count()
        if left or report.failed:
            problems.append(
                f"{left} message(s) still pending, {report.failed} failed; "
                "`cardid notifications list` shows why"
            )
        waiting = outbound.pending_count()
        if waiting or flows.failed:
            problems.append(
                f"{waiting} webhook or write-back message(s) still pending, {flows.failed} "
                "failed; `cardid webhooks deliveries` shows why"
            )
        if problems:
            raise CardidError("; ".join(problems))

    def _test(self, address, **_):
        self.stdout.write(services.send_test(address=address, actor=self.actor))

    def _list(self, status=None, format="text", limit=100, **_):
        qs = OutboxMessage.objects.select_related("user").order_by("-id")
        if status:
            qs = qs.filter(status=status)
        rows = [
            {
                "id": m.pk,
                "user": m.user.username if m.user else None,
                "slot": m.slot,
                "reason": m.reason,
                "status": m.status,
                "attempts": m.attempts,
                "created_at": m.created_at.isoformat(),
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                "next_attempt_at": m.next_attempt_at.isoformat() if m.next_attempt_at else None,
                "error": m.last_error,
            }
            for m in qs[:limit]
        ]
        if format == "json":
            self.print_json(rows)
            return
        for r in rows:
            self.stdout.write(
                f"{r['id']}\t{r['status']}\t{r['user'] or '-'}\t{r['slot']}\t"
                f"{r['attempts']}\t{r['error']}"
            )

    def _retry(self, ids=None, **_):
        n = services.retry(ids=ids or None, actor=self.actor)
        self.note(f"{n} message(s) queued again")

    def _preview(self, username, slot="primary", **_):
        subject, body = services.preview(username=username, slot=slot)
        self.stdout.write(f"Subject: {subject}\n\n{body}")
