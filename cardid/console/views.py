"""The administrator's console under /admin/: thin views over the services."""

import csv
from functools import wraps

from django.contrib import messages
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cardid.api import protection, tokens
from cardid.audit import selectors as audit_selectors
from cardid.audit import services as audit
from cardid.audit.models import AuditEvent
from cardid.cards import batches, rules
from cardid.cards import jobs as card_jobs
from cardid.cards import selectors as card_selectors
from cardid.cards import services as cards
from cardid.cards.models import ConversionRule
from cardid.console import forms, services
from cardid.console.pages import PAGES
from cardid.console.tables import table
from cardid.directory.models import Group, SyncRun, User
from cardid.directory.sync import engine
from cardid.errors import CardidError, NotFound
from cardid.jobs.models import Job
from cardid.notifications import services as notifications
from cardid.notifications import templating
from cardid.notifications.models import OutboxMessage

SESSION_KEY = "console_admin"
SEARCH_KEY = "console_user_search"


def admin_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        admin = services.from_session(request.session.get(SESSION_KEY))
        if admin is None:
            request.session.pop(SESSION_KEY, None)
            return redirect(f"{reverse('console:login')}?next={request.path}")
        request.admin = admin
        return view(request, *args, **kwargs)

    return wrapper


def _posted(request):
    """The data to bind a form to: the POST even when it is empty (an empty post is checked
    and refused, not shown as a fresh form)."""
    return request.POST if request.method == "POST" else None


def _page(request, template, status=200, **context):
    context.setdefault("admin", getattr(request, "admin", None))
    return render(request, f"console/{template}", context, status=status)


# -- log-in ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login(request):
    form = forms.LoginForm(_posted(request))
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            admin = services.login(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                address=request.META.get("REMOTE_ADDR", ""),
            )
        except protection.LoginRefused as e:
            error = str(e)
        else:
            request.session.cycle_key()  # a new session id at log-in: no fixation
            request.session[SESSION_KEY] = admin.as_session()
            target = request.GET.get("next", "")
            if not target.startswith("/admin/") or target.startswith("//"):
                target = reverse("console:dashboard")
            return redirect(target)
    status = 400 if request.method == "POST" else 200
    return _page(request, "login.html", status=status, form=form, error=error)


@require_POST
def logout(request):
    request.session.flush()
    return redirect("console:login")


@admin_required
def dashboard(request):
    return _page(request, "dashboard.html", d=services.dashboard())


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
                    f"Saved: {len(changed)} option(s) changed." if changed else "Nothing changed.",
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
    if page.slug == "card-readers":
        extra["rules"] = ConversionRule.objects.order_by("name")
    if page.slug == "notifications":
        extra["placeholders"] = templating.FIELDS
    return _page(request, "options.html", status=status, page=page, form=form, **extra)


def _action_result(request, slug, template_block, status, **extra):
    """An action on an Options page (test, preview, try, derive): with htmx only the result
    box is sent back; without JavaScript the whole page, result included."""
    if request.htmx:
        return _page(request, f"partials/{template_block}.html", status=status, **extra)
    page = PAGES[slug]
    return _options(request, page, forms.OptionsForm(page), status=status, **extra)


@admin_required
@require_POST
def sync_test(request):
    try:
        result, ok = engine.test_connection(), True
    except CardidError as e:
        result, ok = str(e), False
    return _action_result(
        request, "sync", "result", 200 if ok else 400, result=result, ok=ok, box="sync-result"
    )


@admin_required
@require_POST
def sync_now(request):
    try:
        job = services.sync_now(admin=request.admin, dry_run=request.POST.get("dry_run") == "1")
    except CardidError as e:
        messages.error(request, str(e))
        return redirect("console:options", slug="sync")
    return redirect("console:job", pk=job.pk)


