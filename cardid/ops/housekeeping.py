"""Housekeeping (SPEC §11): what each app keeps no longer than it must. Run by every worker
now and then; each step is an idempotent delete, so several workers doing it is harmless."""

from cardid.access import guard
from cardid.audit import services as audit
from cardid.cards import registration
from cardid.config import services as config
from cardid.jobs import services as jobs
from cardid.notifications import services as notifications
from cardid.outbound import services as outbound


def clean() -> dict[str, int]:
    """Remove expired counters and registration codes, sent notifications and finished jobs
    older than housekeeping.keep-days, and audit events older than audit.keep-days when it
    is set (-1 keeps them for ever); returns how many of each went."""
    o = config.get_many("housekeeping.keep-days", "audit.keep-days")
    gone = {
        "counters": guard.forget_expired(),
        "registration codes": registration.forget_expired(),
        "notifications": notifications.forget_sent(days=o["housekeeping.keep-days"]),
        "outbound messages": outbound.forget_delivered(days=o["housekeeping.keep-days"]),
        "jobs": jobs.forget_finished(days=o["housekeeping.keep-days"]),
    }
    if o["audit.keep-days"] >= 0:
        gone["audit events"] = audit.forget_older(days=o["audit.keep-days"])
    return gone
