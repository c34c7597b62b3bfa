"""What every console page shares: the administrator check, page rendering, CSV downloads."""

from functools import wraps

from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_noop

from cardid import spreadsheet
from cardid.config.screens import in_words
from cardid.console import services

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


def posted(request):
    """The data to bind a form to: the POST even when it is empty (an empty post is checked
    and refused, not shown as a fresh form)."""
    return request.POST if request.method == "POST" else None


def say(error: Exception) -> str:
    """An error's message for a web page: option keys become the screens' words."""
    return in_words(str(error))


# The side navigation: (heading or None, [(label, url name, args)]); an entry under a
# heading is indented, an entry with children has them after it.
# (heading, [(label, URL name, URL args, icon)]): the icon names a symbol of icons.svg.
NAV = [
    (None, [(gettext_noop("Dashboard"), "console:dashboard", (), "dashboard")]),
    (
        None,
        [
            (gettext_noop("Users"), "console:users", (), "users"),
            (gettext_noop("Import and export numbers"), "console:users-import", (), "import"),
        ],
    ),
    (
        None,
        [
            (gettext_noop("Groups"), "console:groups", (), "groups"),
            (gettext_noop("Bulk User Actions"), "console:bulk", (), "bulk"),
        ],
    ),
    (
        gettext_noop("Options"),
        [
            (gettext_noop("User/Group Sync"), "console:options", ("sync",), "sync"),
            (gettext_noop("Notifications"), "console:options", ("notifications",), "notifications"),
            (
                gettext_noop("General › User Features"),
                "console:options",
                ("user-features",),
                "user-features",
            ),
            (gettext_noop("General › Security"), "console:options", ("security",), "security"),
            (gettext_noop("General › Sign-in"), "console:options", ("sign-in",), "sign-in"),
            (gettext_noop("General › Branding"), "console:options", ("branding",), "branding"),
            (gettext_noop("Card/ID numbers"), "console:options", ("card-numbers",), "card-numbers"),
            (gettext_noop("Card readers"), "console:options", ("card-readers",), "card-readers"),
            (gettext_noop("API tokens"), "console:tokens", (), "tokens"),
            (gettext_noop("Webhooks"), "console:webhooks", (), "webhooks"),
        ],
    ),
    (
        gettext_noop("Logs"),
        [
            (gettext_noop("Jobs"), "console:jobs", (), "jobs"),
            (gettext_noop("Sync history"), "console:sync-history", (), "sync-history"),
            (gettext_noop("Notification log"), "console:notifications", (), "notification-log"),
            (gettext_noop("Audit log"), "console:audit", (), "audit"),
        ],
    ),
]


# Pages that belong to another page's entry: the webhooks' delivery options to Webhooks.
PART_OF = {"/admin/options/webhooks": "/admin/webhooks"}


def navigation(path: str) -> list[tuple[str | None, list[tuple[str, str, bool, str]]]]:
    """NAV with URLs, the current page marked: the entry whose URL is the longest prefix of
    the path (a user's page marks Users, a job's page Jobs)."""
    sections = [
        (heading, [(label, reverse(name, args=args), icon) for label, name, args, icon in items])
        for heading, items in NAV
    ]
    urls = [url for _, items in sections for _, url, _ in items]
    path = PART_OF.get(path, path)
    matching = [u for u in urls if path == u or (u != "/admin/" and path.startswith(u))]
    current = max(matching, key=len, default=None)
    return [
        (heading, [(label, url, url == current, icon) for label, url, icon in items])
        for heading, items in sections
    ]


def render_page(request, template, status=200, **context):
    context.setdefault("admin", getattr(request, "admin", None))
    if context["admin"]:
        context["nav"] = navigation(request.path)
    return render(request, f"console/{template}", context, status=status)


class _Echo:
    def write(self, value):
        return value


def csv_download(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    """A CSV file streamed row by row: large exports never sit in memory."""
    writer = spreadsheet.writer(_Echo())

    def lines():
        yield writer.writeheader(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def ids_of(raw: list[str]) -> list[int]:
    return [int(x) for x in raw if x.isdigit() and len(x) <= 18]  # a database id fits
