"""While the database is unreachable, every request gets a 503 at once, in words (and a
Retry-After), instead of a server error page; it recovers by itself when the database is
back (Django's CONN_HEALTH_CHECKS reconnects)."""

import ipaddress
import logging

from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import HttpResponse, JsonResponse
from django.middleware.locale import LocaleMiddleware

from cardid import env

log = logging.getLogger(__name__)
MESSAGE = "the database is unreachable at the moment; try again in a few seconds"


class DatabaseAway:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError) as e:
            return away(request, e)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError | InterfaceError):
            return away(request, exception)
        return None


def away(request, error: Exception) -> HttpResponse:
    """The answer while the database is unreachable: 503 in words, with a Retry-After."""
    log.warning("database unreachable during %s: %s", request.path, error)
    close_old_connections()
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        response = HttpResponse(MESSAGE + "\n", status=503, content_type="text/plain")
    response["Retry-After"] = "5"
    return response


# The largest request body cardid reads: 1 MB (a form, an API call; XML-RPC has its own
# 1 MB), except the console's imports of numbers from a file, which may be large.
MAX_BODY = 1_000_000
MAX_UPLOAD = 50_000_000
UPLOADS = ("/admin/users/import",)


class RequestSize:
    """A body larger than cardid accepts is refused (413) from its Content-Length, before a
    byte of it is read: an unauthenticated client cannot make a server read 200 MB."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = MAX_UPLOAD if request.path.startswith(UPLOADS) else MAX_BODY
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = limit + 1
        if length > limit:
            return HttpResponse(
                f"the request is larger than cardid accepts here ({limit:,} bytes at most)\n",
                status=413,
                content_type="text/plain",
            )
        return self.get_response(request)


# Every HTML page: scripts, styles and everything else from cardid itself only (htmx and
# the pages' own script are static files; no inline script or style anywhere).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (served by cardid, nothing from a CDN) sets style attributes as it draws.
CSP_DOCS = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
PRIVATE = ("/admin/", "/user/", "/api/", "/rpc/")


class HttpSecurity:
    """Headers the pages need: a Content-Security-Policy on every HTML page; no caching of
    anything that may show a number (the console, the portal, the APIs); cookies marked
    Secure whenever the request came over HTTPS (directly, or through a proxy trusted with
    CARDID_PROXY_HTTPS)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            docs = request.path.startswith("/api/v1/docs")
            response.setdefault("Content-Security-Policy", CSP_DOCS if docs else CSP)
        if request.path.startswith(PRIVATE):
            response["Cache-Control"] = "no-store"
        if request.is_secure():
            for morsel in response.cookies.values():
                morsel["secure"] = True
        return response


def _networks(entries: list[str]) -> list:
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.warning("CARDID_TRUSTED_PROXIES: %r is not an address or network", entry)
    return found


def _within(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


class ClientAddress:
    """Behind a reverse proxy every request comes from the proxy; the guard's per-address
    counts and the /metrics allow list need the client. When the peer is a trusted proxy
    (CARDID_TRUSTED_PROXIES), REMOTE_ADDR becomes the right-most address of
    X-Forwarded-For that is not itself a trusted proxy — the one the proxy saw; what a
    client wrote further left is ignored, and so is the header from anyone else."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.trusted = trusted_networks()

    def __call__(self, request):
        request.META["REMOTE_ADDR"] = client_of(request.META, self.trusted)
        return self.get_response(request)


def trusted_networks() -> list:
    return _networks(env.trusted_proxies())


# The client of a forwarded request whose address the proxy wrote in a form that is not one
# (`unknown`, an obfuscated name, `127.000.000.001`): an address from the discard-only
# prefix (RFC 6666), which no allow list names and which is never the proxy itself.
UNKNOWN_CLIENT = "100::"


def forwarded_address(hop: str) -> str | None:
    """The address in one X-Forwarded-For entry — `1.2.3.4`, `1.2.3.4:5678`, `::1`,
    `[::1]` or `[::1]:5678` — or None when it holds none."""
    hop = hop.strip()
    if hop.startswith("["):
        host, bracket, rest = hop[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
    elif hop.count(":") == 1:
        host, _, port = hop.partition(":")
        if not port.isdigit():
            return None
    else:
        host = hop
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def client_of(meta: dict, trusted: list) -> str:
    """The client's address of a request (its WSGI environ or META), as ClientAddress says."""
    peer = meta.get("REMOTE_ADDR", "")
    if trusted and _within(peer, trusted):
        hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            address = forwarded_address(hop)
            if address is None:
                return UNKNOWN_CLIENT  # never the proxy's own address: that one is trusted
            if not _within(address, trusted):
                return address
    return peer


class Locale(LocaleMiddleware):
    """Django's LocaleMiddleware for the pages people read; the machine interfaces (the API,
    XML-RPC, health and metrics) answer the same whatever the browser's language, without
    Content-Language or Vary, as the terminals' own door does (cardid.api.terminals)."""

    MACHINE = ("/api/", "/rpc/", "/healthz", "/metrics")

    def process_request(self, request):
        if not request.path.startswith(self.MACHINE):
            super().process_request(request)

    def process_response(self, request, response):
        if request.path.startswith(self.MACHINE):
            return response
        return super().process_response(request, response)
