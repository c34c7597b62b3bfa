"""The audit trail: who changed which number or option, when, from which door."""

from django.db import models


class AuditEvent(models.Model):
    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=200)
    door = models.CharField(max_length=20)
    action = models.CharField(max_length=60)
    # The subject: a username, an option key, a group name. Not a foreign key, so the trail
    # outlives a deleted user.
    target = models.CharField(max_length=200, blank=True, db_index=True)
    # Free text; numbers appear here masked only.
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
