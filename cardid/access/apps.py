from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "cardid.access"
    label = "access"
    verbose_name = "Access: tokens, credential checks and their throttle"
