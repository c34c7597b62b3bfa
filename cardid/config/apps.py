from django.apps import AppConfig


class ConfigConfig(AppConfig):
    name = "cardid.config"
    label = "config"
    verbose_name = "Runtime options"
