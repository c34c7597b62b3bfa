"""API tokens and the failed look-ups per token and per address."""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cardid.access import guard, tokens
from cardid.console import forms
from cardid.console.views.base import (
    admin_required,
    posted,
    render_page,
    say,
)
from cardid.errors import CardidError

# -- API tokens and failed look-ups ------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    form = forms.TokenForm(posted(request))
    new_key = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                token, new_key = tokens.create(
                    name=d["name"],
                    scope=d["scope"],
                    allow=d["allow"].replace(",", " ").split(),
                    rule=d["conversion"],
                    expires_days=d["expires_days"],
                    actor=request.admin.actor,
                )
                form = forms.TokenForm()
            except CardidError as e:
                form.add_error(e.field if e.field in form.fields else None, say(e))
        if new_key is None:
            status = 400
    misses = guard.failures_by_client("lookup")
    return render_page(
        request,
        "tokens.html",
        status=status,
        form=form,
        new_key=new_key,
        rows=tokens.listing(misses),
        addresses=[(k, n) for k, n in misses if not k.startswith("token:")],
    )


@admin_required
@require_POST
def api_token_revoke(request):
    try:
        tokens.revoke(name=request.POST.get("name", ""), actor=request.admin.actor)
        messages.success(
            request, _("Token %(name)s revoked.") % {"name": request.POST.get("name", "")}
        )
    except CardidError as e:
        messages.error(request, say(e))
    return redirect("console:tokens")
