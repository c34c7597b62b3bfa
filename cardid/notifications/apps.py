from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "cardid.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from cardid.cards import signals
        from cardid.notifications import services

        signals.numbers_issued.connect(services.on_numbers_issued, dispatch_uid="notify")
