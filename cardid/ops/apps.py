from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "cardid.ops"
    label = "ops"
    verbose_name = "Operations"
