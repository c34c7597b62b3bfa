"""`{{ text|in_words }}`: stored messages (a job's error, a sync run's message) shown in the
screens' words: option keys become their fields' labels and pages."""

from django import template

from cardid.config import screens

register = template.Library()


@register.filter
def in_words(text: str) -> str:
    return screens.in_words(str(text or ""))
