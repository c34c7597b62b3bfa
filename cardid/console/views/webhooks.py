"""Webhooks and the log of what flows out: webhook deliveries and directory write-back."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from cardid.console import forms
from cardid.console.tables import table
from cardid.console.views.base import admin_required, ids_of, posted, render_page, say
from cardid.errors import CardidError
from cardid.outbound import services as outbound
from cardid.outbound.models import Delivery

COLUMNS = {
    "id": (gettext_lazy("Message"), "id"),
    "created": (gettext_lazy("Queued"), "created_at"),
    "status": (gettext_lazy("Status"), "status"),
    "user": (gettext_lazy("User"), "user_key"),
}
LANES = {
    "": gettext_lazy("Everything"),
    "webhooks": gettext_lazy("Webhooks"),
    "directory": gettext_lazy("Directory write-back"),
}


@admin_required
@require_http_methods(["GET", "POST"])
def webhooks(request):
    form = forms.WebhookForm(posted(request) if "url" in request.POST else None)
    secret, status = None, 200
    if request.method == "POST" and "url" in request.POST:
        if form.is_valid():
            d = form.cleaned_data
            try:
                added = outbound.add_webhook(
                    url=d["url"],
                    events=d["events"],
                    include_number=d["include_number"],
                    actor=request.admin.actor,
                )
                secret = added.secret
                if added.warning:
                    messages.warning(request, added.warning)
                form = forms.WebhookForm()
            except CardidError as e:
                form.add_error("url", say(e))
        if secret is None:
            status = 400
    elif request.method == "POST":
        ids = None if request.POST.get("all") == "1" else ids_of(request.POST.getlist("id"))
        n = outbound.retry(ids=ids, actor=request.admin.actor)
        messages.success(
            request, _("%(n)s message(s) queued again; the worker delivers them now.") % {"n": n}
        )
        return redirect(f"{reverse('console:webhooks')}?{request.GET.urlencode()}")
    state = request.GET.get("status", "")
    lane = request.GET.get("lane", "")
    qs = outbound.deliveries(status=state, lane=lane)
    counts = outbound.counts()
    return render_page(
        request,
        "webhooks.html",
        status=status,
        form=form,
        secret=secret,
        hooks=outbound.webhooks(),
        table=table(request, qs, COLUMNS, "-id"),
        current=state,
        lane=lane,
        lanes=LANES.items(),
        statuses=[(s, sum(c.get(s, 0) for c in counts.values())) for s in Delivery.Status.values],
        query="&".join(f"{k}={v}" for k, v in (("status", state), ("lane", lane)) if v),
    )


@admin_required
@require_POST
def webhook_remove(request):
    url = request.POST.get("url", "")
    try:
        dropped = outbound.remove_webhook(url=url, actor=request.admin.actor)
        messages.success(
            request,
            _("Webhook removed; %(n)s undelivered message(s) dropped.") % {"n": dropped}
            if dropped
            else _("Webhook removed."),
        )
    except CardidError as e:
        messages.error(request, say(e))
    return redirect("console:webhooks")
