"""The terminals' door: a look-up — REST `POST /api/v1/lookup` and every XML-RPC call — is
answered here, before the rest of the middleware and the URL routing, which it does not use
(sessions, CSRF, log-ins, messages, htmx). It runs after the middleware it does use: the
client's address behind a trusted proxy, 503 while the database is away, the security
headers. A REST call that is not a well-formed look-up goes on to django-ninja, which
answers it as it answers every other call."""

import json

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from cardid.access import guard, tokens
from cardid.api import rest, xmlrpc
from cardid.errors import CardidError
from cardid.ops.middleware import away

LOOKUP = "/api/v1/lookup"
XMLRPC = "/rpc/api/xmlrpc"


class TerminalDoor:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST":
            try:
                if request.path_info == LOOKUP:
                    response = rest_lookup(request)
                    if response is not None:
                        return response
                elif request.path_info == XMLRPC:
                    return xmlrpc.endpoint(request)
            except (OperationalError, InterfaceError) as e:
                return away(request, e)  # as for every other request (cardid.ops.middleware)
        return self.get_response(request)


def rest_lookup(request) -> HttpResponse | None:
    """The answer to a well-formed REST look-up, or None to let django-ninja answer."""
    try:
        body = json.loads(request.body)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    number, pin = body.get("number"), body.get("pin")
    if not isinstance(number, str) or not (pin is None or isinstance(pin, str)):
        return None
    header = request.META.get("HTTP_AUTHORIZATION", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else ""
    try:
        token = tokens.authenticate(key, address=rest.client_address(request), need="lookup")
        status, answer = rest.look_up(token, number, pin)
    except tokens.Denied as e:
        status, answer = e.status, {"detail": e.message}
    except CardidError as e:
        response = _json(rest.status_of(e), {"detail": str(e)})
        if isinstance(e, guard.Locked):
            response["Retry-After"] = str(e.retry_after)
        return response
    return _json(status, answer)


def _json(status: int, answer: dict) -> HttpResponse:
    return HttpResponse(
        json.dumps(answer), status=status, content_type="application/json; charset=utf-8"
    )
