"""The user portal under /user/: thin views over cardid.portal.services."""

import time
from functools import wraps

from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cardid.access import guard, oidc, passwords
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import registration
from cardid.config import services as config
from cardid.directory.models import User
from cardid.errors import CardidError
from cardid.portal import services

SESSION_KEY = "portal_user"


def _features() -> dict:
    o = config.get_many(
        "portal.view-card-number",
        "portal.change-card-number",
        "portal.change-card-number.mode",
        "portal.change-pin",
        "cards.self-registration",
    )
    return {
        "view": o["portal.view-card-number"],
        "change": o["portal.change-card-number"],
        "mode": o["portal.change-card-number.mode"],
        "pin": o["portal.change-pin"],
        "register": o["cards.self-registration"],
    }


REVEAL_KEY, REVEAL_SECONDS = "portal-reveal-until", 120


def portal_login_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        uid, opened_with = request.session.get(SESSION_KEY) or (None, "")
        user = User.objects.filter(pk=uid, enabled=True).first() if uid else None
        # A disabled user, or one whose password changed since, is logged out at once.
        if user is None or not constant_time_compare(
            passwords.session_hash(user), str(opened_with)
        ):
            request.session.pop(SESSION_KEY, None)
            return redirect("portal:login")
        request.portal_user = user
        return view(request, *args, **kwargs)

    return wrapper


def _page(request, template, **context):
    features = _features()
    context.update(
        features=features,
        user=getattr(request, "portal_user", None),
        details_on=features["change"] != "off" or features["pin"],
    )
    return render(request, f"portal/{template}", context)


def _sign_in_choices(request=None) -> dict:
    s = oidc.settings()
    choices = {"sso": s.name if s.on_for("portal") else "", "local_login": s.local_login}
    if request is not None and request.GET.get("signed-out") == "sso" and choices["sso"]:
        here = request.build_absolute_uri(reverse("portal:login"))
        choices["sign_out_there"] = oidc.end_session_url(return_to=here)
    return choices


@require_http_methods(["GET", "POST"])
def login(request):
    error, locked = "", None
    choices = _sign_in_choices(request)
    if request.method == "POST" and not choices["local_login"]:
        error = _("log-in with a password is off here; use “Sign in with %(name)s”") % {
            "name": choices["sso"]
        }
    elif request.method == "POST":
        try:
            user = services.login(
                username=request.POST.get("username", "").strip(),
                password=request.POST.get("password", ""),
                address=request.META.get("REMOTE_ADDR", ""),
            )
        except guard.Locked as e:
            error, locked = guard.login_lock_words(e), e
        except CardidError as e:
            error = str(e)
        else:
            request.session.cycle_key()  # a new session id at log-in: no fixation
            request.session[SESSION_KEY] = [user.pk, passwords.session_hash(user)]
            return redirect("portal:home")
    response = _page(
        request,
        "login.html",
        error=error,
        username=request.POST.get("username", ""),
        **choices,
    )
    if locked:
        response.status_code = 429
        response["Retry-After"] = str(locked.retry_after)
    elif request.method == "POST" and not choices["local_login"]:
        response.status_code = 400
    return response


@require_http_methods(["GET"])
def sso_start(request):
    """Off to the identity provider; back at sso_done."""
    try:
        return oidc.begin(
            request,
            door="portal",
            callback_url=request.build_absolute_uri(reverse("portal:sso-done")),
        )
    except CardidError as e:
        return _sso_failed(request, str(e), status=503)


