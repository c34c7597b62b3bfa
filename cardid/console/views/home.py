"""Log-in, log-out and the dashboard."""

from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cardid.access import guard, oidc, passwords
from cardid.console import forms, services
from cardid.console.views.base import (
    SESSION_KEY,
    admin_required,
    posted,
    render_page,
    say,
)
from cardid.errors import CardidError

# -- log-in ------------------------------------------------------------------------------------


def _sign_in_choices(request=None) -> dict:
    s = oidc.settings()
    choices = {"sso": s.name if s.on_for("console") else "", "local_login": s.local_login}
    if request is not None and request.GET.get("signed-out") == "sso" and choices["sso"]:
        here = request.build_absolute_uri(reverse("console:login"))
        choices["sign_out_there"] = oidc.end_session_url(return_to=here)
    return choices


@require_http_methods(["GET", "POST"])
def login(request):
    form = forms.LoginForm(posted(request))
    error, locked = "", None
    choices = _sign_in_choices(request)
    if request.method == "POST" and not choices["local_login"]:
        error = f"log-in with a password is off here; use “Sign in with {choices['sso']}”"
    elif request.method == "POST" and form.is_valid():
        try:
            admin = services.login(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                address=request.META.get("REMOTE_ADDR", ""),
            )
        except passwords.LoginRefused as e:
            error = say(e)
        except guard.Locked as e:
            error, locked = guard.login_lock_words(e), e
        else:
            return _signed_in(request, admin, target=request.GET.get("next", ""))
    status = 429 if locked else 400 if request.method == "POST" else 200
    response = render_page(
        request,
        "login.html",
        status=status,
        form=form,
        error=error,
        no_admin=not services.administrators_exist(),
        **choices,
    )
    if locked:
        response["Retry-After"] = str(locked.retry_after)
    return response


def _signed_in(request, admin, *, target: str = "", sso: bool = False):
    request.session.cycle_key()  # a new session id at log-in: no fixation
    request.session[SESSION_KEY] = admin.as_session()
    if sso:
        request.session[oidc.ID_TOKEN_KEY] = True
    if not target.startswith("/admin/") or target.startswith("//"):
        target = reverse("console:dashboard")
    return redirect(target)


@require_http_methods(["GET"])
def sso_start(request):
    """Off to the identity provider; back at sso_done."""
    try:
        return oidc.begin(
            request,
            door="console",
            callback_url=request.build_absolute_uri(reverse("console:sso-done")),
        )
    except CardidError as e:
        return _sso_failed(request, say(e), status=503)


@require_http_methods(["GET"])
def sso_done(request):
    """Back from the identity provider: an administrator, or why not."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        admin = services.sign_in(oidc.finish(request, door="console"), address=address)
    except oidc.SignInError as e:
        return _sso_failed(request, say(e), status=400)
    except CardidError as e:
        return _sso_failed(request, say(e), status=403)
    return _signed_in(request, admin, sso=True)


def _sso_failed(request, error: str, *, status: int):
    return render_page(request, "sso_failed.html", status=status, error=error, **_sign_in_choices())


@require_POST
def logout(request):
    by_sso = request.session.get(oidc.ID_TOKEN_KEY, False)
    request.session.flush()
    # The provider's own session outlives ours: the log-in page offers its sign-out.
    return redirect(reverse("console:login") + ("?signed-out=sso" if by_sso else ""))


@admin_required
def dashboard(request):
    return render_page(request, "dashboard.html", d=services.dashboard())
