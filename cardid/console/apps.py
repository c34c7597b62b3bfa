from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "cardid.console"
    label = "console"
    verbose_name = "administrator's console"
