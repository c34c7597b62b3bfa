"""Card/ID numbers, and the numbers that were retired."""

from django.db import models

from cardid.cards.numbers import SLOTS


class Card(models.Model):
    """One number in one slot of one user. Both slots share this table, so the UNIQUE key on
    number_key means no number is held twice: not by two users, not in both slots of one."""

    class Origin(models.TextChoices):
        GENERATED = "generated"
        IMPORTED = "imported"
        SYNCED = "synced"
        MANUAL = "manual"
        SELF_SERVICE = "self-service"
        SELF_REGISTERED = "self-registered"

    # No separate index on user: the (user, slot) key serves every look-up by user.
    user = models.ForeignKey(
        "directory.User", on_delete=models.CASCADE, related_name="cards", db_index=False
    )
    slot = models.CharField(max_length=10, choices=[(s, s) for s in SLOTS])
    number = models.CharField(max_length=64)
    number_key = models.CharField(max_length=64, unique=True)
    # Set for purely numeric numbers: what a keypad guess of that length could hit.
    keypad_length = models.PositiveSmallIntegerField(null=True)
    origin = models.CharField(max_length=20, choices=Origin.choices)
    issued_at = models.DateTimeField()
    issued_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "slot"], name="card_one_per_slot"),
            models.CheckConstraint(condition=models.Q(slot__in=SLOTS), name="card_slot_known"),
        ]

    def __str__(self) -> str:
        return f"{self.slot} card of user {self.user_id}"


# The columns of a card row in bulk inserts (cardid.db.insert_rows), in this order.
CARD_ROW = (
    "user",
    "slot",
    "number",
    "number_key",
    "keypad_length",
    "origin",
    "issued_at",
    "issued_by",
)


class RetiredNumber(models.Model):
    """A number that was replaced or cleared; never generated again within the quarantine."""

    number_hash = models.CharField(max_length=64, db_index=True)
    keypad_length = models.PositiveSmallIntegerField(null=True)
    user = models.ForeignKey(
        "directory.User", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    slot = models.CharField(max_length=10)
    retired_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["keypad_length", "retired_at"], name="retired_by_length"),
        ]

    def __str__(self) -> str:
        return f"retired {self.number_hash[:8]}"


class ConversionRule(models.Model):
    """A named chain of conversion steps, attached to terminals' tokens or a sync source."""

    name = models.CharField(max_length=100, unique=True)
    chain = models.CharField(max_length=500)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.name}: {self.chain}"


class RegistrationCode(models.Model):
    """A one-time code a user types at a terminal to register a card; stored hashed."""

    user = models.ForeignKey("directory.User", on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"registration code of user {self.user_id}"
