"""The people who hold numbers, and their groups."""

from django.db import models

from cardid.directory.keys import group_key, username_key

__all__ = ["Group", "Membership", "SyncLock", "SyncRun", "User", "group_key", "username_key"]


class User(models.Model):
    """A card holder from the directory (administrators are Django auth users, not these)."""

    username = models.CharField(max_length=150)
    # Username folded to lower case; UNIQUE here makes usernames case-insensitively unique.
    username_key = models.CharField(max_length=150, unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    department = models.CharField(max_length=200, blank=True)
    office = models.CharField(max_length=200, blank=True)
    # The language of the user's e-mails (SPEC §12): a primary subtag ("de"), "" for the
    # default. A database default, so that bulk inserts naming no language get "".
    language = models.CharField(max_length=16, blank=True, default="", db_default="")
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=20, default="local")
    pin_hash = models.CharField(max_length=200, blank=True)
    password_hash = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    groups = models.ManyToManyField("Group", through="Membership", related_name="users")

    class Meta:
        ordering = ["username_key"]

    def __str__(self) -> str:
        return self.username


# The columns of a user row in bulk inserts (cardid.db.insert_rows), in this order.
USER_ROW = (
    "username",
    "username_key",
    "full_name",
    "email",
    "department",
    "office",
    "enabled",
    "source",
    "pin_hash",
    "password_hash",
    "created_at",
    "updated_at",
)


class Group(models.Model):
    name = models.CharField(max_length=200)
    name_key = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=20, default="local")

    class Meta:
        ordering = ["name_key"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    group = models.ForeignKey(Group, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="membership_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id}"


class SyncRun(models.Model):
    """One run of the user/group sync, with what it did or why it stopped."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        GUARD_STOPPED = "guard-stopped"

    source = models.CharField(max_length=20)
    trigger = models.CharField(max_length=20, default="manual")  # manual | schedule
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=200)
    counts = models.JSONField(default=dict)
    errors = models.JSONField(default=list)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.status})"


class SyncLock(models.Model):
    """One row per source kind; a run takes it with one conditional UPDATE."""

    name = models.CharField(max_length=20, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    # The job of the run that holds it: the lock is free again once that job's worker
    # stops heart-beating (jobs.Job's lease), on this machine or another.
    job_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