@admin_required
@require_POST
def notification_preview(request):
    form = forms.PreviewForm(request.POST)
    extra = {"preview_form": form, "box": "preview-result"}
    if form.is_valid():
        try:
            # The editor's text when the page sends it along (htmx), else the saved text.
            subject, body = notifications.preview(
                username=form.cleaned_data["username"],
                subject=request.POST.get("notify.card.subject"),
                body=request.POST.get("notify.card.body"),
            )
            extra.update(ok=True, subject=subject, body=body)
        except NotFound as e:
            form.add_error("username", str(e))
        except CardidError as e:  # the subject or body in the editor
            form.add_error(None, str(e))
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
            extra.update(ok=False, result=str(e))
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
            messages.success(request, f"Rule {rule.name} saved: {rule.chain}")
            return redirect("console:options", slug="card-readers")
        except CardidError as e:
            form.add_error("name" if str(e).startswith("a rule name") else "chain", str(e))
    page = PAGES["card-readers"]
    return _options(request, page, forms.OptionsForm(page), status=400, rule_form=form)


@admin_required
@require_POST
def rule_delete(request):
    try:
        rules.delete_rule(name=request.POST.get("name", ""), actor=request.admin.actor)
        messages.success(request, f"Rule {request.POST.get('name', '')} deleted.")
    except CardidError as e:
        messages.error(request, str(e))
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
            form.add_error("chain", str(e))
        else:
            try:
                extra.update(ok=True, result=f"{value} → {rules.apply(steps, value)}")
            except CardidError as e:
                form.add_error("value", str(e))
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
            form.add_error("pairs", str(e))
    status = 200 if extra.get("ok") else 400
    return _action_result(request, "card-readers", "derive", status, **extra)


# -- users -------------------------------------------------------------------------------------

USER_COLUMNS = {
    "username": ("Username", "username_key"),
    "name": ("Full name", "full_name"),
    "department": ("Department", "department"),
    "source": ("Source", "source"),
}


@admin_required
@require_http_methods(["GET", "POST"])
def users(request):
    # The search travels in the session, never in the URL: it may be a Card/ID number.
    if request.method == "POST":
        form = forms.SearchForm(request.POST)
        if form.is_valid():
            request.session[SEARCH_KEY] = form.cleaned_data["q"].strip()
            return redirect("console:users")
        return _users(request, form, status=400)
    return _users(request, forms.SearchForm(initial={"q": request.session.get(SEARCH_KEY, "")}))


def _users(request, form, status=200, print_form=None):
    query = request.session.get(SEARCH_KEY, "")
    qs, holder = services.search_users(query)
    t = table(request, qs, USER_COLUMNS, "username")
    numbers = card_selectors.numbers_of([u.pk for u in t.page])
    rows = [(u, numbers.get(u.pk, {})) for u in t.page]
    return _page(
        request,
        "users.html",
        status=status,
        form=form,
        query=query,
        holder=holder,
        table=t,
        rows=rows,
        print_form=print_form or forms.PrintForm(),
    )


@admin_required
@require_POST
def users_print(request):
    form = forms.PrintForm(request.POST)
    chosen = request.POST.getlist("username")
    if form.is_valid():
        try:
            target, _ = batches.resolve(kind="users", usernames="\n".join(chosen))
            job = _print(request, form, target)
            return redirect("console:job", pk=job.pk)
        except batches.FieldProblem as e:
            form.add_error(e.field if e.field in form.fields else None, str(e))
    if not chosen:
        form.errors.pop("__all__", None)
        form.add_error(None, "tick the users whose cards you want to print")
    return _users(
        request, forms.SearchForm(initial={"q": request.session.get(SEARCH_KEY, "")}), 400, form
    )


def _print(request, form, target):
    return batches.print_cards(
        target=target,
        slot=form.cleaned_data["slot"],
        paper=form.cleaned_data["paper"],
        with_qr=form.cleaned_data["qr"],
        actor=request.admin.actor,
    )


@admin_required
@require_http_methods(["GET"])
def user_detail(request, pk):
    return _user_page(request, get_object_or_404(User, pk=pk))


