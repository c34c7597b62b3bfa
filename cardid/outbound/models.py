"""What flows out of cardid: webhooks, and the outbox of deliveries to them and to the
directory (write-back), queued in the transaction of the change they report."""

from urllib.parse import urlsplit

from django.db import models


class Webhook(models.Model):
    url = models.CharField(max_length=2000, unique=True)
    events = models.JSONField(default=list)  # the event types it receives
    include_number = models.BooleanField(default=False)
    secret = models.TextField()  # "whsec_…", sealed (cardid.secretbox)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    @property
    def host(self) -> str:
        """The receiver's host (and port), for lists where the whole URL is too long."""
        return urlsplit(self.url).netloc


class Delivery(models.Model):
    """One message to deliver: a webhook event, or a write-back of a user's numbers."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        CANCELLED = "cancelled"

    DIRECTORY = "directory"  # the lane of write-back; a webhook's is "webhook:<id>"

    lane = models.CharField(max_length=40)
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(
        "directory.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Messages for one user in one lane go out in the order they were queued; the key
    # outlives a deleted user.
    user_key = models.CharField(max_length=150)
    event = models.CharField(max_length=30)
    message_id = models.CharField(max_length=40, unique=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_code = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["lane", "user_key", "status"], name="delivery_lane"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.event}, {self.status})"

    @property
    def is_write_back(self) -> bool:
        return self.lane == self.DIRECTORY
