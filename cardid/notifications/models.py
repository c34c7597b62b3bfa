"""The outbox: one row per notification to send, rendered only when it is sent."""

from django.db import models

from cardid.cards.models import NotifyReason


class OutboxMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        NO_ADDRESS = "no-address"
        CANCELLED = "cancelled"

    Reason = NotifyReason

    user = models.ForeignKey(
        "directory.User", null=True, on_delete=models.SET_NULL, related_name="outbox"
    )
    slot = models.CharField(max_length=10)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A sender claims a batch for a while; a sender that dies lets its claim run out.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_to = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"outbox {self.pk} ({self.status})"
