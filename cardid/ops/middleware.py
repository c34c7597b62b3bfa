"""While the database is unreachable, every request gets a 503 at once, in words (and a
Retry-After), instead of a server error page; it recovers by itself when the database is
back (Django's CONN_HEALTH_CHECKS reconnects)."""

import logging

from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)
MESSAGE = "the database is unreachable at the moment; try again in a few seconds"


class DatabaseAway:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError) as e:
            return self._away(request, e)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError | InterfaceError):
            return self._away(request, exception)
        return None

    def _away(self, request, error: Exception):
        log.warning("database unreachable during %s: %s", request.path, error)
        close_old_connections()
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": MESSAGE}, status=503)
        else:
            response = HttpResponse(MESSAGE + "\n", status=503, content_type="text/plain")
        response["Retry-After"] = "5"
        return response