def _user_page(request, user, status=200, **forms_in):
    holdings = card_selectors.cards_of(user)
    numbers_form = forms_in.get("numbers_form") or forms.NumbersForm(
        initial={s: c.number for s, c in holdings.items()}
    )
    return _page(
        request,
        "user.html",
        status=status,
        user_=user,
        cards=holdings,
        groups=user.groups.order_by("name_key"),
        history=audit_selectors.history(user.username),
        numbers_form=numbers_form,
        generate_form=forms_in.get("generate_form") or forms.GenerateForm(),
        pin_form=forms_in.get("pin_form") or forms.PinForm(),
    )


@admin_required
@require_POST
def user_numbers(request, pk):
    user = get_object_or_404(User, pk=pk)
    form = forms.NumbersForm(request.POST)
    if form.is_valid():
        try:
            cards.change_numbers(
                user=user,
                changes={s: form.cleaned_data[s].strip() or None for s in ("primary", "secondary")},
                actor=request.admin.actor,
            )
            messages.success(request, "Card/ID numbers saved.")
            return redirect("console:user", pk=pk)
        except CardidError as e:
            form.add_error(_field_at_fault(form, str(e)), str(e))
    return _user_page(request, user, 400, numbers_form=form)


def _field_at_fault(form, message: str) -> str | None:
    """The slot whose value (or name) the service's message mentions, else the whole form."""
    for slot in ("primary", "secondary"):
        value = form.cleaned_data.get(slot, "").strip()
        if value and value in message:
            return slot
    for slot in ("secondary", "primary"):
        if slot in message:
            return slot
    return None


@admin_required
@require_POST
def user_generate(request, pk):
    user = get_object_or_404(User, pk=pk)
    form = forms.GenerateForm(request.POST)
    if form.is_valid():
        slot = form.cleaned_data["slot"]
        try:
            result = cards.generate(
                selection=cards.Selection(usernames=[user.username]),
                slot=slot,
                replace=True,
                actor=request.admin.actor,
                notify=form.cleaned_data["notify"],
            )
            if result.issued == 1:
                messages.success(request, f"A new random {slot} number was issued.")
                return redirect("console:user", pk=pk)
            form.add_error("slot", "; ".join(result.messages) or "no number could be issued")
        except CardidError as e:
            form.add_error("slot", str(e))
    return _user_page(request, user, 400, generate_form=form)


@admin_required
@require_POST
def user_clear(request, pk):
    user = get_object_or_404(User, pk=pk)
    slot = request.POST.get("slot", "")
    try:
        if cards.clear_number(username=user.username, slot=slot, actor=request.admin.actor):
            messages.success(request, f"The {slot} number was cleared.")
        else:
            messages.info(request, f"There was no {slot} number to clear.")
    except CardidError as e:
        messages.error(request, str(e))
    return redirect("console:user", pk=pk)


@admin_required
@require_POST
def user_pin(request, pk):
    user = get_object_or_404(User, pk=pk)
    form = forms.PinForm(request.POST)
    remove = request.POST.get("action") == "remove"
    if form.is_valid():
        pin = form.cleaned_data["pin"]
        if not remove and not pin:
            form.add_error("pin", "type the new PIN, or press Remove PIN")
        else:
            try:
                cards.set_pin(
                    username=user.username, pin=None if remove else pin, actor=request.admin.actor
                )
                messages.success(request, "The PIN was removed." if remove else "The PIN was set.")
                return redirect("console:user", pk=pk)
            except CardidError as e:
                form.add_error("pin", str(e))
    return _user_page(request, user, 400, pin_form=form)


@admin_required
@require_http_methods(["GET", "POST"])
def users_import(request):
    """Card/ID numbers from a file: all or nothing, every problem listed with its line."""
    form = forms.ImportForm(_posted(request), request.FILES or None)
    result = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                result = cards.import_numbers(
                    data=form.cleaned_data["file"].read(),
                    actor=request.admin.actor,
                    dry_run=form.cleaned_data["dry_run"],
                )
            except CardidError as e:
                form.add_error("file", str(e))
        if result is None or result.errors:
            status = 400
    return _page(request, "import.html", status=status, form=form, result=result)


