"""Users and groups: search, a user's numbers, import and export, printing, Bulk User Actions."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from cardid.audit import selectors as audit_selectors
from cardid.cards import batches, generation, transfer
from cardid.cards import selectors as card_selectors
from cardid.cards import services as cards
from cardid.config import services as config
from cardid.console import forms, services
from cardid.console.tables import table
from cardid.console.views.base import (
    SEARCH_KEY,
    admin_required,
    csv_download,
    posted,
    render_page,
    say,
)
from cardid.directory import selectors as directory
from cardid.directory.models import Group, User
from cardid.errors import CardidError

IMPORT_KEY = "console_import"  # the reviewed upload: its token and the plan's figures


def _add_error(form, e: CardidError) -> None:
    """The message beside the input it concerns (by the refusal's field), else on top."""
    form.add_error(e.field if e.field in form.fields else None, say(e))


# -- users -------------------------------------------------------------------------------------

USER_COLUMNS = {
    "username": (gettext_lazy("Username"), "username_key"),
    "name": (gettext_lazy("Full name"), "full_name"),
    "department": (gettext_lazy("Department"), "department"),
    "source": (gettext_lazy("Source"), "source"),
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
    return render_page(
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
        except CardidError as e:
            _add_error(form, e)
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
    return render_page(
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
            messages.success(request, _("Card/ID numbers saved."))
            return redirect("console:user", pk=pk)
        except CardidError as e:
            _add_error(form, e)
    return _user_page(request, user, 400, numbers_form=form)


@admin_required
@require_POST
def user_generate(request, pk):
    user = get_object_or_404(User, pk=pk)
    form = forms.GenerateForm(request.POST)
    if form.is_valid():
        slot = form.cleaned_data["slot"]
        if _holds(user, slot) and request.POST.get("confirmed") != "yes":
            return _confirm(
                request,
                user,
                question=(
                    _("Replace %(name)s's secondary number with a new random one?")
                    if slot == "secondary"
                    else _("Replace %(name)s's primary number with a new random one?")
                )
                % {"name": user.username},
                button=_("Replace the secondary number")
                if slot == "secondary"
                else _("Replace the primary number"),
                action=reverse("console:user-generate", args=[pk]),
                fields={"slot": slot, "notify": "on" if form.cleaned_data["notify"] else ""},
            )
        try:
            result = generation.generate(
                selection=generation.Selection(usernames=(user.username,)),
                slot=slot,
                replace=True,
                actor=request.admin.actor,
                notify=form.cleaned_data["notify"],
            )
            if result.issued == 1:
                messages.success(
                    request,
                    _("A new random secondary number was issued.")
                    if slot == "secondary"
                    else _("A new random primary number was issued."),
                )
                return redirect("console:user", pk=pk)
            form.add_error(
                "slot", result.refused or "; ".join(result.messages) or "no number was issued"
            )
        except CardidError as e:
            form.add_error("slot", say(e))
    return _user_page(request, user, 400, generate_form=form)


@admin_required
@require_POST
def user_clear(request, pk):
    user = get_object_or_404(User, pk=pk)
    slot = request.POST.get("slot", "")
    if _holds(user, slot) and request.POST.get("confirmed") != "yes":
        return _confirm(
            request,
            user,
            question=(
                _("Clear %(name)s's secondary number?")
                if slot == "secondary"
                else _("Clear %(name)s's primary number?")
            )
            % {"name": user.username},
            button=_("Clear the secondary number")
            if slot == "secondary"
            else _("Clear the primary number"),
            action=reverse("console:user-clear", args=[pk]),
            fields={"slot": slot},
        )
    try:
        if cards.clear_number(username=user.username, slot=slot, actor=request.admin.actor):
            messages.success(
                request,
                _("The secondary number was cleared.")
                if slot == "secondary"
                else _("The primary number was cleared."),
            )
        else:
            messages.info(
                request,
                _("There was no secondary number to clear.")
                if slot == "secondary"
                else _("There was no primary number to clear."),
            )
    except CardidError as e:
        messages.error(request, say(e))
    return redirect("console:user", pk=pk)


def _holds(user: User, slot: str) -> bool:
    return slot in card_selectors.numbers_of([user.pk]).get(user.pk, {})


def _confirm(request, user: User, *, question: str, button: str, action: str, fields: dict):
    """Ask before a change that cannot be undone: the number leaves the user and is retired."""
    days = config.get("cards.retired-quarantine-days")
    retired = (
        _("It is retired: it will never be generated again.")
        if days < 0
        else _("It is retired: it will not be generated again for %(days)s days.") % {"days": days}
    )
    return render_page(
        request,
        "confirm.html",
        user_=user,
        question=question,
        consequence=_("The current number stops working at terminals at once. %(retired)s")
        % {"retired": retired},
        button=button,
        action=action,
        fields=fields,
    )


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
                messages.success(
                    request, _("The PIN was removed.") if remove else _("The PIN was set.")
                )
                return redirect("console:user", pk=pk)
            except CardidError as e:
                form.add_error("pin", say(e))
    return _user_page(request, user, 400, pin_form=form)


@admin_required
@require_http_methods(["GET", "POST"])
def users_import(request):
    """Card/ID numbers from a file: first the review (every problem listed with its line, or
    what would change), then the import of exactly the reviewed file, all or nothing."""
    form = forms.ImportForm(posted(request), request.FILES or None)
    plan, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data["file"].read()
            try:
                plan = transfer.plan_import(data)
            except CardidError as e:
                form.add_error("file", say(e))
            else:
                request.session[IMPORT_KEY] = None
                if not plan.refused:
                    request.session[IMPORT_KEY] = {
                        "upload": services.keep_upload(data),
                        "figures": plan.figures(),
                    }
        if plan is None or plan.refused:
            status = 400
    return render_page(request, "import.html", status=status, form=form, plan=plan)


@admin_required
@require_POST
def users_import_apply(request):
    """Apply the reviewed import; refused, changing nothing, if the data moved meanwhile."""
    reviewed = request.session.pop(IMPORT_KEY, None)
    data = services.take_upload(reviewed["upload"]) if reviewed else None
    if data is None:
        messages.error(request, _("There is no reviewed import to apply: choose the file again."))
        return redirect("console:users-import")
    try:
        plan = transfer.import_reviewed(
            data=data, expect=reviewed["figures"], actor=request.admin.actor
        )
    except CardidError as e:
        messages.error(request, _("Nothing was imported: %(why)s") % {"why": say(e)})
        return redirect("console:users-import")
    messages.success(
        request,
        _("Imported: %(changed)s user(s) got new numbers, %(unchanged)s already had them.")
        % {"changed": f"{plan.changed:,}", "unchanged": f"{plan.unchanged:,}"},
    )
    return redirect("console:users-import")


@admin_required
def users_export(request):
    """Every user's numbers as CSV (the format `cardid export-numbers` writes)."""
    return csv_download(
        "cardid-numbers.csv", transfer.HEADER, transfer.export_numbers(actor=request.admin.actor)
    )


# -- groups and Bulk User Actions ------------------------------------------------------------

GROUP_COLUMNS = {
    "name": (gettext_lazy("Group"), "name_key"),
    "members": (gettext_lazy("Members"), "member_count"),
}


@admin_required
def groups(request):
    return render_page(
        request, "groups.html", table=table(request, directory.list_groups(), GROUP_COLUMNS, "name")
    )


@admin_required
@require_http_methods(["GET", "POST"])
def group_detail(request, pk):
    group = get_object_or_404(Group, pk=pk)
    form = forms.PrintForm(posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                target, _ = batches.resolve(kind="group", group=group.name)
                return redirect("console:job", pk=_print(request, form, target).pk)
            except CardidError as e:
                _add_error(form, e)
        status = 400
    members = User.objects.filter(membership__group=group)
    t = table(request, members, USER_COLUMNS, "username")
    numbers = card_selectors.numbers_of([u.pk for u in t.page])
    return render_page(
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
    """Groups › Bulk User Actions: choose, review the plan (what will be issued, skipped,
    refused), confirm, watch the job. The job carries the reviewed figures and refuses to
    run if they no longer hold."""
    names = list(
        Group.objects.order_by("name_key").values_list("name", flat=True)[
            : forms.BulkForm.SELECT_LIMIT + 1
        ]
    )
    if request.method == "GET":
        initial = {"group": request.GET.get("group", "")}
        return render_page(
            request,
            "bulk.html",
            form=forms.BulkForm(initial=initial, group_names=names),
            group_names=names,
        )
    form = forms.BulkForm(request.POST, group_names=names)
    if form.is_valid():
        d = form.cleaned_data
        try:
            target, _ = batches.resolve(
                kind=d["target"], group=d["group"], usernames=d["usernames"], user=d["user"]
            )
            plan = batches.review(
                target=target,
                slot=d["action"],
                replace=d["replace"] == "replace",
                notify=d["notify"],
            )
            if d["confirmed"] and not plan.refused:
                job = batches.generate(
                    target=target,
                    slot=d["action"],
                    replace=d["replace"] == "replace",
                    notify=d["notify"],
                    actor=request.admin.actor,
                    expect=plan.figures(),
                )
                return redirect("console:job", pk=job.pk)
        except CardidError as e:
            _add_error(form, e)
        else:
            return render_page(
                request,
                "bulk.html",
                status=409 if plan.refused else 200,
                form=form,
                review=True,
                target=target,
                plan=plan,
            )
    return render_page(request, "bulk.html", status=400, form=form, group_names=names)
