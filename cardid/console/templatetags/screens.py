"""`{{ text|in_words }}`: stored messages (a job's error, a sync run's message) shown in the
screens' words: option keys become their fields' labels and pages."""

from django import template
from django.utils.translation import gettext_lazy as _

from cardid.config import screens

register = template.Library()


@register.filter
def in_words(text: str) -> str:
    return screens.in_words(str(text or ""))


# Event codes whose plain reading would mislead; the rest read as they are spelled
# ("card.generated" → "Card generated").
EVENTS = {
    "card.synced": _("Card number from the sync source"),
    "registration.code": _("Registration code issued"),
    "pin.locked-for-day": _("PIN look-ups locked for the day"),
    "portal.forged-request": _("Portal request refused (bad form token)"),
    "api.token-refused": _("API token refused"),
    "option.set": _("Option changed"),
    "secrets.rotate": _("Stored secrets re-encrypted"),
    "pin.set": _("PIN set"),
    "pin.cleared": _("PIN cleared"),
}
# The states of jobs, sync runs and messages, as a page says them (the codes stay in URLs).
STATUSES = {
    "queued": _("queued"),
    "running": _("running"),
    "succeeded": _("succeeded"),
    "failed": _("failed"),
    "guard-stopped": _("stopped by the guard"),
    "pending": _("pending"),
    "sent": _("sent"),
    "cancelled": _("cancelled"),
    "no-address": _("no address"),
}


@register.filter
def status_words(code: str) -> str:
    return STATUSES.get(str(code or ""), code)


@register.filter
def event_words(code: str) -> str:
    """An audit event code as a sentence for the logs' readers."""
    code = str(code or "")
    if code in EVENTS:
        return EVENTS[code]
    words = code.replace(".", " ").replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
