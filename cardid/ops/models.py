"""What operations watch: the task workers that are alive."""

from django.db import models


class WorkerBeat(models.Model):
    """A task worker's last sign of life (its periodic tick); /healthz, `cardid info` and
    `cardid check` read it."""

    name = models.CharField(max_length=200, primary_key=True)  # host and process
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
