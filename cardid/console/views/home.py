"""Log-in, log-out and the dashboard."""

from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cardid.access import guard, passwords
from cardid.console import forms, services
from cardid.console.views.base import (
    SESSION_KEY,
    admin_required,
    posted,
    render_page,
    say,
)

# -- log-in ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login(request):
    form = forms.LoginForm(posted(request))
    error, locked = "", None
    if request.method == "POST" and form.is_valid():
        try:
            admin = services.login(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                address=request.META.get("REMOTE_ADDR", ""),
            )
        except passwords.LoginRefused as e:
            error = say(e)
        except guard.Locked as e:
            error, locked = say(e), e
        else:
            request.session.cycle_key()  # a new session id at log-in: no fixation
            request.session[SESSION_KEY] = admin.as_session()
            target = request.GET.get("next", "")
            if not target.startswith("/admin/") or target.startswith("//"):
                target = reverse("console:dashboard")
            return redirect(target)
    status = 429 if locked else 400 if request.method == "POST" else 200
    response = render_page(
        request,
        "login.html",
        status=status,
        form=form,
        error=error,
        no_admin=not services.administrators_exist(),
    )
    if locked:
        response["Retry-After"] = str(locked.retry_after)
    return response


@require_POST
def logout(request):
    request.session.flush()
    return redirect("console:login")


@admin_required
def dashboard(request):
    return render_page(request, "dashboard.html", d=services.dashboard())
