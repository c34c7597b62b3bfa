"""A real SMTP server (aiosmtpd) on a free loopback port, with faults to inject."""

import asyncio
import email
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> email.message.Message:
        return email.message_from_bytes(self.raw)


@dataclass
class Faults:
    """What the server does wrong; tests change these while it runs."""

    refuse_rcpt: dict[str, str] = field(default_factory=dict)  # address -> "550 ..."
    data_answers: list[str] = field(default_factory=list)  # answers to the next DATA commands
    mail_answer: str | None = None  # e.g. "421 try later" for every MAIL FROM
    drop_after: int | None = None  # accept this many more messages, then drop the connection
    delay: float = 0.0  # seconds to think before answering DATA


class Handler:
    def __init__(self):
        self.received: list[Received] = []
        self.faults = Faults()
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.faults.mail_answer:
            return self.faults.mail_answer
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.faults.refuse_rcpt.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        if self.faults.drop_after is not None:
            if self.faults.drop_after <= 0:
                server.transport.close()
                return "421 closing"  # never reaches the client: the connection is gone
            self.faults.drop_after -= 1
        if self.faults.data_answers:
            answer = self.faults.data_answers.pop(0)
            if not answer.startswith("250"):
                return answer
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                )
            )
        return "250 2.0.0 Ok: queued as cardid-test"


class MailServer:
    def __init__(self, *, tls_context=None, auth: tuple[str, str] | None = None):
        self.handler = Handler()
        self.port = free_port()
        kwargs = {}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if auth is not None:
            user, password = auth

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (
                    isinstance(auth_data, LoginPassword)
                    and auth_data.login.decode() == user
                    and auth_data.password.decode() == password
                )
                return AuthResult(success=ok, handled=False)

            kwargs.update(
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=tls_context is not None,
            )
        self.kwargs = kwargs
        self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def faults(self) -> Faults:
        return self.handler.faults

    def start(self) -> "MailServer":
        """Start (or restart after stop) on the same port, keeping what was received."""
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self.kwargs
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class SilentServer:
    """Accepts connections and never says a word (an SMTP server that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def stop(self):
        self.running = False
        for c in self.conns:
            c.close()
        self.sock.close()


def configure_smtp(port: int, **extra: str) -> None:
    """Point cardid's SMTP options at a test server on `port`."""
    from cardid.config import services as config
    from tests.factories import ADMIN

    settings = {
        "smtp.host": "127.0.0.1",
        "smtp.port": str(port),
        "smtp.from": "cardid@example.org",
        "smtp.timeout": "5",
        **extra,
    }
    for key, value in settings.items():
        config.set_value(key=key, raw=value, actor=ADMIN)
