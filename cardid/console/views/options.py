"""Options pages and their actions (test connection, sync, preview, test e-mail, rules)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cardid import templating
from cardid.access import guard, oidc
from cardid.cards import rules
from cardid.cards.models import ConversionRule
from cardid.config import services as config
from cardid.config.screens import LANGUAGE_TABS, PAGES
from cardid.console import forms, services
from cardid.console.views.base import (
    admin_required,
    render_page,
    say,
)
from cardid.errors import CardidError, NotFound
from cardid.jobs.models import Job
from cardid.notifications import services as notifications
from cardid.sync import engine
from cardid.sync import services as sync

# -- options -----------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def options_page(request, slug):
    page = PAGES.get(slug)
    if page is None:
        raise Http404("no such options page")
    if request.method == "POST":
        form = forms.OptionsForm(page, request.POST)
        if form.is_valid():
            changed = form.save(request.admin.actor)
            if form.is_valid():  # save() adds conflicts and refusals to the form
                messages.success(
                    request,
                    _("Applied: %(n)s option(s) changed.") % {"n": len(changed)}
                    if changed
                    else _("Nothing changed."),
                )
                return redirect("console:options", slug=slug)
        return _options(request, page, form, status=400)
    return _options(request, page, forms.OptionsForm(page))


def _options(request, page, form, status=200, **extra):
    extra.setdefault("preview_form", forms.PreviewForm())
    extra.setdefault("test_form", forms.TestMailForm())
    extra.setdefault("rule_form", forms.RuleForm())
    extra.setdefault("try_form", forms.TryRuleForm())
    extra.setdefault("derive_form", forms.DeriveForm())
    if page.slug == "card-numbers":
        extra["figures"] = services.policy_figures()
    if page.slug == "security":
        extra["locks"] = services.locks()
        extra["refusals"] = guard.refusals()
    if page.slug == "card-readers":
        extra["rules"] = ConversionRule.objects.order_by("name")
    if page.slug == "notifications":
        extra["placeholders"] = templating.FIELDS
        extra.update(_language_tabs(request, page))
    if page.slug == "sign-in":
        here = request.build_absolute_uri
        extra["redirect_portal"] = here(reverse("portal:sso-done"))
        extra["redirect_console"] = here(reverse("console:sso-done"))
        extra["after_logout_portal"] = here(reverse("portal:login"))
        extra["after_logout_console"] = here(reverse("console:login"))
    return render_page(request, "options.html", status=status, page=page, form=form, **extra)


def _language_tabs(request, page) -> dict:
    """The notification editor's tabs: one per language; the one shown is the chosen one,
    else the first that is not the default language (whose text is the main one)."""
    default = config.get("notify.default-language")
    wanted = request.GET.get("lang", "")
    if wanted not in LANGUAGE_TABS:
        wanted = next(code for code in LANGUAGE_TABS if code != default)
    titles = [title for title, _ in page.sections]
    return {
        "tabs": [(code, _(title)) for code, title in LANGUAGE_TABS.items()],
        "tab": wanted,
        "first_tab": titles.index(LANGUAGE_TABS["en"]),
    }


def _action_result(request, slug, template_block, status, **extra):
    """An action on an Options page (test, preview, try, derive): with htmx only the result
    box is sent back; without JavaScript the whole page, result included."""
    if request.htmx:
        return render_page(request, f"partials/{template_block}.html", status=status, **extra)
    page = PAGES[slug]
    return _options(request, page, forms.OptionsForm(page), status=status, **extra)


@admin_required
@require_POST
def unlock(request):
    """Lift a lock of the guard (an account's, or an address's)."""
    try:
        n = services.unlock(
            user=request.POST.get("user", ""),
            address=request.POST.get("address", ""),
            admin=request.admin,
        )
        messages.success(request, _("Unlocked (%(n)s counter(s) forgotten).") % {"n": n})
    except CardidError as e:
        messages.error(request, say(e))
    return redirect("console:options", slug="security")


@admin_required
@require_POST
def sync_test(request):
    try:
        result, ok = engine.test_connection(), True
    except CardidError as e:
        result, ok = say(e), False
    return _action_result(
        request, "sync", "result", 200 if ok else 400, result=result, ok=ok, box="sync-result"
    )


@admin_required
@require_POST
def sign_in_test(request):
    try:
        result, ok = oidc.check(), True
    except CardidError as e:
        result, ok = say(e), False
    return _action_result(
        request, "sign-in", "result", 200 if ok else 400, result=result, ok=ok, box="sso-result"
    )


@admin_required
@require_POST
def sync_now(request):
    """Sync now, step one: a dry run whose page shows the plan (the review); the sync itself
    starts from there (sync_apply), carrying the figures the administrator saw."""
    try:
        job = sync.start(actor=request.admin.actor, dry_run=True)
    except CardidError as e:
        messages.error(request, say(e))
        return redirect("console:options", slug="sync")
    return redirect("console:job", pk=job.pk)


@admin_required
@require_POST
def sync_apply(request, pk):
    """Sync now, step two: the sync whose plan was reviewed on dry-run job `pk`; it stops,
    changing nothing, if the directory changed since."""
    figures = sync.reviewed(get_object_or_404(Job, pk=pk))
    if figures is None:
        raise Http404("no reviewed sync plan here: run Sync now again")
    try:
        job = sync.start(actor=request.admin.actor, expect=figures)
    except CardidError as e:
        messages.error(request, say(e))
        return redirect("console:job", pk=pk)
    return redirect("console:job", pk=job.pk)


@admin_required
@require_POST
def notification_preview(request):
    form = forms.PreviewForm(request.POST)
    extra = {"preview_form": form, "box": "preview-result"}
    if form.is_valid():
        try:
            # The editor's texts when the page sends them along (htmx), else the saved ones.
            subject, body = notifications.preview(
                username=form.cleaned_data["username"],
                drafts={k: v for k, v in request.POST.items() if k in notifications.TEXT_KEYS},
                language=form.cleaned_data["language"] or None,
            )
            extra.update(ok=True, subject=subject, body=body)
        except NotFound as e:
            form.add_error("username", say(e))
        except CardidError as e:  # the subject or body in the editor
            form.add_error(None, say(e))
    status = 200 if form.is_valid() else 400
    return _action_result(request, "notifications", "preview", status, **extra)


@admin_required
@require_POST
def notification_test(request):
    form = forms.TestMailForm(request.POST)
    extra = {"test_form": form, "box": "test-result"}
    if form.is_valid():
        try:
            answer = notifications.send_test(
                address=form.cleaned_data["address"], actor=request.admin.actor
            )
            extra.update(ok=True, result=f"Sent. The server answered: {answer}")
        except CardidError as e:
            extra.update(ok=False, result=say(e))
    status = 200 if extra.get("ok") else 400
    return _action_result(request, "notifications", "testmail", status, **extra)


@admin_required
@require_POST
def rule_save(request):
    form = forms.RuleForm(request.POST)
    if form.is_valid():
        try:
            rule = rules.set_rule(
                name=form.cleaned_data["name"],
                chain=form.cleaned_data["chain"],
                actor=request.admin.actor,
            )
            messages.success(
                request,
                _("Rule %(name)s saved: %(chain)s") % {"name": rule.name, "chain": rule.chain},
            )
            return redirect("console:options", slug="card-readers")
        except CardidError as e:
            form.add_error(e.field if e.field in form.fields else None, say(e))
    page = PAGES["card-readers"]
    return _options(request, page, forms.OptionsForm(page), status=400, rule_form=form)


@admin_required
@require_POST
def rule_delete(request):
    try:
        rules.delete_rule(name=request.POST.get("name", ""), actor=request.admin.actor)
        messages.success(
            request, _("Rule %(name)s deleted.") % {"name": request.POST.get("name", "")}
        )
    except CardidError as e:
        messages.error(request, say(e))
    return redirect("console:options", slug="card-readers")


@admin_required
@require_POST
def rule_try(request):
    form = forms.TryRuleForm(request.POST)
    extra = {"try_form": form, "box": "try-result"}
    if form.is_valid():
        value = form.cleaned_data["value"]
        try:
            steps = rules.steps_of(form.cleaned_data["chain"])
        except CardidError as e:
            form.add_error("chain", say(e))
        else:
            try:
                extra.update(ok=True, result=f"{value} → {rules.apply(steps, value)}")
            except CardidError as e:
                form.add_error("value", say(e))
    status = 200 if extra.get("ok") else 400
    return _action_result(request, "card-readers", "try", status, **extra)


@admin_required
@require_POST
def rule_derive(request):
    form = forms.DeriveForm(request.POST)
    extra = {"derive_form": form, "box": "derive-result"}
    if form.is_valid():
        try:
            result = rules.derive(form.cleaned_data["pairs"], source="the samples")
            if result.chain:
                extra.update(ok=True, chain=result.chain)
            else:
                extra.update(ok=False, near=result.near_misses)
                form.add_error("pairs", rules.NO_CHAIN)
        except CardidError as e:
            form.add_error("pairs", say(e))
    status = 200 if extra.get("ok") else 400
    return _action_result(request, "card-readers", "derive", status, **extra)
