"""Set-based writes for bulk work: many rows in one statement, without building model objects."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection, models


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """INSERT the rows (values in `fields` order, already adapted) with one executemany.

    Bulk generation writes hundreds of thousands of cards and audit rows; building a model
    instance per row costs more than the insert itself.
    """
    meta = model._meta
    qn = connection.ops.quote_name
    columns = ", ".join(qn(meta.get_field(f).column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({marks})"
    rows = list(rows)
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def adapt_datetime(value: datetime):
    """A datetime as this database's driver wants it in a raw statement."""
    return connection.ops.adapt_datetimefield_value(value)


def chunked(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def is_transient(error: Exception) -> bool:
    """A deadlock, serialization failure or busy database: the same work may simply be retried."""
    cause = error.__cause__
    name = type(cause).__name__ if cause is not None else ""
    text = str(error).lower()
    return name in ("DeadlockDetected", "SerializationFailure", "LockNotAvailable") or (
        "database is locked" in text or "deadlock" in text
    )
