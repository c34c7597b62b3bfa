"""Runtime options as the administrator set them; absent keys take their declared default."""

from django.db import models


class OptionValue(models.Model):
    key = models.CharField(max_length=100, primary_key=True)
    value = models.JSONField()
    # Bumped on every change, so that two administrators editing at once get a conflict.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.key