@admin_required
def users_export(request):
    """Every user's numbers as CSV (the format `cardid export-numbers` writes)."""
    audit.record(actor=request.admin.actor, action="numbers.exported", detail="all users")
    return _csv_download(
        "cardid-numbers.csv", ["username", "primary", "secondary"], cards.export_rows()
    )


# -- API tokens and failed look-ups ------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    names = list(ConversionRule.objects.order_by("name").values_list("name", flat=True))
    form = forms.TokenForm(_posted(request), rule_names=names)
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
                    conversion=d["conversion"],
                    expires_days=d["expires_days"],
                    actor=request.admin.actor,
                )
                form = forms.TokenForm(rule_names=names)
            except CardidError as e:
                field = "allow" if "IP address" in str(e) else "name"
                form.add_error("conversion" if "rule" in str(e) else field, str(e))
        if new_key is None:
            status = 400
    misses = protection.failed_lookups()
    return _page(
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
        messages.success(request, f"Token {request.POST.get('name', '')} revoked.")
    except CardidError as e:
        messages.error(request, str(e))
    return redirect("console:tokens")


# -- groups and Bulk User Actions ------------------------------------------------------------

GROUP_COLUMNS = {"name": ("Group", "name_key"), "members": ("Members", "member_count")}


@admin_required
def groups(request):
    from cardid.directory import selectors

    return _page(
        request, "groups.html", table=table(request, selectors.list_groups(), GROUP_COLUMNS, "name")
    )


@admin_required
@require_http_methods(["GET", "POST"])
def group_detail(request, pk):
    group = get_object_or_404(Group, pk=pk)
    form = forms.PrintForm(_posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                target, _ = batches.resolve(kind="group", group=group.name)
                return redirect("console:job", pk=_print(request, form, target).pk)
            except batches.FieldProblem as e:
                form.add_error(e.field if e.field in form.fields else None, str(e))
        status = 400
    members = User.objects.filter(membership__group=group)
    t = table(request, members, USER_COLUMNS, "username")
    numbers = card_selectors.numbers_of([u.pk for u in t.page])
    return _page(
        request,
        "group.html",
        status=status,
        group=group,
        table=t,
        rows=[(u, numbers.get(u.pk, {})) for u in t.page],
        print_form=form,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def bulk(request):
    """Groups › Bulk User Actions: choose, review what will happen, confirm, watch the job."""
    names = Group.objects.order_by("name_key").values_list("name", flat=True)[:1000]
    if request.method == "GET":
        initial = {"group": request.GET.get("group", "")}
        return _page(request, "bulk.html", form=forms.BulkForm(initial=initial), group_names=names)
    form = forms.BulkForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            target, count = batches.resolve(
                kind=d["target"], group=d["group"], usernames=d["usernames"], user=d["user"]
            )
        except batches.FieldProblem as e:
            form.add_error(e.field if e.field in form.fields else None, str(e))
        else:
            if d["confirmed"]:
                job = batches.generate(
                    target=target,
                    slot=d["action"],
                    replace=d["replace"] == "replace",
                    notify=d["notify"],
                    actor=request.admin.actor,
                )
                return redirect("console:job", pk=job.pk)
            return _page(request, "bulk.html", form=form, review=True, target=target, count=count)
    return _page(request, "bulk.html", status=400, form=form, group_names=names)


# -- jobs, sync history, notification log, audit log ------------------------------------------

JOB_COLUMNS = {
    "id": ("Job", "id"),
    "kind": ("Kind", "kind"),
    "status": ("Status", "status"),
    "created": ("Started", "created_at"),
}


@admin_required
def jobs(request):
    return _page(request, "jobs.html", table=table(request, Job.objects.all(), JOB_COLUMNS, "-id"))


@admin_required
def job_detail(request, pk):
    job = get_object_or_404(Job, pk=pk)
    template = "partials/progress.html" if request.htmx else "job.html"
    return _page(request, template, job=job, download=_download_ready(job))


def _download_ready(job) -> bool:
    return (
        job.kind == "print" and job.status == "succeeded" and card_jobs.print_path(job.pk).exists()
    )


@admin_required
def job_download(request, pk):
    job = get_object_or_404(Job, pk=pk)
    if not _download_ready(job):
        raise Http404("this job has no PDF (not a print job, not finished, or removed after a day)")
    return FileResponse(
        card_jobs.print_path(job.pk).open("rb"),
        as_attachment=True,
        filename=f"cardid-cards-{job.pk}.pdf",
        content_type="application/pdf",
    )


SYNC_COLUMNS = {
    "id": ("Run", "id"),
    "started": ("Started", "started_at"),
    "status": ("Status", "status"),
    "source": ("Source", "source"),
}


@admin_required
def sync_history(request):
    t = table(request, SyncRun.objects.all(), SYNC_COLUMNS, "-id")
    return _page(request, "sync_history.html", table=t)


@admin_required
def sync_run(request, pk):
    return _page(request, "sync_run.html", run=get_object_or_404(SyncRun, pk=pk))


NOTE_COLUMNS = {
    "id": ("Message", "id"),
    "created": ("Queued", "created_at"),
    "status": ("Status", "status"),
    "user": ("User", "user__username_key"),
    "attempts": ("Attempts", "attempts"),
}


@admin_required
@require_http_methods(["GET", "POST"])
def notification_log(request):
    if request.method == "POST":
        ids = None if request.POST.get("all") == "1" else _ids(request.POST.getlist("id"))
        n = services.retry_notifications(ids=ids, admin=request.admin)
        messages.success(request, f"{n} message(s) queued again; the worker sends them now.")
        return redirect(f"{reverse('console:notifications')}?{request.GET.urlencode()}")
    status = request.GET.get("status", "")
    qs = OutboxMessage.objects.select_related("user")
    if status in OutboxMessage.Status.values:
        qs = qs.filter(status=status)
    t = table(request, qs, NOTE_COLUMNS, "-id")
    counts = notifications.counts()
    return _page(
        request,
        "notifications.html",
        table=t,
        current=status,
        statuses=[(s, counts.get(s, 0)) for s in OutboxMessage.Status.values],
        query=f"status={status}" if status else "",
    )


def _ids(raw: list[str]) -> list[int]:
    return [int(x) for x in raw if x.isdigit() and len(x) <= 18]  # a database id fits


def _audit_events(form):
    if not form.is_valid():
        return AuditEvent.objects.none()
    return audit_selectors.events(**form.cleaned_data)


AUDIT_COLUMNS = {
    "at": ("When", "id"),
    "actor": ("Who", "actor"),
    "door": ("Door", "door"),
    "action": ("Action", "action"),
    "target": ("Subject", "target"),
}


@admin_required
def audit_log(request):
    form = forms.AuditFilterForm(request.GET)  # no filter: every event
    t = table(request, _audit_events(form), AUDIT_COLUMNS, "-at")
    query = request.GET.copy()
    query.pop("page", None)
    return _page(
        request,
        "audit.html",
        status=200 if form.is_valid() else 400,
        form=form,
        table=t,
        query=query.urlencode(),
    )


class _Echo:
    def write(self, value):
        return value


@admin_required
def audit_csv(request):
    events = _audit_events(forms.AuditFilterForm(request.GET))
    return _csv_download(
        "cardid-audit.csv",
        ["at", "actor", "door", "action", "target", "detail"],
        (
            [e.at.isoformat(), e.actor, e.door, e.action, e.target, e.detail]
            for e in events.order_by("id").iterator(chunk_size=2000)
        ),
    )


def _csv_download(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    """A CSV file streamed row by row: large exports never sit in memory."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
