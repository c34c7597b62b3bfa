"""Sending rendered messages over a few SMTP connections at once, without touching the
database: the caller renders, hands messages over, and records each outcome itself."""

from __future__ import annotations

import queue
import smtplib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cardid.notifications import mail

SENT, FAILED, DEFER, UNSENT = "sent", "failed", "defer", "unsent"
TICK = 0.01


@dataclass
class Outgoing:
    key: Any  # the caller's handle (an outbox row)
    sender: str
    recipient: str
    data: bytes


@dataclass
class Outcome:
    item: Outgoing
    kind: str  # SENT | FAILED (permanent, 5xx) | DEFER (temporary) | UNSENT (not tried)
    error: str = ""
    connection_lost: bool = False  # DEFER because the connection failed, not the message


def text(answer) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


def describe(e: Exception) -> str:
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return f"login refused: {e.smtp_code} {text(e.smtp_error)}"
    if isinstance(e, TimeoutError) or "timed out" in str(e):
        return "the SMTP server did not answer in time"
    if isinstance(e, ConnectionRefusedError):
        return "the SMTP server refused the connection (is it running?)"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def send_all(
    items: Iterator[Outgoing], settings: mail.SmtpSettings, connections: int
) -> Iterator[Outcome]:
    """Send `items` over up to `connections` SMTP connections; yield each outcome as it comes.

    The SMTP server's replies take most of the time; while a connection waits for one, the
    caller renders the next message and records the last outcome. Once any connection
    fails, nothing more is sent: the rest comes back UNSENT.
    """
    work: queue.Queue[Outgoing | None] = queue.Queue(maxsize=connections * 4)
    results: queue.Queue[Outcome | None] = queue.Queue()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_connection, args=(settings, work, results, stop), daemon=True)
        for _ in range(connections)
    ]
    for t in threads:
        t.start()
    in_flight = 0
    for item in items:
        if stop.is_set():
            yield [Outcome(item, UNSENT)]
            continue
        while True:
            try:
                work.put(item, timeout=TICK)
                break
            except queue.Full:
                yield []  # waiting for a connection: the caller may use the time
        in_flight += 1
        ready = _ready(results)  # what is already done, without waiting
        in_flight -= len(ready)
        if ready:
            yield ready
    for _ in threads:
        work.put(None)
    while in_flight:
        try:
            first = results.get(timeout=TICK)
        except queue.Empty:
            yield []
            continue
        ready = [first, *_ready(results)]
        in_flight -= len(ready)
        yield ready
    for t in threads:
        t.join()


def _ready(results: queue.Queue) -> list[Outcome]:
    ready = []
    while True:
        try:
            ready.append(results.get_nowait())
        except queue.Empty:
            return ready


def _connection(settings, work: queue.Queue, results: queue.Queue, stop: threading.Event):
    backend = mail.Backend(settings)
    opened = False
    try:
        while (item := work.get()) is not None:
            if stop.is_set():
                results.put(Outcome(item, UNSENT))
                continue
            results.put(_send_one(backend, item, opened, stop))
            opened = backend.connection is not None
    finally:
        try:
            backend.close()
        except (OSError, smtplib.SMTPException):
            pass


def _send_one(
    backend: mail.Backend, item: Outgoing, opened: bool, stop: threading.Event
) -> Outcome:
    try:
        if not opened:
            backend.open()
        backend.connection.sendmail(item.sender, [item.recipient], item.data)
    except smtplib.SMTPRecipientsRefused as e:
        code, answer = next(iter(e.recipients.values()))
        kind = FAILED if code >= 500 else DEFER
        return Outcome(item, kind, f"{code} {text(answer)}")
    except smtplib.SMTPResponseException as e:
        if e.smtp_code >= 500 and not isinstance(e, smtplib.SMTPAuthenticationError):
            return Outcome(item, FAILED, f"{e.smtp_code} {text(e.smtp_error)}")
        # 421 and friends, or a refused login: this connection is done for now.
        stop.set()
        error = (
            describe(e)
            if isinstance(e, smtplib.SMTPAuthenticationError)
            else f"{e.smtp_code} {text(e.smtp_error)}"
        )
        return Outcome(item, DEFER, error, connection_lost=True)
    except (OSError, smtplib.SMTPException) as e:
        # Refused, timed out, dropped, TLS refused.
        stop.set()
        return Outcome(item, DEFER, describe(e), connection_lost=True)
    return Outcome(item, SENT)
