"""Set-based writes for bulk work: many rows in one statement, without building model objects."""

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """INSERT the rows (values in `fields` order, already adapted) in one go.

    Bulk generation writes hundreds of thousands of cards and audit rows; building a model
    instance per row costs more than the insert itself.
    """
    meta = model._meta
    qn = connection.ops.quote_name
    columns = ", ".join(qn(meta.get_field(f).column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES "
    rows = list(rows)
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY streams the rows in one command: no per-row round trips and no client-side
            # parsing of thousands of placeholders.
            # The raw driver cursor: wrap its errors into Django's (IntegrityError etc.).
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        # In-process SQLite: executemany reuses one prepared statement, the fastest way.
        cursor.executemany(head + one, rows)


def select_in(
    sql: str, values: Sequence, before: Sequence = (), after: Sequence = (), fetch: bool = True
) -> list[tuple]:
    """Run `sql` in which `IN_LIST` stands for "is one of `values`"; `before` and `after` are
    the parameters of the placeholders before and after it.

    Django builds a lookup object per value of an `__in` filter; at thousands of values per
    query in bulk generation that costs more than the query itself.
    """
    values = list(values)
    if not values:
        return []
    if connection.vendor == "postgresql":
        sql, args = sql.replace("IN_LIST", "= ANY(%s)"), [*before, values, *after]
    else:
        sql = sql.replace("IN_LIST", "IN (" + ", ".join(["%s"] * len(values)) + ")")
        args = [*before, *values, *after]
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall() if fetch else []


def adapt_datetime(value: datetime):
    """A datetime as this database's driver wants it in a raw statement."""
    return connection.ops.adapt_datetimefield_value(value)


def read_datetime(value) -> datetime:
    """A datetime column read by a raw statement, as an aware datetime (SQLite gives text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


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


def fetch_one(sql: str, params: Sequence = ()) -> tuple | None:
    """One row of a hand-written query: the look-up path skips the ORM's query building,
    and, unless queries are being logged (tests, DEBUG), Django's cursor wrappers too — on
    the driver's own cursor, with Django's connection checks and error types."""
    conn = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` looks it up at each use
    if conn.queries_logged:
        with conn.cursor() as cursor:
            cursor.execute(sql, list(params))
            return cursor.fetchone()
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_no_broken_transaction()
    sqlite = conn.vendor == "sqlite"
    with conn.wrap_database_errors:
        # SQLite's driver cursor (Django's wrapper rewrites each statement's placeholders).
        # On PostgreSQL a cursor that binds on the server, so that psycopg prepares a
        # statement run often (its fifth run on a connection on): the server parses and
        # plans a terminal's look-up once, not at every swipe.
        cursor = conn.connection.cursor() if sqlite else _server_cursor(conn.connection)
        try:
            cursor.execute(_qmarks(sql) if sqlite else sql, params)
            return cursor.fetchone()
        finally:
            cursor.close()


def _server_cursor(raw):
    # psycopg is imported here, not at start-up: on PostgreSQL Django's backend has loaded
    # it already; on SQLite it is never needed.
    from psycopg import Cursor

    return Cursor(raw)


@functools.lru_cache(maxsize=256)
def _qmarks(sql: str) -> str:
    """`sql` with SQLite's placeholders (the hand-written statements hold no other %)."""
    return sql.replace("%s", "?")
