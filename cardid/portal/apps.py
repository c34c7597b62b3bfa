from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "cardid.portal"
    label = "portal"
    verbose_name = "User web portal"
