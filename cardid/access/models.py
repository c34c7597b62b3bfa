"""API tokens (stored hashed) and the counters of failed credential checks.

The tables were created by the `api` app and keep their names (`db_table`): moving the
models into the core renamed nothing on disk."""

from django.db import models


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read"  # read users and numbers, job status
        LOOKUP = "lookup"  # terminals: turn a number into a user, register cards
        WRITE = "write"  # everything, including changes

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    allowed_addresses = models.JSONField(default=list)  # IPs or CIDR ranges; empty: any
    # The terminal's conversion rule. Protected: a rule in use by a token cannot be deleted
    # (a revoked token lets go of its rule when the rule is deleted).
    conversion_rule = models.ForeignKey(
        "cards.ConversionRule",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tokens",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_apitoken"

    def __str__(self) -> str:
        return self.name


class LookupCounter(models.Model):
    """Failed credential checks of one key in one minute (cardid.access.guard): the key is a
    keyed digest of the kind, the subject (an account or a number) and the client."""

    key = models.CharField(max_length=100)
    window_start = models.DateTimeField()
    misses = models.PositiveIntegerField(default=0)
    # For the lists of locks and for unlocking; never a number.
    kind = models.CharField(max_length=30, blank=True)
    account = models.CharField(max_length=150, blank=True, db_index=True)
    client = models.CharField(max_length=100, blank=True, db_index=True)

    class Meta:
        db_table = "api_lookupcounter"
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="lookup_counter_once"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.misses}"
