"""A real OpenID Connect provider on loopback for the sign-in tests: node's oidc-provider
(tests/oidc, installed from the npm registry by ./dev test), reached through a small proxy
that can tamper with the token endpoint's answer — an ID token for another audience, one
that has expired, one signed with a key the provider never published — to prove cardid
refuses each."""

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import free_port
from tests.environment import Missing

HERE = Path(__file__).resolve().parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "cardid", "cardid-client-secret-for-tests"


def available() -> str | None:
    if not shutil.which("node"):
        return "node is not installed (the OpenID Connect tests run node's oidc-provider)"
    if not (HERE / "node_modules" / "oidc-provider").exists():
        return "oidc-provider is not installed: cd tests/oidc && npm ci (./dev test does it)"
    return None


class Provider:
    def __init__(self, workdir: Path, accounts: dict[str, dict], redirect_base: str):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.accounts = accounts
        self.redirect_base = redirect_base
        self.port = free_port()  # the proxy's: the issuer everyone sees
        self.node_port = free_port()
        self.tamper: str = ""  # "" | "audience" | "expired" | "signature"
        self.proc = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Provider":
        conf = {
            "issuer": self.issuer,
            "port": self.node_port,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [
                f"{self.redirect_base}/user/sign-in/done",
                f"{self.redirect_base}/admin/sign-in/done",
            ],
            "post_logout_redirect_uris": [
                f"{self.redirect_base}/user/login",
                f"{self.redirect_base}/admin/login",
            ],
            "accounts": self.accounts,
            "jwk": {**self.key.as_dict(private=True), "alg": "RS256"},
        }
        path = self.dir / "provider.json"
        path.write_text(json.dumps(conf))
        self.proc = subprocess.Popen(
            ["node", str(HERE / "provider.mjs"), str(path)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.node_port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None:
                    raise Missing(
                        "oidc-provider did not start: " + self.proc.stderr.read().decode()
                    ) from None
                time.sleep(0.05)
        self._proxy = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self._proxy.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._proxy.shutdown()
        self._proxy.server_close()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    # -- the proxy ------------------------------------------------------------------------
    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                request = urllib.request.Request(
                    f"http://127.0.0.1:{provider.node_port}{self.path}",
                    data=body,
                    headers=headers,
                    method=self.command,
                )
                opener = urllib.request.build_opener(_NoRedirect)
                try:
                    r = opener.open(request, timeout=30)
                    status, answer_headers, data = r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, answer_headers, data = e.code, e.headers, e.read()
                if self.path.startswith("/token") and status == 200 and provider.tamper:
                    data = provider._tampered(data)
                self.send_response(status)
                for k, v in answer_headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        return Handler

    def _tampered(self, data: bytes) -> bytes:
        answer = json.loads(data)
        claims = jwt.decode(answer["id_token"], self.key).claims
        key = self.key
        if self.tamper == "audience":
            claims["aud"] = "another-application"
        elif self.tamper == "expired":
            claims["iat"] = int(time.time()) - 3600
            claims["exp"] = int(time.time()) - 1800  # well past any clock leeway
        elif self.tamper == "signature":
            # The same key id, another key: a token the provider never signed.
            key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        header = {"alg": "RS256", "kid": "test-key", "typ": "JWT"}
        answer["id_token"] = jwt.encode(header, claims, key)
        return json.dumps(answer).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
