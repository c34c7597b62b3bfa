from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "cardid.notifications"
    label = "notifications"
    verbose_name = "Notifications"
