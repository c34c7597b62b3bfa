"""Health and metrics for load balancers and monitoring (SPEC §10)."""

import ipaddress
import logging
import os
import time

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cardid import env
from cardid.access import tokens
from cardid.config import options
from cardid.config import services as config
from cardid.ops import monitoring

log = logging.getLogger(__name__)


def healthz(request):
    """The service's state, without personal data: 200 unless it is down (503)."""
    state, up = monitoring.health()
    return JsonResponse(state, status=200 if up else 503)


class Gauges:
    """The database's figures, read at each scrape."""

    def collect(self):
        f = monitoring.figures()
        yield GaugeMetricFamily("cardid_users", "Users (card holders)", value=f["users"])
        numbers = GaugeMetricFamily("cardid_numbers", "Card/ID numbers held", labels=["slot"])
        for slot, n in f["numbers"].items():
            numbers.add_metric([slot], n)
        yield numbers
        outbox = GaugeMetricFamily(
            "cardid_outbox_messages", "Outbox messages by state", labels=["state"]
        )
        for state in ("pending", "sent", "failed", "no-address", "cancelled"):
            outbox.add_metric([state], f["outbox"].get(state, 0))
        yield outbox
        flows = GaugeMetricFamily(
            "cardid_outbound_messages",
            "Webhook deliveries and directory write-backs by state",
            labels=["channel", "state"],
        )
        for channel, states in f["outbound"].items():
            for state in ("pending", "sent", "failed", "cancelled"):
                flows.add_metric([channel, state], states.get(state, 0))
        yield flows
        jobs = GaugeMetricFamily("cardid_jobs", "Jobs by state", labels=["state"])
        for state in ("queued", "running", "succeeded", "failed"):
            jobs.add_metric([state], f["jobs"].get(state, 0))
        yield jobs
        runs = CounterMetricFamily("cardid_sync_runs", "Sync runs by result", labels=["result"])
        for result in ("succeeded", "failed", "guard-stopped", "running"):
            runs.add_metric([result], f["sync_runs"].get(result, 0))
        yield runs
        yield GaugeMetricFamily(
            "cardid_guess_probability",
            "Chance that one random keypad guess hits some user's number",
            value=f["guess_probability"],
        )
        yield GaugeMetricFamily("cardid_workers", "Task workers alive", value=f["workers"])


def _allowed(request) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in env.metrics_allow():
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        try:
            tokens.authenticate(header[7:].strip(), address=str(address), need="read")
            return True
        except tokens.Denied:
            return False
    return False


def metrics(request):
    """Prometheus text format, for CARDID_METRICS_ALLOW (default: loopback) or a read token."""
    if not _allowed(request):
        return HttpResponse(
            "metrics are for the addresses in CARDID_METRICS_ALLOW, or with a read token\n",
            status=403,
            content_type="text/plain",
        )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # counters of every server process
    registry.register(Gauges())
    return HttpResponse(
        generate_latest(registry), content_type="text/plain; version=0.0.4; charset=utf-8"
    )


# Host names refused, with when each was last logged: at most one line a minute per name,
# however many requests an attacker sends (and at most this many names remembered).
_HOSTS_LOGGED: dict[str, float] = {}
_HOSTS_REMEMBERED = 1000


def bad_request(request, exception=None):
    """400 with no detail: a host name not in CARDID_ALLOWED_HOSTS is named in the log (once
    a minute per name), with the way out, not to whoever sent it."""
    if type(exception).__name__ == "DisallowedHost":
        host = (request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", ""))[:200]
        now = time.monotonic()
        if now - _HOSTS_LOGGED.get(host, -60.0) >= 60.0:
            if len(_HOSTS_LOGGED) >= _HOSTS_REMEMBERED:
                _HOSTS_LOGGED.clear()
            _HOSTS_LOGGED[host] = now
            log.warning(
                "refused requests for the host name %r: add it to CARDID_ALLOWED_HOSTS "
                "(now: %s) if people reach cardid by it (said once a minute)",
                host,
                ", ".join(settings.ALLOWED_HOSTS),
            )
    return HttpResponse("bad request\n", status=400, content_type="text/plain")


def logo(request):
    """The organisation's logo (Options › General › Branding), served by cardid itself."""
    path = config.get("branding.logo")
    kind = options.LOGO_TYPES.get(os.path.splitext(path)[1].lower()) if path else None
    if not kind or not os.path.isfile(path):
        raise Http404("no logo is set")
    response = FileResponse(open(path, "rb"), content_type=kind)  # noqa: SIM115 - closed by Django
    response["Cache-Control"] = "public, max-age=300"
    if kind == "image/svg+xml":  # an SVG may carry script: never run it
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
