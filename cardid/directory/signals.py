"""What the directory announces, in the transaction of the change: users created, disabled
or deleted (event "user.created" | "user.disabled" | "user.deleted"; users: a list of
(id, username); at: the change's time). What flows out (webhooks) listens."""

from django.dispatch import Signal

users_changed = Signal()


def announce(event: str, users: list[tuple[int, str]], at=None) -> None:
    if users:
        users_changed.send(sender=event, event=event, users=users, at=at)
