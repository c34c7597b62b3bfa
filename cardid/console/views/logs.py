"""Jobs, sync history, the notification log and the audit log."""

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from cardid.audit import selectors as audit_selectors
from cardid.audit.models import AuditEvent
from cardid.cards import jobs as card_jobs
from cardid.console import forms, services
from cardid.console.tables import table
from cardid.console.views.base import (
    admin_required,
    csv_download,
    ids_of,
    render_page,
    say,
)
from cardid.directory.models import SyncRun
from cardid.errors import CardidError
from cardid.jobs import services as job_services
from cardid.jobs.models import Job
from cardid.notifications import services as notifications
from cardid.notifications.models import OutboxMessage
from cardid.sync import services as sync

# -- jobs, sync history, notification log, audit log ------------------------------------------

JOB_COLUMNS = {
    "id": (gettext_lazy("Job"), "id"),
    "kind": (gettext_lazy("Kind"), "kind"),
    "status": (gettext_lazy("Status"), "status"),
    "created": (gettext_lazy("Started"), "created_at"),
}


@admin_required
def jobs(request):
    return render_page(
        request, "jobs.html", table=table(request, Job.objects.all(), JOB_COLUMNS, "-id")
    )


@admin_required
def job_detail(request, pk):
    job = get_object_or_404(Job, pk=pk)
    template = "partials/progress.html" if request.htmx else "job.html"
    return render_page(
        request,
        template,
        job=job,
        download=_download_ready(job),
        counts=_counts(job),
        sync_review=sync.reviewed(job) is not None,
    )


@admin_required
@require_POST
def job_again(request, pk):
    """Run a failed job again, as the administrator who asks: the same kind, the same users
    and settings (a generation's earlier review does not bind the new run)."""
    job = get_object_or_404(Job, pk=pk)
    if job.status != Job.Status.FAILED:
        messages.error(request, _("Only a failed job can be run again."))
        return redirect("console:job", pk=pk)
    actor = request.admin.actor
    try:
        if job.kind == "sync":
            new = sync.start(actor=actor, dry_run=bool(job.params.get("dry_run")))
        else:
            params = dict(job.params)
            if "actor_name" in params:
                params.update(actor_name=actor.name, actor_door=actor.door, expect=None)
            new = job_services.submit(
                kind=job.kind, params=params, actor=actor, description=job.description
            )
    except CardidError as e:
        messages.error(request, say(e))
        return redirect("console:job", pk=pk)
    return redirect("console:job", pk=new.pk)


# The counts of a job in words (keys not listed are shown as they are).
COUNT_LABELS = {
    "users": gettext_lazy("Users chosen"),
    "issued": gettext_lazy("Numbers issued"),
    "skipped": gettext_lazy("Users skipped"),
    "failed": gettext_lazy("Users failed"),
    "notifications": gettext_lazy("E-mails queued"),
    "without_email": gettext_lazy("Users without an e-mail address"),
    "in_source": gettext_lazy("Users in the source"),
    "added": gettext_lazy("Users added"),
    "updated": gettext_lazy("Users updated"),
    "disabled": gettext_lazy("Users disabled"),
    "deleted": gettext_lazy("Users deleted"),
    "kept_missing": gettext_lazy("Users gone from the source, kept"),
    "groups_added": gettext_lazy("Groups added"),
    "groups_removed": gettext_lazy("Groups removed"),
    "memberships_added": gettext_lazy("Memberships added"),
    "memberships_removed": gettext_lazy("Memberships removed"),
    "numbers_imported": gettext_lazy("Numbers imported"),
    "numbers_generated": gettext_lazy("Numbers generated"),
}


def _counts(job) -> list[tuple[str, object]]:
    return in_words(job.counts)


def in_words(counts: dict | None) -> list[tuple[str, object]]:
    """A job's or a sync run's counts to show: in words, without the empty refusal and the
    run number."""
    return [
        (COUNT_LABELS.get(k) or k.replace("_", " ").capitalize(), v)
        for k, v in (counts or {}).items()
        if k not in ("refused", "run") and v is not None
    ]


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
    "id": (gettext_lazy("Run"), "id"),
    "started": (gettext_lazy("Started"), "started_at"),
    "status": (gettext_lazy("Status"), "status"),
    "source": (gettext_lazy("Source"), "source"),
}