@require_http_methods(["GET"])
def sso_done(request):
    """Back from the identity provider: the card holder it signed in, or why not."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        user = services.sign_in(oidc.finish(request, door="portal"), address=address)
    except oidc.SignInError as e:
        return _sso_failed(request, str(e), status=400)
    except CardidError as e:
        return _sso_failed(request, str(e), status=403)
    request.session.cycle_key()  # a new session id at log-in: no fixation
    request.session[SESSION_KEY] = [user.pk, passwords.session_hash(user)]
    request.session[oidc.ID_TOKEN_KEY] = True
    return redirect("portal:home")


def _sso_failed(request, error: str, *, status: int):
    response = _page(request, "sso_failed.html", error=error, **_sign_in_choices())
    response.status_code = status
    return response


@require_http_methods(["POST"])
def logout(request):
    by_sso = request.session.get(oidc.ID_TOKEN_KEY, False)
    request.session.flush()
    # The provider's own session outlives ours: the log-in page offers its sign-out.
    return redirect(reverse("portal:login") + ("?signed-out=sso" if by_sso else ""))


@portal_login_required
def home(request):
    features = _features()
    if features["view"] != "off":
        return redirect("portal:number")
    if features["change"] != "off" or features["pin"]:
        return redirect("portal:details")
    if features["register"] != "off":
        return redirect("portal:register")
    return _page(request, "home.html")


@portal_login_required
@require_http_methods(["GET", "POST"])
def number(request):
    shown = services.visible_number(request.portal_user)
    if shown is None:
        raise Http404("viewing the Card/ID number is switched off")
    slot, value = shown
    # The number is shown for a short while after the Reveal button (a POST, then a redirect,
    # so that a refresh does not ask to send a form again); never in a URL, and the page is
    # sent with no-store, so it does not sit in the browser's cache or history.
    if request.method == "POST":
        request.session[REVEAL_KEY] = time.time() + REVEAL_SECONDS
        return redirect("portal:number")
    revealed = request.session.get(REVEAL_KEY, 0) > time.time()
    return _page(request, "number.html", slot=slot, number=value, revealed=revealed)


@portal_login_required
@require_http_methods(["GET", "POST"])
def register_card(request):
    """A one-time code to type at a terminal that has just read the user's new card."""
    features = _features()
    if features["register"] == "off":
        raise Http404("self-registration is switched off")
    code = None
    if request.method == "POST":
        if set(request.POST) - {"csrfmiddlewaretoken"}:
            services.forged(user=request.portal_user, what="registration code form fields")
            return HttpResponseBadRequest("the form had fields this page does not send")
        code = registration.new_code(
            username=request.portal_user.username, actor=services.actor(request.portal_user)
        )
    return _page(
        request,
        "register.html",
        code=code,
        minutes=config.get("cards.self-registration.code-minutes"),
    )


@portal_login_required
def details(request):
    features = _features()
    if features["change"] == "off" and not features["pin"]:
        raise Http404("nothing can be changed here")
    return _page(
        request,
        "details.html",
        changes_left=max(
            0,
            config.get("portal.change-card-number.max-per-day")
            - services.changes_today(request.portal_user),
        ),
    )


ALLOWED = {
    "number": {"csrfmiddlewaretoken", "action", "number"},
    "pin": {"csrfmiddlewaretoken", "current", "new", "confirm"},
}


def _forged(request, form: str) -> str:
    extra = set(request.POST) - ALLOWED[form]
    if extra:
        services.forged(
            user=request.portal_user, what=f"{form} form with fields {', '.join(sorted(extra))}"
        )
        return (
            "the form had fields this page does not send "
            f"({', '.join(sorted(extra))}); nothing was changed"
        )
    return ""


@portal_login_required
@require_http_methods(["POST"])
def change_number(request):
    features = _features()
    if features["change"] == "off":
        services.forged(user=request.portal_user, what="number change while switched off")
        return HttpResponseBadRequest(_("changing the Card/ID number is switched off"))
    error = _forged(request, "number")
    new = None
    if not error:
        try:
            if request.POST.get("action") == "enter":
                services.enter(user=request.portal_user, number=request.POST.get("number", ""))
            else:
                services.generate(user=request.portal_user)
            new = True
        except CardidError as e:
            error = str(e)
    return _result(request, error, _("Your Card/ID number was changed.") if new else "")


@portal_login_required
@require_http_methods(["POST"])
def change_pin(request):
    error = _forged(request, "pin")
    if not error:
        new = request.POST.get("new", "")
        if new != request.POST.get("confirm", ""):
            error = _("the two new PINs differ")
        else:
            try:
                services.change_pin(
                    user=request.portal_user,
                    current=request.POST.get("current", ""),
                    new=new,
                    address=request.META.get("REMOTE_ADDR", ""),
                )
            except CardidError as e:
                error = str(e)
    return _result(request, error, "" if error else _("Your PIN was changed."))


def _result(request, error: str, done: str):
    if error:
        services.refused(user=request.portal_user, what=f"{request.path}: {error}")
    response = _page(
        request,
        "details.html",
        error=error,
        done=done,
        changes_left=max(
            0,
            config.get("portal.change-card-number.max-per-day")
            - services.changes_today(request.portal_user),
        ),
    )
    if error:
        response.status_code = 400
    return response


def csrf_failure(request, reason=""):
    """A cross-site or replayed post: refused, and counted; the first from an address in a
    while is recorded in the audit trail, the rest only counted (no flood of rows)."""
    door = "console" if request.path.startswith("/admin/") else "portal"
    address = request.META.get("REMOTE_ADDR", "")
    if guard.refusal("csrf", client=address):
        audit.record(
            actor=Actor(f"web:{address}", door),
            action=f"{door}.csrf-refused",
            target=request.path[:200],
            detail=f"{reason[:300]}; more refusals from this address in the next "
            f"{guard.REFUSAL_MINUTES} minutes are counted, not recorded one by one",
        )
    return render(request, "portal/csrf.html", {"reason": reason}, status=403)
