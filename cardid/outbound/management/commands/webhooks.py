"""cardid webhooks: tell other systems about number and user changes as they happen."""

from cardid.commands import CardidCommand
from cardid.outbound import services
from cardid.outbound.models import Delivery


class Command(CardidCommand):
    help = (
        "Webhooks: `add URL` prints the new signing secret, `list`, `remove URL`, "
        "`deliveries` (the delivery log), `retry` (failed deliveries again)."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        a = sub.add_parser(
            "add",
            help="add a webhook; its secret (whsec_…) is printed alone on standard output, once",
        )
        a.add_argument("url", help="the receiver's https:// (or http://) URL")
        a.add_argument(
            "--events",
            default="",
            help="comma-separated events (default: all): " + ", ".join(services.EVENTS),
        )
        a.add_argument(
            "--include-number",
            action="store_true",
            help="send numbers in full (default: masked to their last two characters)",
        )
        ls = sub.add_parser("list", help="the webhooks, with their deliveries' state")
        ls.add_argument("--format", choices=["text", "json"], default="text")
        r = sub.add_parser("remove", help="remove a webhook (its undelivered messages go too)")
        r.add_argument("url")
        d = sub.add_parser("deliveries", help="the delivery log: webhooks and write-back")
        d.add_argument("--status", choices=[s.value for s in Delivery.Status])
        d.add_argument("--format", choices=["text", "json"], default="text")
        d.add_argument("--limit", type=int, default=100)
        t = sub.add_parser("retry", help="queue failed deliveries again (the same message ids)")
        t.add_argument("ids", nargs="*", type=int, help="delivery ids (default: every failed one)")

    def handle(self, *args, action, **opts):
        getattr(self, "_" + action)(**opts)

    def _add(self, url, events="", include_number=False, **_):
        added = services.add_webhook(
            url=url, events=events, include_number=include_number, actor=self.actor
        )
        if added.warning:
            self.note(f"warning: {added.warning}")
        self.note(
            f"webhook added for {', '.join(added.webhook.events)}; keep the secret below: "
            "it is not shown again"
        )
        self.stdout.write(added.secret + "\n")

    def _list(self, format="text", **_):
        rows = services.webhooks()
        if format == "json":
            self.print_json(
                [{**r, "created_at": r["created_at"].isoformat(timespec="seconds")} for r in rows]
            )
            return
        if not rows:
            self.note("no webhooks; `cardid webhooks add URL` adds one")
        for r in rows:
            number = "numbers in full" if r["include_number"] else "numbers masked"
            self.stdout.write(
                f"{r['url']}\t{','.join(r['events'])}\t{number}\t"
                f"sent {r['sent']}, pending {r['pending']}, failed {r['failed']}\n"
            )

    def _remove(self, url, **_):
        dropped = services.remove_webhook(url=url, actor=self.actor)
        self.note(
            "webhook removed" + (f"; {dropped} undelivered message(s) dropped" if dropped else "")
        )

    def _deliveries(self, status=None, format="text", limit=100, **_):
        rows = [
            {
                "id": d.pk,
                "to": d.webhook.url if d.webhook else "directory",
                "event": d.event,
                "user": d.user_key,
                "message_id": d.message_id,
                "status": d.status,
                "attempts": d.attempts,
                "response": d.response_code,
                "created_at": d.created_at.isoformat(timespec="seconds"),
                "next_attempt_at": (
                    d.next_attempt_at.isoformat(timespec="seconds") if d.next_attempt_at else None
                ),
                "error": d.last_error,
            }
            for d in services.deliveries(status=status)[:limit]
        ]
        if format == "json":
            self.print_json(rows)
            return
        if not rows:
            self.note(f"no {status} deliveries" if status else "no deliveries yet")
        for r in rows:
            self.stdout.write(
                f"{r['id']}\t{r['status']}\t{r['to']}\t{r['event']}\t{r['user']}\t"
                f"{r['attempts']}\t{r['error']}\n"
            )

    def _retry(self, ids=None, **_):
        n = services.retry(ids=ids or None, actor=self.actor)
        self.note(f"{n} delivery(ies) queued again")