# What a run changed, in the history's one line.
CHANGES = ("added", "updated", "disabled", "deleted", "numbers_imported", "numbers_generated")


def changes(counts: dict | None) -> str:
    """ "12 users added, 100 numbers generated"; "no changes" for a run that changed nothing."""
    counts = counts or {}
    said = []
    for k in CHANGES:
        if n := counts.get(k):
            said.append(_change(k, n) % {"n": f"{n:,}"})
    return ", ".join(said) or (_("no changes") if counts else "")


def _change(kind: str, n: int) -> str:
    return {
        "added": lambda: ngettext("%(n)s user added", "%(n)s users added", n),
        "updated": lambda: ngettext("%(n)s user updated", "%(n)s users updated", n),
        "disabled": lambda: ngettext("%(n)s user disabled", "%(n)s users disabled", n),
        "deleted": lambda: ngettext("%(n)s user deleted", "%(n)s users deleted", n),
        "numbers_imported": lambda: ngettext("%(n)s number imported", "%(n)s numbers imported", n),
        "numbers_generated": lambda: ngettext(
            "%(n)s number generated", "%(n)s numbers generated", n
        ),
    }[kind]()


@admin_required
def sync_history(request):
    t = table(request, SyncRun.objects.all(), SYNC_COLUMNS, "-id")
    for run in t.page:
        run.changes = changes(run.counts)
    return render_page(request, "sync_history.html", table=t)


@admin_required
def sync_run(request, pk):
    run = get_object_or_404(SyncRun, pk=pk)
    return render_page(request, "sync_run.html", run=run, counts=in_words(run.counts))


NOTE_COLUMNS = {
    "id": (gettext_lazy("Message"), "id"),
    "created": (gettext_lazy("Queued"), "created_at"),
    "status": (gettext_lazy("Status"), "status"),
    "user": (gettext_lazy("User"), "user__username_key"),
    "attempts": (gettext_lazy("Attempts"), "attempts"),
}


@admin_required
@require_http_methods(["GET", "POST"])
def notification_log(request):
    if request.method == "POST":
        ids = None if request.POST.get("all") == "1" else ids_of(request.POST.getlist("id"))
        n = services.retry_notifications(ids=ids, admin=request.admin)
        messages.success(
            request, _("%(n)s message(s) queued again; the worker sends them now.") % {"n": n}
        )
        return redirect(f"{reverse('console:notifications')}?{request.GET.urlencode()}")
    status = request.GET.get("status", "")
    qs = OutboxMessage.objects.select_related("user")
    if status in OutboxMessage.Status.values:
        qs = qs.filter(status=status)
    t = table(request, qs, NOTE_COLUMNS, "-id")
    counts = notifications.counts()
    return render_page(
        request,
        "notifications.html",
        table=t,
        current=status,
        statuses=[(s, counts.get(s, 0)) for s in OutboxMessage.Status.values],
        query=f"status={status}" if status else "",
    )


def _audit_events(form):
    if not form.is_valid():
        return AuditEvent.objects.none()
    return audit_selectors.events(**form.cleaned_data)


AUDIT_COLUMNS = {
    "at": (gettext_lazy("When"), "id"),
    "actor": (gettext_lazy("Who"), "actor"),
    "door": (gettext_lazy("Door"), "door"),
    "action": (gettext_lazy("Action"), "action"),
    "target": (gettext_lazy("Subject"), "target"),
}


@admin_required
def audit_log(request):
    form = forms.AuditFilterForm(request.GET)  # no filter: every event
    t = table(request, _audit_events(form), AUDIT_COLUMNS, "-at")
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "audit.html",
        status=200 if form.is_valid() else 400,
        form=form,
        table=t,
        query=query.urlencode(),
    )


@admin_required
def audit_csv(request):
    events = _audit_events(forms.AuditFilterForm(request.GET))
    return csv_download(
        "cardid-audit.csv",
        ["at", "actor", "door", "action", "target", "detail"],
        (
            [e.at.isoformat(), e.actor, e.door, e.action, e.target, e.detail]
            for e in events.order_by("id").iterator(chunk_size=2000)
        ),
    )
