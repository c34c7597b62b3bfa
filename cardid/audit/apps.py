from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "cardid.audit"
    label = "audit"
    verbose_name = "Audit trail"
