"""The audit trail: who changed which number or option, when, from which door."""

from django.db import models


class AuditEvent(models.Model):
    # No index on the time: rows are written in time order, so the id orders them as well,
    # and bulk generation writes one row per user.
    at = models.DateTimeField()
    actor = models.CharField(max_length=200)
    door = models.CharField(max_length=20)
    action = models.CharField(max_length=60)
    # The subject: a username, an option key, a group name. Not a foreign key, so the trail
    # outlives a deleted user.
    target = models.CharField(max_length=200, blank=True, db_index=True)
    # Free text; numbers appear here masked only.
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
