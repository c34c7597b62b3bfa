"""`{{ text|in_words }}`: stored messages (a job's error, a sync run's message) shown in the
screens' words: option keys become their fields' labels and pages."""

from django import template

from cardid.config import screens

register = template.Library()


@register.filter
def in_words(text: str) -> str:
    return screens.in_words(str(text or ""))


# Event codes whose plain reading would mislead; the rest read as they are spelled
# ("card.generated" → "Card generated").
EVENTS = {
    "card.synced": "Card number from the sync source",
    "registration.code": "Registration code issued",
    "pin.locked-for-day": "PIN look-ups locked for the day",
    "portal.forged-request": "Portal request refused (bad form token)",
    "api.token-refused": "API token refused",
    "option.set": "Option changed",
    "secrets.rotate": "Stored secrets re-encrypted",
    "pin.set": "PIN set",
    "pin.cleared": "PIN cleared",
}


@register.filter
def event_words(code: str) -> str:
    """An audit event code as a sentence for the logs' readers."""
    code = str(code or "")
    if code in EVENTS:
        return EVENTS[code]
    words = code.replace(".", " ").replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
