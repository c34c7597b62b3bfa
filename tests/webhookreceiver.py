"""A real HTTP receiver for webhooks on loopback: it checks every signature as the Standard
Webhooks specification says (with the reference library) and can answer errors first."""

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks

from tests.conftest import free_port


@dataclass
class Received:
    id: str
    body: str
    headers: dict
    verified: bool
    status: int  # what the receiver answered

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    host: str = "127.0.0.1"
    secret: str = ""
    # Status codes to answer before the ordinary 200, one per request.
    answers: list = field(default_factory=list)
    redirect_to: str = ""
    tls: tuple[str, str] | None = None  # (certificate chain file, key file)
    received: list = field(default_factory=list)
    delay: float = 0.0  # seconds to wait before answering
    big_answer: bool = False  # answer with far more than anyone should read

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    standardwebhooks.Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:  # noqa: BLE001 - any failure is "not verified"
                    verified = False
                status = receiver.answers.pop(0) if receiver.answers else 200
                if receiver.redirect_to:
                    status = 302
                receiver.received.append(
                    Received(headers.get("webhook-id", ""), body, headers, verified, status)
                )
                time.sleep(receiver.delay)
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", receiver.redirect_to)
                chunk, times = (b"x" * 65536, 1024) if receiver.big_answer else (b"ok", 1)
                self.send_header("Content-Length", str(len(chunk) * times))
                self.end_headers()
                try:
                    for _ in range(times):
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the client stopped reading, as it should

        self.port = free_port()
        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.tls else self.host
        return f"{scheme}://{host}:{self.port}/hooks/cardid"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.status == 200]
