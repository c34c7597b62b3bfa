from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "cardid.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from cardid.cards import signals
        from cardid.receivers import listen

        listen(signals.numbers_issued, "cardid.notifications.services.on_numbers_issued", "notify")
