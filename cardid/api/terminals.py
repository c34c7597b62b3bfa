"""The terminals' door: look-ups — REST `POST /api/v1/lookup` and the XML-RPC calls — are
answered straight from the WSGI server, before Django's request handling, whose sessions,
CSRF, log-ins, messages and templates they do not use. What they do use is done here the
same way (tests/api/test_terminals.py holds these answers against Django's): the host name
checked against CARDID_ALLOWED_HOSTS, the client's address behind a trusted proxy, the
security headers and no caching, 503 while the database is away, connections too old or
broken closed before and after. Anything else — a call that is not a well-formed look-up,
a host name not allowed, another method or path — goes on to Django, which answers it as it
answers everything else."""

import json
import logging
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from io import BytesIO

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.http.request import split_domain_port, validate_host

from cardid.access import guard, tokens
from cardid.api import rest, xmlrpc
from cardid.errors import CardidError
from cardid.ops import middleware as ops

log = logging.getLogger(__name__)
LOOKUP = "/api/v1/lookup"
XMLRPC = "/rpc/api/xmlrpc"
MAX_LOOKUP_BODY = 16_384  # a look-up is a few dozen bytes; anything larger goes to Django
JSON = "application/json; charset=utf-8"
XML = "text/xml; charset=utf-8"

STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
# (status, content type, body, more headers), or None: not a look-up, Django answers it.
Answer = tuple[int, str, bytes, list[tuple[str, str]]] | None


class Terminals:
    """WSGI: the terminals' calls answered here, everything else by `django`."""

    def __init__(self, django: Callable):
        self.django = django
        self.trusted = ops.trusted_networks()
        self.headers = {secure: _security_headers(secure) for secure in (False, True)}

    def __call__(self, environ: dict, start_response: Callable):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or path not in (LOOKUP, XMLRPC):
            return self.django(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = MAX_LOOKUP_BODY if path == LOOKUP else xmlrpc.MAX_BODY
        if not 0 < length <= limit or not _host_allowed(environ):
            return self.django(environ, start_response)  # its 400, 413 or answer as ever
        body = environ["wsgi.input"].read(length)
        address = ops.client_of(environ, self.trusted)
        if path == LOOKUP:
            call = partial(_rest, body, environ.get("HTTP_AUTHORIZATION", ""), address)
        else:
            call = partial(_xmlrpc, body, address)
        answer = _database(call, unreachable=partial(_unreachable, path))
        if answer is None:
            environ["wsgi.input"] = BytesIO(body)
            return self.django(environ, start_response)
        status, content_type, content, extra = answer
        start_response(
            STATUS_LINES[status],
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(content))),
                *extra,
                *self.headers[_secure(environ)],
            ],
        )
        return [content]


def _rest(body: bytes, authorization: str, address: str) -> Answer:
    try:
        call = json.loads(body)
    except ValueError:
        return None
    if not isinstance(call, dict):
        return None
    number, pin = call.get("number"), call.get("pin")
    if not isinstance(number, str) or not (pin is None or isinstance(pin, str)):
        return None
    key = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
    extra = []
    try:
        token = tokens.authenticate(key, address=address, need="lookup")
        status, answer = rest.look_up(token, number, pin)
    except tokens.Denied as e:
        status, answer = e.status, {"detail": e.message}
    except CardidError as e:
        status, answer = rest.status_of(e), {"detail": str(e)}
        if isinstance(e, guard.Locked):
            extra.append(("Retry-After", str(e.retry_after)))
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # a bug: logged whole, answered generically, as Django would
        log.exception("look-up failed")
        status, answer = 500, {"detail": "internal error; the server log has the details"}
    return status, JSON, json.dumps(answer).encode(), extra


def _xmlrpc(body: bytes, address: str) -> Answer:
    return 200, XML, xmlrpc.dispatch(xmlrpc.Api(address), body), []


def _unreachable(path: str) -> Answer:
    if path == XMLRPC:
        return 200, XML, xmlrpc.unreachable(), []
    return 503, JSON, json.dumps({"detail": ops.MESSAGE}).encode(), [("Retry-After", "5")]


def _database(answer: Callable[[], Answer], unreachable: Callable[[], Answer]) -> Answer:
    """Run `answer` as Django runs a request: the connection closed before and after when
    too old or broken. A look-up makes one query, so the connection is not health-checked
    first (that would be a second query); one that broke while idle (the database
    restarted) shows on first use, and is opened anew once. While the database is away:
    `unreachable()`."""
    conn = connections[DEFAULT_DB_ALIAS]
    outside = not conn.in_atomic_block  # a call inside a transaction (tests) keeps it
    if outside:
        conn.close_if_unusable_or_obsolete()
    reused = conn.connection is not None and outside
    conn.health_check_done = True
    try:
        try:
            return answer()
        except (OperationalError, InterfaceError):
            if not reused:
                raise
            conn.close()
            return answer()
    except (OperationalError, InterfaceError) as e:
        log.warning("database unreachable during a terminal's call: %s", e)
        return unreachable()
    finally:
        if outside:
            conn.close_if_unusable_or_obsolete()


def _host_allowed(environ: dict) -> bool:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def _secure(environ: dict) -> bool:
    if settings.SECURE_PROXY_SSL_HEADER:
        header, value = settings.SECURE_PROXY_SSL_HEADER
        return environ.get(header, "").split(",")[0].strip() == value
    return environ.get("wsgi.url_scheme") == "https"


def _security_headers(secure: bool) -> list[tuple[str, str]]:
    """What SecurityMiddleware, HttpSecurity and XFrameOptionsMiddleware add to an API
    answer, from the same settings."""
    headers = []
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("Cache-Control", "no-store"))
    headers.append(("X-Frame-Options", settings.X_FRAME_OPTIONS))
    return headers
