"""`gettext_noop` for the modules without Django (options, screens): it marks a text for
translation — makemessages finds it by that name — and leaves it as it is; the page that
shows the text translates it then, in the reader's language."""


def gettext_noop(text: str) -> str:
    return text
