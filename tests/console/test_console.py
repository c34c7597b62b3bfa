"""The administrator's console through Django's test client: log-in and its lockout, every
form's validation (the error beside its field, nothing changed), conflicts between two
administrators, the pages that read and the actions that write."""

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from cardid.access.models import ApiToken
from cardid.audit.models import AuditEvent
from cardid.cards import batches
from cardid.cards.models import Card, ConversionRule
from cardid.config import services as config
from cardid.directory.models import User
from cardid.jobs import runner
from cardid.jobs.models import Job
from cardid.notifications.models import OutboxMessage
from tests.console.conftest import PASSWORD
from tests.factories import ADMIN, give_number, make_group, make_user, numbers_of

pytestmark = pytest.mark.django_db


def errors_of(response) -> str:
    """The text of the error lists on a page (what appears beside the fields)."""
    html = response.content.decode()
    return " ".join(part.split("</ul>")[0] for part in html.split('class="errorlist')[1:])


# -- log-in ----------------------------------------------------------------------------------


def test_pages_need_an_administrator(admin_account):
    c = Client()
    for path in ("/admin/", "/admin/users/", "/admin/options/sync", "/admin/audit/"):
        r = c.get(path)
        assert r.status_code == 302 and r["Location"].startswith("/admin/login?next=")


def test_a_card_holder_is_not_an_administrator(admin_account):
    u = make_user(username="ann")
    from cardid.directory import services as directory

    directory.set_password(username="ann", password="ann-password-1", actor=ADMIN)
    r = Client().post("/admin/login", {"username": u.username, "password": "ann-password-1"})
    assert r.status_code == 400
    assert b"the username or password is wrong" in r.content


def test_members_of_the_admin_group_log_in_and_lose_access_when_removed(admin_account):
    from cardid.directory import services as directory
    from cardid.directory.models import Membership

    u = make_user(username="helpdesk1")
    directory.set_password(username="helpdesk1", password="helpdesk-pass-1", actor=ADMIN)
    g = make_group("it-admins", [u])
    c = Client()
    creds = {"username": "helpdesk1", "password": "helpdesk-pass-1"}
    assert c.post("/admin/login", creds).status_code == 400  # no admin group configured yet
    config.set_value(key="console.admin-group", raw="IT-Admins", actor=ADMIN)
    AuditEvent.objects.filter(action="console.login-failed").delete()
    assert c.post("/admin/login", creds).status_code == 302
    assert c.get("/admin/").status_code == 200
    Membership.objects.filter(group=g).delete()
    assert c.get("/admin/").status_code == 302  # checked again on every request


def test_guessing_locks_the_account_from_that_address(admin_account):
    c = Client()
    for _ in range(5):
        r = c.post("/admin/login", {"username": "root-admin", "password": "guess"})
        assert r.status_code == 400
    r = c.post("/admin/login", {"username": "root-admin", "password": PASSWORD})
    assert r.status_code == 429 and b"too many failed log-ins" in r.content
    assert AuditEvent.objects.filter(action="console.login-failed").count() == 5


def test_login_form_needs_both_fields_and_never_redirects_off_site(admin_account):
    c = Client()
    r = c.post("/admin/login", {"username": "", "password": ""})
    assert r.status_code == 400 and "This field is required" in errors_of(r)
    r = c.post(
        "/admin/login?next=//evil.example/", {"username": "root-admin", "password": PASSWORD}
    )
    assert r["Location"] == "/admin/"


def test_logout_ends_the_session(console):
    assert console.post("/admin/logout").status_code == 302
    assert console.get("/admin/").status_code == 302


def test_post_without_csrf_token_is_refused(admin_account):
    c = Client(enforce_csrf_checks=True)
    r = c.post("/admin/login", {"username": "root-admin", "password": PASSWORD})
    assert r.status_code == 403
    assert "console_admin" not in c.session
    assert AuditEvent.objects.filter(action="console.csrf-refused", door="console").exists()


def test_an_unexpected_error_shows_a_plain_page_never_a_traceback(console, monkeypatch):
    def broken():
        raise RuntimeError("secret internals")

    monkeypatch.setattr("cardid.console.services.dashboard", broken)
    console.raise_request_exception = False
    r = console.get("/admin/")
    assert r.status_code == 500
    assert b"Something went wrong" in r.content
    assert b"secret internals" not in r.content and b"Traceback" not in r.content


def test_search_refuses_an_overlong_query_beside_the_field(console):
    r = console.post("/admin/users/", {"q": "x" * 201})
    assert r.status_code == 400
    assert "at most 200 characters" in errors_of(r)


# -- options ---------------------------------------------------------------------------------


def options_post(page_response, **changes) -> dict:
    """The form as the browser would send it back: current values, with `changes`."""
    form = page_response.context["form"]
    data = {"versions": form["versions"].value()}
    if not isinstance(data["versions"], str):
        import json

        data["versions"] = json.dumps(data["versions"])
    for key in form.page.keys:
        value = form[key].value()
        if form.fields[key].__class__.__name__ == "BooleanField":
            if value:
                data[key] = "on"
        elif value is not None:
            data[key] = value
    for key, value in changes.items():
        key = key.replace("__", ".").replace("_", "-")
        if value is False:
            data.pop(key, None)
        elif value is True:
            data[key] = "on"
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    "page,key,bad,message",
    [
        ("card-numbers", "cards.length", "3", "at least 4"),
        ("card-numbers", "cards.length", "eight", "whole number"),
        ("card-numbers", "cards.max-guess-probability", "2", "probability"),
        ("card-numbers", "cards.retired-quarantine-days", "-5", "-1 (never reuse)"),
        ("card-numbers", "cards.pin.min-length", "9", "exceeds the maximum"),
        ("sync", "sync.schedule", "25:00", "HH:MM"),
        ("sync", "sync.guard.max-removal-percent", "101", "at most 100"),
        ("sync", "sync.program.timeout", "0", "at least 1"),
        ("sync", "sync.source", "nis", "nis is not one of the available choices"),
        ("sync", "sync.file.path", "/nonexistent/users.csv", "there is no readable file at"),
        ("sync", "sync.program.path", "/nonexistent/sync", "no program /nonexistent/sync"),
        ("notifications", "smtp.ca-file", "/nonexistent/ca.pem", "there is no readable file"),
        ("notifications", "notify.card.subject", "Hi %nosuch%", "unknown placeholder"),
        ("notifications", "notify.card.body", "Your number: %card_numbr%", "unknown placeholder"),
        ("notifications", "smtp.port", "70000", "at most 65535"),
        ("notifications", "smtp.from", "not an address", "e-mail address"),
        ("user-features", "portal.change-card-number.max-per-day", "0", "at least 1"),
        ("user-features", "portal.view-card-number", "tertiary", "not one of the available"),
        ("card-readers", "cards.self-registration.code-minutes", "99999", "at most 1440"),
        ("security", "api.lookup.max-misses", "0", "at least 1"),
    ],
)
def test_every_options_form_rejects_bad_values_beside_the_field(console, page, key, bad, message):
    before = config.get(key)
    shown = console.get(f"/admin/options/{page}")
    assert shown.status_code == 200
    data = options_post(shown)
    data[key] = bad
    r = console.post(f"/admin/options/{page}", data)
    assert r.status_code == 400
    assert message in errors_of(r), errors_of(r)
    field_errors = r.context["form"].errors
    assert key in field_errors
    assert config.get(key) == before
    assert "Nothing was applied" in r.content.decode()


def test_saving_options_stores_them_audited_with_the_admins_name(console, tmp_path):
    (tmp_path / "users.tsv").write_text("username\n")
    shown = console.get("/admin/options/sync")
    data = options_post(
        shown,
        sync__source="file",
        sync__file__path=str(tmp_path / "users.tsv"),
        sync__auto_generate_primary_when_blank=True,
    )
    r = console.post("/admin/options/sync", data)
    assert r.status_code == 302
    assert config.get("sync.source") == "file"
    assert config.get("sync.auto-generate-primary-when-blank") is True
    ev = AuditEvent.objects.filter(action="option.set", target="sync.source").get()
    assert ev.actor == "root-admin" and ev.door == "console"
    # Saving again unchanged changes nothing and records nothing.
    n = AuditEvent.objects.filter(action="option.set").count()
    r = console.post("/admin/options/sync", options_post(console.get("/admin/options/sync")))
    assert AuditEvent.objects.filter(action="option.set").count() == n


def test_the_reference_labels_are_verbatim(console):
    pages = {
        "sync": ["Auto-generate random primary Card/ID number when blank"],
        "notifications": [
            "Card/ID Number Notification",
            "Notify users when their Card/ID number is auto-generated",
        ],
        "user-features": [
            "Allow users to view their Card/ID numbers",
            "Allow users to change their Card/ID number",
        ],
    }
    for page, labels in pages.items():
        html = console.get(f"/admin/options/{page}").content.decode()
        for label in labels:
            assert label in html, (page, label)
    assert "Bulk User Actions" in console.get("/admin/groups/bulk").content.decode()


def test_a_stored_secret_is_never_shown_and_a_blank_one_is_kept(console):
    config.set_value(key="smtp.password", raw="s3cret-pass", actor=ADMIN)
    shown = console.get("/admin/options/notifications")
    assert b"s3cret-pass" not in shown.content
    data = options_post(shown, smtp__host="mail.example.org")
    data["smtp.password"] = ""
    assert console.post("/admin/options/notifications", data).status_code == 302
    assert config.get("smtp.password") == "s3cret-pass"
    assert config.get("smtp.host") == "mail.example.org"


def test_a_second_administrator_gets_a_conflict_not_a_silent_overwrite(console, admin_account):
    other = Client()
    get_user_model().objects.create_user("second", password=PASSWORD, is_staff=True)
    other.post("/admin/login", {"username": "second", "password": PASSWORD})
    mine = console.get("/admin/options/card-numbers")
    theirs = other.get("/admin/options/card-numbers")
    assert other.post("/admin/options/card-numbers", options_post(theirs, cards__length="10"))[
        "Location"
    ]
    r = console.post("/admin/options/card-numbers", options_post(mine, cards__length="12"))
    assert r.status_code == 400
    assert "was changed by second while you edited it" in errors_of(r)
    assert config.get("cards.length") == 10
    # Options the other administrator did not touch still save from a stale page.
    r = console.post(
        "/admin/options/card-numbers", options_post(mine, cards__reject_weak_patterns=False)
    )
    assert r.status_code == 400  # the whole page is refused while the conflict stands
    assert config.get("cards.reject-weak-patterns") is True


def test_card_numbers_page_shows_live_figures_and_warns_near_the_bound(console):
    for i in range(3):
        give_number(make_user(), f"{4000 + i}")
    config.set_value(key="cards.length", raw="4", actor=ADMIN)
    config.set_value(key="cards.max-guess-probability", raw="0.0004", actor=ADMIN)
    r = console.get("/admin/options/card-numbers")
    html = r.content.decode()
    assert 'id="in-use">3<' in html
    assert "9,000" in html  # 4 digits, no leading zero
    assert "above 80% of the allowed bound" in html


def test_a_help_line_only_where_the_label_does_not_say_it_all(console):
    """ "Length (digits)" needs no "digits in a generated number" under it; the check digit
    gets a line that says what it is for."""
    html = console.get("/admin/options/card-numbers").content.decode()
    assert "Length (digits)" in html and "digits in a generated number" not in html
    assert "a mistyped number is refused at once" in html
    html = console.get("/admin/options/sync").content.decode()
    assert "several are separated by" in html  # base DNs
    assert "DN to bind as" not in html


def test_test_connection_reports_a_failure_in_words(console, tmp_path):
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    (tmp_path / "missing.tsv").write_text("username\n")
    config.set_value(key="sync.file.path", raw=str(tmp_path / "missing.tsv"), actor=ADMIN)
    (tmp_path / "missing.tsv").unlink()  # moved away after it was set
    r = console.post("/admin/options/sync/test", HTTP_HX_REQUEST="true")
    assert r.status_code == 400
    assert "missing.tsv" in r.content.decode()
    assert "<html" not in r.content.decode()  # htmx gets the result box only
    (tmp_path / "users.tsv").write_text("username\tfull-name\nann\tAnn\n")
    config.set_value(key="sync.file.path", raw=str(tmp_path / "users.tsv"), actor=ADMIN)
    r = console.post("/admin/options/sync/test")  # without JavaScript: the whole page
    assert r.status_code == 200 and b"<html" in r.content


def test_sync_now_without_a_source_says_what_to_do(console):
    r = console.post("/admin/options/sync/run", follow=True)
    assert "no sync source is configured" in r.content.decode()
    assert not Job.objects.exists()


def test_dry_run_changes_nothing_and_shows_what_it_would_do(console, tmp_path):
    f = tmp_path / "users.tsv"
    f.write_text("username\tfull-name\temail\nann\tAnn Smith\tann@example.org\n")
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    config.set_value(key="sync.file.path", raw=str(f), actor=ADMIN)
    r = console.post("/admin/options/sync/run", {"dry_run": "1"})
    job = Job.objects.get()
    assert r["Location"] == f"/admin/jobs/{job.pk}/"
    runner.run(job.pk)
    assert not User.objects.exists()
    page = console.get(f"/admin/jobs/{job.pk}/").content.decode()
    assert '<strong id="job-status">succeeded</strong>' in page
    # The review names whom the sync would add, and counts them.
    assert re.search(r"<li>to add: 1</li><li>\s*ann</li>", page)
    assert "<dt>Users added</dt><dd>1</dd>" in page


def test_the_sync_history_says_what_each_run_changed_and_which_job_it_was(console, tmp_path):
    f = tmp_path / "users.tsv"
    f.write_text("username\tfull-name\nann\tAnn\nbob\tBob\n")
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    config.set_value(key="sync.file.path", raw=str(f), actor=ADMIN)
    config.set_value(key="sync.auto-generate-primary-when-blank", raw="true", actor=ADMIN)
    from cardid.sync import engine

    engine.run(actor=ADMIN)  # a run of the engine alone: no job
    f.write_text("username\tfull-name\nann\tAnn\nbob\tBob\ncid\tCid\n")
    console.post("/admin/options/sync/run")
    job = Job.objects.get()
    runner.run(job.pk)
    job.refresh_from_db()
    run = job.counts["run"]
    history = console.get("/admin/sync/").content.decode()
    assert "2 users added, 2 numbers generated" in history
    assert "1 user added, 1 number generated" in history
    assert "a number of its own: the job's page names its run" in history
    page = console.get(f"/admin/jobs/{job.pk}/").content.decode()
    assert f'href="/admin/sync/{run}/">run {run}</a>' in page


def test_notification_preview_and_test_mail_validate(console):
    u = make_user(username="ann", full_name="Ann Smith")
    give_number(u, "73519604")
    r = console.post("/admin/options/notifications/preview", {"username": "nobody"})
    assert r.status_code == 400 and "unknown user" in errors_of(r)
    r = console.post("/admin/options/notifications/preview", {"username": "ann"})
    assert r.status_code == 200
    assert "Ann Smith" in r.content.decode() and "73519604" in r.content.decode()
    # The editor's unsaved text, as the page sends it along with htmx.
    r = console.post(
        "/admin/options/notifications/preview",
        {"username": "ann", "notify.card.subject": "Card for %user%", "notify.card.body": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200 and 'id="preview-subject">Card for ann<' in r.content.decode()
    r = console.post(
        "/admin/options/notifications/preview",
        {"username": "ann", "notify.card.subject": "%nope%", "notify.card.body": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 400 and "unknown placeholder %nope%" in r.content.decode()
    assert "nonfield" in r.content.decode()  # not beside the username: it is the template
    r = console.post("/admin/options/notifications/test", {"address": "not-an-address"})
    assert r.status_code == 400 and "Enter a valid email address" in errors_of(r)


def test_rules_edit_try_and_derive_on_the_card_readers_page(console):
    rules_url = "/admin/options/card-readers/rules"
    r = console.post(rules_url, {"name": "door", "chain": "hex2dec,pod:3"})
    assert r.status_code == 400 and "pod" in errors_of(r)
    assert not ConversionRule.objects.exists()
    r = console.post(
        "/admin/options/card-readers/rules", {"name": "door", "chain": "reverse-bytes,hex2dec"}
    )
    assert r.status_code == 302
    assert ConversionRule.objects.get(name="door").chain == "reverse-bytes,hex2dec"
    r = console.post("/admin/options/card-readers/try", {"chain": "door", "value": "04A1B2C3"})
    assert "3283263748" in r.content.decode()  # C3B2A104 in decimal
    r = console.post("/admin/options/card-readers/try", {"chain": "hex2dec", "value": "XYZ"})
    assert r.status_code == 400 and "XYZ" in " ".join(r.context["try_form"].errors["value"])
    r = console.post("/admin/options/card-readers/try", {"chain": "nosuch", "value": "1"})
    assert r.status_code == 400 and "nosuch" in " ".join(r.context["try_form"].errors["chain"])
    r = console.post("/admin/options/card-readers/rules", {"name": "a,b", "chain": "hex2dec"})
    assert "no comma" in " ".join(r.context["rule_form"].errors["name"])
    pairs = "04A1B2C3,3283263748\n01020304,67305985\nFF000000,255\n"
    r = console.post("/admin/options/card-readers/derive", {"pairs": pairs})
    assert 'id="derived-chain">reverse-bytes,hex2dec<' in r.content.decode()
    r = console.post("/admin/options/card-readers/derive", {"pairs": "a,b\nc,d"})
    assert r.status_code == 400 and "three or more pairs" in errors_of(r)
    r = console.post("/admin/options/card-readers/derive", {"pairs": "1,x\n2,y\n3,z\n"})
    assert r.status_code == 400 and "no chain of up to 3 steps" in errors_of(r)
    rule = ConversionRule.objects.get(name="door")
    ApiToken.objects.create(
        name="door-1", key_hash="x", prefix="x", scope="lookup", conversion_rule=rule
    )
    r = console.post("/admin/options/card-readers/rules/delete", {"name": "door"}, follow=True)
    assert "used by token(s) door-1" in r.content.decode()
    assert ConversionRule.objects.filter(name="door").exists()


# -- users -----------------------------------------------------------------------------------


def test_find_a_user_by_number_without_the_number_in_the_url(console):
    ann = make_user(username="ann", full_name="Ann Smith")
    give_number(ann, "73519604")
    make_user(username="bob", full_name="Bob Jones")
    r = console.post("/admin/users/", {"q": "73519604"})
    assert r.status_code == 302 and "73519604" not in r["Location"]
    page = console.get(r["Location"]).content.decode()
    assert 'id="number-holder">ann<' in page
    # The holder's row is in the table (the number matches no name), not "No users match".
    assert '<a href="/admin/users/' in page and ">ann</a></td>" in page
    assert "No users match" not in page and ">bob<" not in page
    r = console.post("/admin/users/", {"q": "Jones"})
    page = console.get("/admin/users/").content.decode()
    assert ">bob<" in page and ">ann<" not in page


def test_users_table_pages_and_sorts(console):
    for i in range(60):
        make_user(username=f"u{i:03d}")
    page1 = console.get("/admin/users/?sort=-username").content.decode()
    assert ">u059<" in page1 and ">u000<" not in page1 and "Page 1 of 2" in page1
    page2 = console.get("/admin/users/?sort=-username&page=2").content.decode()
    assert ">u000<" in page2
    assert console.get("/admin/users/?sort=password_hash").status_code == 200  # ignored


def test_edit_numbers_errors_beside_the_field_and_changes_nothing(console):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    give_number(ann, "11112222")
    give_number(bob, "33334444")
    r = console.post(f"/admin/users/{ann.pk}/numbers", {"primary": "33334444", "secondary": ""})
    assert r.status_code == 400
    beside = " ".join(r.context["numbers_form"].errors["primary"])
    assert "already belongs to another user" in beside
    assert numbers_of(ann) == {"primary": "11112222"}
    r = console.post(f"/admin/users/{ann.pk}/numbers", {"primary": "bad number!", "secondary": ""})
    assert r.status_code == 400 and errors_of(r)
    assert numbers_of(ann) == {"primary": "11112222"}
    r = console.post(f"/admin/users/{ann.pk}/numbers", {"primary": "55556666", "secondary": "777"})
    assert r.status_code == 302
    assert numbers_of(ann) == {"primary": "55556666", "secondary": "777"}
    ev = AuditEvent.objects.filter(target="ann", door="console").first()
    assert ev.actor == "root-admin" and "55556666" not in ev.detail


def test_generate_clear_and_pin_on_the_user_page(console):
    ann = make_user(username="ann")
    r = console.post(f"/admin/users/{ann.pk}/generate", {"slot": "tertiary"})
    assert r.status_code == 400 and "tertiary" in errors_of(r)
    r = console.post(f"/admin/users/{ann.pk}/generate", {"slot": "secondary", "notify": "on"})
    assert r.status_code == 302
    assert set(numbers_of(ann)) == {"secondary"}
    assert OutboxMessage.objects.filter(user=ann, reason="admin").exists()
    before = numbers_of(ann)
    # Replacing and clearing a number ask first; without the confirmation nothing changes.
    r = console.post(f"/admin/users/{ann.pk}/generate", {"slot": "secondary"})
    page = r.content.decode()
    assert r.status_code == 200 and "Replace ann&#x27;s secondary number" in page
    assert "stops working at terminals at once" in page and 'name="confirmed"' in page
    r = console.post(f"/admin/users/{ann.pk}/clear", {"slot": "secondary"})
    assert r.status_code == 200 and "Clear ann&#x27;s secondary number?" in r.content.decode()
    assert numbers_of(ann) == before
    r = console.post(f"/admin/users/{ann.pk}/generate", {"slot": "secondary", "confirmed": "yes"})
    assert r.status_code == 302 and numbers_of(ann)["secondary"] != before["secondary"]
    r = console.post(f"/admin/users/{ann.pk}/clear", {"slot": "secondary", "confirmed": "yes"})
    assert numbers_of(ann) == {}
    r = console.post(f"/admin/users/{ann.pk}/pin", {"pin": "12ab", "action": "set"})
    assert r.status_code == 400 and "digits" in errors_of(r)
    r = console.post(f"/admin/users/{ann.pk}/pin", {"pin": "", "action": "set"})
    assert r.status_code == 400 and "Remove PIN" in errors_of(r)
    ann.refresh_from_db()
    assert not ann.pin_hash
    r = console.post(f"/admin/users/{ann.pk}/pin", {"pin": "4321", "action": "set"})
    ann.refresh_from_db()
    assert r.status_code == 302 and ann.pin_hash and "4321" not in ann.pin_hash
    console.post(f"/admin/users/{ann.pk}/pin", {"pin": "", "action": "remove"})
    ann.refresh_from_db()
    assert not ann.pin_hash
    page = console.get(f"/admin/users/{ann.pk}/").content.decode()
    history = page[page.index("<tbody>", page.index("History")) :]
    # The user's history lists each change with who made it, newest first.
    rows = re.findall(
        r'<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td title="([^"]*)">([^<]*)</td>',
        history,
    )
    assert rows[:3] == [  # the event in words, its code beside it for the curious
        ("root-admin", "console", "pin.cleared", "PIN cleared"),
        ("root-admin", "console", "pin.set", "PIN set"),
        ("root-admin", "console", "card.cleared", "Card cleared"),
    ]


# -- Bulk User Actions, jobs -----------------------------------------------------------------


def test_bulk_form_validation(console):
    make_group("empty")
    cases = [
        ({"target": "group", "group": "nosuch"}, "group", "nosuch"),
        ({"target": "group", "group": "empty"}, "group", "no members"),
        ({"target": "users", "usernames": "ann\nghost"}, "usernames", "ghost"),
        ({"target": "users", "usernames": ""}, "usernames", "at least one user"),
        ({"target": "user", "user": "a b"}, "user", "one user"),
        ({"target": "everyone"}, "target", "Select a valid choice"),
    ]
    make_user(username="ann")
    for data, field, message in cases:
        body = {"action": "primary", "replace": "blank", **data}
        r = console.post("/admin/groups/bulk", body)
        assert r.status_code == 400, data
        assert message in " ".join(r.context["form"].errors.get(field, [])), (data, field)
    body = {"target": "user", "user": "ann", "action": "quaternary"}
    r = console.post("/admin/groups/bulk", body)
    assert "action" in r.context["form"].errors
    assert not Job.objects.exists()


def test_bulk_action_reviews_then_runs_as_a_job(console):
    members = [make_user() for _ in range(5)]
    give_number(members[0], "99887766")
    make_group("staff", members)
    body = {"target": "group", "group": "staff", "action": "primary", "replace": "blank"}
    r = console.post("/admin/groups/bulk", body)
    assert r.status_code == 200 and not Job.objects.exists()
    page = r.content.decode()
    assert "Group staff: 5 users" in page
    assert 'id="review-issue">4<' in page and 'id="review-skip">1<' in page
    r = console.post("/admin/groups/bulk", {**body, "confirmed": "True"})
    job = Job.objects.get()
    assert r["Location"] == f"/admin/jobs/{job.pk}/"
    page = console.get(r["Location"])
    assert b'hx-trigger="every 1s"' in page.content  # polls while the job waits
    assert Card.objects.count() == 1  # the page never does the job's work itself
    runner.run(job.pk)
    partial = console.get(r["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "hx-trigger" not in partial  # finished: polling stops
    assert "succeeded" in partial and "Numbers issued" in partial
    job.refresh_from_db()
    assert (job.counts["issued"], job.counts["skipped"], job.counts["failed"]) == (4, 1, 0)
    assert Card.objects.filter(slot="primary").count() == 5


def test_bulk_review_shows_the_refusal_before_any_job(console):
    make_group("many", [make_user() for _ in range(30)])
    config.set_value(key="cards.length", raw="4", actor=ADMIN)
    config.set_value(key="cards.max-guess-probability", raw="0.001", actor=ADMIN)
    body = {"target": "group", "group": "many", "action": "primary", "replace": "blank"}
    r = console.post("/admin/groups/bulk", body)
    assert r.status_code == 409 and not Job.objects.exists()
    assert "set “Length (digits)” (Options › Card/ID numbers) to 5" in r.content.decode()
    r = console.post("/admin/groups/bulk", {**body, "confirmed": "True"})
    assert r.status_code == 409 and not Job.objects.exists()


def test_a_reviewed_bulk_action_refuses_to_run_when_the_users_changed(console):
    members = [make_user() for _ in range(3)]
    make_group("staff", members)
    body = {"target": "group", "group": "staff", "action": "primary", "replace": "blank"}
    console.post("/admin/groups/bulk", {**body, "confirmed": "True"})
    job = Job.objects.get()
    give_number(members[0], "12121212")  # meanwhile someone numbers one of them
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "changed since the review" in job.error
    assert Card.objects.count() == 1


def test_print_from_the_group_page_gives_a_pdf_to_download(console):
    members = [make_user(full_name=f"Person {i}") for i in range(3)]
    for i, u in enumerate(members):
        give_number(u, f"5000000{i}")
    g = make_group("print-me", members)
    empty = make_group("nobody-numbered", [make_user()])
    r = console.post(f"/admin/groups/{empty.pk}/", {"slot": "primary", "paper": "a4"})
    assert r.status_code == 400 and "nothing to print" in r.content.decode()
    r = console.post(f"/admin/groups/{g.pk}/", {"slot": "primary", "paper": "a5"})
    assert r.status_code == 400 and "paper" in r.context["print_form"].errors
    r = console.post(f"/admin/groups/{g.pk}/", {"slot": "primary", "paper": "letter", "qr": "on"})
    job = Job.objects.get(kind="print")
    assert console.get(f"/admin/jobs/{job.pk}/download").status_code == 404  # not run yet
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    r = console.get(f"/admin/jobs/{job.pk}/download")
    body = b"".join(r.streaming_content)
    assert r.status_code == 200 and body.startswith(b"%PDF")
    assert job.counts["printed"] == 3


def test_print_from_the_user_list_needs_ticked_users(console):
    u = make_user(username="ann")
    give_number(u, "12345678")
    r = console.post("/admin/users/print", {"slot": "primary", "paper": "a4"})
    assert r.status_code == 400 and "tick the users" in r.content.decode()
    r = console.post("/admin/users/print", {"slot": "primary", "paper": "a4", "username": "ann"})
    assert r.status_code == 302 and Job.objects.filter(kind="print").exists()


# -- logs ------------------------------------------------------------------------------------


def test_notification_log_filters_and_retries(console):
    u = make_user(username="ann")
    OutboxMessage.objects.create(
        user=u,
        slot="primary",
        reason="admin",
        status="failed",
        last_error="550 mailbox unknown",
        created_at=__import__("django.utils.timezone").utils.timezone.now(),
    )
    page = console.get("/admin/notifications/?status=failed").content.decode()
    assert "550 mailbox unknown" in page and "failed (1)" in page
    msg = OutboxMessage.objects.get()
    r = console.post("/admin/notifications/?status=failed", {"id": [str(msg.pk)]})
    assert r.status_code == 302
    msg.refresh_from_db()
    assert msg.status == "pending"
    assert AuditEvent.objects.filter(action="notifications.retry", actor="root-admin").exists()


def test_audit_log_filters_and_exports_csv(console):
    a, b = make_user(username="ann"), make_user(username="bob")
    console.post(f"/admin/users/{a.pk}/numbers", {"primary": "12121212", "secondary": ""})
    console.post(f"/admin/users/{b.pk}/numbers", {"primary": "34343434", "secondary": ""})
    page = console.get("/admin/audit/?target=ann&door=console").content.decode()
    assert ">ann<" in page and ">bob<" not in page
    r = console.get("/admin/audit/?since=2026-05-02&until=2026-05-01")
    assert r.status_code == 400 and "before the start date" in errors_of(r)
    r = console.get("/admin/audit/export.csv?door=console")
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert rows[0] == ["at", "actor", "door", "action", "target", "detail"]
    assert {row[4] for row in rows[1:]} >= {"ann", "bob"}
    assert all(row[2] == "console" for row in rows[1:])
    assert not any("12121212" in cell for row in rows for cell in row)  # numbers masked


def test_every_page_renders(console, tmp_path):
    u = make_user(username="ann")
    g = make_group("staff", [u])
    from django.utils import timezone

    from cardid.directory.models import SyncRun

    run = SyncRun.objects.create(
        source="file", started_at=timezone.now(), actor="x", status="failed", message="boom"
    )
    job = Job.objects.create(kind="generate", params={}, created_by="x", description="d")
    for path in [
        "/admin/",
        "/admin/users/",
        f"/admin/users/{u.pk}/",
        "/admin/groups/",
        f"/admin/groups/{g.pk}/",
        "/admin/groups/bulk",
        "/admin/jobs/",
        f"/admin/jobs/{job.pk}/",
        "/admin/sync/",
        f"/admin/sync/{run.pk}/",
        "/admin/notifications/",
        "/admin/audit/",
        *[f"/admin/options/{p}" for p in ("sync", "notifications", "user-features")],
        *[f"/admin/options/{p}" for p in ("card-numbers", "card-readers", "security")],
        "/admin/tokens/",
        "/admin/users/import",
    ]:
        assert console.get(path).status_code == 200, path
    assert console.get("/admin/options/nosuch").status_code == 404
    assert console.get("/admin/users/999999/").status_code == 404


# -- import and export, API tokens -------------------------------------------------------------


def upload(text: str, name="numbers.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_import_numbers_all_or_nothing_with_every_problem_listed(console):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    make_user(username="cat")
    give_number(bob, "55550000")
    bad = "username,primary,secondary\nann,11110000,\nghost,22220000,\ncat,55550000,\n"
    r = console.post("/admin/users/import", {"file": upload(bad)})
    assert r.status_code == 400
    page = r.content.decode()
    assert "Nothing can be imported: 2 problems" in page and "import-apply" not in page
    assert "line 3: unknown user &#x27;ghost&#x27;" in page
    assert "line 4" in page and "bob" in page  # the number's current holder is named
    assert numbers_of(ann) == {}
    r = console.post("/admin/users/import", {"file": upload("ann\t11110000\t22220000\n")})
    assert r.status_code == 200
    assert "<strong>1</strong> user will get new numbers" in r.content.decode()
    assert numbers_of(ann) == {}  # the review changes nothing
    r = console.post("/admin/users/import/apply", follow=True)
    assert "Imported: 1 user(s) got new numbers" in r.content.decode()
    assert numbers_of(ann) == {"primary": "11110000", "secondary": "22220000"}
    r = console.post("/admin/users/import/apply", follow=True)  # applied once only
    assert "no reviewed import" in r.content.decode()
    # Reviewed, then the data moves: the import refuses and changes nothing.
    console.post("/admin/users/import", {"file": upload("cat,77770000\n")})
    give_number(bob, "77770000", slot="secondary")
    r = console.post("/admin/users/import/apply", follow=True)
    assert "Nothing was imported" in r.content.decode()
    assert numbers_of(User.objects.get(username="cat")) == {}
    r = console.post("/admin/users/import", {"file": upload("")})
    assert r.status_code == 400 and "empty" in errors_of(r)
    r = console.post("/admin/users/import", {})
    assert r.status_code == 400 and "required" in errors_of(r)


def test_export_numbers_as_csv_is_audited(console):
    ann = make_user(username="ann")
    give_number(ann, "12345678")
    make_user(username="bob")
    r = console.get("/admin/users/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert rows == [["username", "primary", "secondary"], ["ann", "12345678", ""], ["bob", "", ""]]
    assert AuditEvent.objects.filter(action="numbers.exported", actor="root-admin").exists()


def test_api_tokens_are_created_shown_once_and_revoked(console, client):
    ConversionRule.objects.create(name="door", chain="hex2dec", updated_by="x")
    cases = [
        ({"name": "", "scope": "lookup"}, "name", "required"),
        ({"name": "t1", "scope": "admin"}, "scope", "valid choice"),
        ({"name": "t1", "scope": "lookup", "allow": "10.0.0.300"}, "allow", "not an IP"),
        ({"name": "t1", "scope": "lookup", "conversion": "nosuch"}, "conversion", "valid choice"),
        ({"name": "t1", "scope": "lookup", "expires_days": "0"}, "expires_days", "greater than"),
    ]
    for data, field, message in cases:
        r = console.post("/admin/tokens/", data)
        assert r.status_code == 400, data
        assert message in " ".join(r.context["form"].errors.get(field, [])), (data, field)
    assert not ApiToken.objects.exists()
    r = console.post(
        "/admin/tokens/",
        {
            "name": "door-1",
            "scope": "lookup",
            "allow": "127.0.0.1 10.0.0.0/8",
            "conversion": "door",
        },
    )
    key = r.context["new_key"]
    assert r.status_code == 200 and key in r.content.decode()
    t = ApiToken.objects.get(name="door-1")
    assert key not in t.key_hash and t.conversion_rule.name == "door"
    assert key not in console.get("/admin/tokens/").content.decode()  # shown only once
    r = client.post(
        "/api/v1/lookup",
        {"number": "FF"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert r.status_code == 404  # the token works (255 is nobody's number)
    page = console.get("/admin/tokens/").content.decode()
    assert "<td>1</td>" in page  # the failed look-up is counted and visible
    r = console.post("/admin/tokens/", {"name": "door-1", "scope": "read"})
    assert r.status_code == 400 and "exists" in errors_of(r)
    console.post("/admin/tokens/revoke", {"name": "door-1"})
    t.refresh_from_db()
    assert t.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoked", actor="root-admin").exists()


def test_a_forged_versions_field_is_a_conflict_not_a_server_error(console):
    config.set_value(key="cards.length", raw="9", actor=ADMIN)
    data = options_post(console.get("/admin/options/card-numbers"), cards__length="11")
    for forged in ("[1, 2]", '"text"', "{not json", '{"cards.length": "x"}'):
        r = console.post("/admin/options/card-numbers", {**data, "versions": forged})
        assert r.status_code == 400, forged
    assert config.get("cards.length") == 9


JUNK = ["", "\x00", "x" * 5000, "𝔘ñí\u202e", "-1", "99999999999999999999", "[]", "{}", "../.."]


def test_no_console_form_answers_junk_with_a_server_error(console):
    u = make_user(username="ann")
    g = make_group("staff", [u])
    forms_and_fields = {
        "/admin/users/": ["q"],
        "/admin/users/print": ["username", "slot", "paper", "qr"],
        "/admin/users/import": ["dry_run"],
        f"/admin/users/{u.pk}/numbers": ["primary", "secondary"],
        f"/admin/users/{u.pk}/generate": ["slot", "notify"],
        f"/admin/users/{u.pk}/clear": ["slot"],
        f"/admin/users/{u.pk}/pin": ["pin", "action"],
        f"/admin/groups/{g.pk}/": ["slot", "paper", "qr"],
        "/admin/groups/bulk": ["target", "group", "usernames", "user", "action", "replace"],
        "/admin/options/notifications/preview": ["username", "notify.card.subject"],
        "/admin/options/notifications/test": ["address"],
        "/admin/options/card-readers/rules": ["name", "chain"],
        "/admin/options/card-readers/rules/delete": ["name"],
        "/admin/options/card-readers/try": ["chain", "value"],
        "/admin/options/card-readers/derive": ["pairs"],
        "/admin/options/card-numbers": ["cards.length", "versions", "cards.check-digit"],
        "/admin/options/security": ["console.admin-group", "api.lookup.max-misses"],
        "/admin/tokens/": ["name", "scope", "allow", "conversion", "expires_days"],
        "/admin/tokens/revoke": ["name"],
        "/admin/notifications/": ["id", "all"],
        "/admin/login": ["username", "password"],
    }
    console.raise_request_exception = False
    for url, fields in forms_and_fields.items():
        for junk in JUNK:
            r = console.post(url, {f: junk for f in fields})
            assert r.status_code < 500, (url, junk, r.status_code)
    for junk in JUNK:
        for path in (
            "/admin/audit/?since=",
            "/admin/audit/?target=",
            "/admin/users/?page=",
            "/admin/users/?sort=",
            "/admin/jobs/?sort=",
            "/admin/notifications/?status=",
            "/admin/groups/bulk?group=",
        ):
            assert console.get(path + junk).status_code < 500, (path, junk)
    assert config.get("cards.length") == 8 and numbers_of(u) == {}


def test_the_dashboard_names_a_mail_server_that_keeps_refusing_with_its_answer(console):
    user = make_user()
    for key, value in (
        ("notify.card-admin-generated", "true"),
        ("smtp.host", "mail.example.org"),
        ("smtp.from", "cardid@example.org"),
    ):
        config.set_value(key=key, raw=value, actor=ADMIN)
    page = console.get("/admin/").content.decode()
    assert 'id="warning-mail' not in page  # set up, nothing failing: no warning
    OutboxMessage.objects.create(
        user=user,
        slot="primary",
        reason="admin",
        created_at="2026-01-01T00:00Z",
        attempts=3,
        last_error="550 5.7.1 relaying denied",
    )
    page = console.get("/admin/").content.decode()
    assert 'id="warning-mail-failing"' in page
    assert "1 message(s) waiting); it last said: 550 5.7.1 relaying denied" in page
    config.set_value(key="smtp.host", raw="", actor=ADMIN)
    page = console.get("/admin/").content.decode()
    assert 'id="warning-mail-not-set"' in page and "no mail server is set" in page


def test_the_navigation_marks_the_current_page(console):
    ann = make_user(username="ann")
    for path, current in (
        ("/admin/", "Dashboard"),
        ("/admin/users/", "Users"),
        (f"/admin/users/{ann.pk}/", "Users"),
        ("/admin/options/notifications", "Notifications"),
    ):
        page = console.get(path).content.decode()
        marked = re.findall(r'aria-current="page">(?:<svg.*?</svg>)?(?:<span>)?([^<]+)<', page)
        assert marked == [current], (path, marked)


def test_the_guess_chance_reads_as_one_in_n(console):
    config.set_value(key="cards.length", raw="6", actor=ADMIN)
    for i in range(3):
        give_number(make_user(), f"{400000 + i * 7:06d}")
    page = console.get("/admin/").content.decode()
    # 3 of the 900,000 six-digit numbers that do not start with 0: 1 in 300,000.
    assert "1 in 300,000" in page and "allowed: 1 in 10,000, now at 3 % of it" in page


def test_the_root_leads_to_the_portal_and_the_log_in_helps_the_browser(client):
    r = client.get("/")
    assert r.status_code == 302 and r["Location"] == "/user/"
    page = client.get("/admin/login").content.decode()
    assert 'autocomplete="username"' in page and "autofocus" in page
    assert 'autocomplete="current-password"' in page


def test_a_failed_job_can_be_run_again_and_a_finished_one_cannot(console):
    ann = make_user(username="ann")
    group = make_group("leavers", [ann])
    target, _ = batches.resolve(kind="group", group="leavers")
    job = batches.generate(target=target, slot="primary", replace=False, notify=False, actor=ADMIN)
    group.delete()
    job = runner.run(job.pk)
    assert job.status == "failed"
    page = console.get(f"/admin/jobs/{job.pk}/").content.decode()
    assert 'id="run-again"' in page and "unknown group" in page
    make_group("leavers", [ann])  # the administrator puts the group back
    r = console.post(f"/admin/jobs/{job.pk}/again")
    again = Job.objects.exclude(pk=job.pk).get()
    assert r.status_code == 302 and r["Location"] == f"/admin/jobs/{again.pk}/"
    assert again.kind == "generate" and again.created_by.startswith("root-admin")
    assert runner.run(again.pk).status == "succeeded" and "primary" in numbers_of(ann)
    r = console.post(f"/admin/jobs/{again.pk}/again", follow=True)
    assert "Only a failed job can be run again." in r.content.decode()
    assert Job.objects.count() == 2


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def test_branding_names_the_organisation_in_the_console_the_portal_and_e_mails(
    console, client, tmp_path
):
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("not an image")
    r = console.post(
        "/admin/options/branding",
        {"branding.name": "Northfield College", "branding.logo": str(tmp_path / "notes.txt")},
    )
    assert r.status_code == 400 and "is not a PNG, JPEG or SVG file" in errors_of(r)
    r = console.post(
        "/admin/options/branding",
        {"branding.name": "Northfield College", "branding.logo": str(logo)},
    )
    assert r.status_code == 302
    page = console.get("/admin/").content.decode()
    assert "<strong>Northfield College</strong> console" in page and 'src="/branding/logo"' in page
    portal = client.get("/user/login").content.decode()
    assert (
        "<strong>Northfield College</strong>" in portal and "· Northfield College</title>" in portal
    )
    served = client.get("/branding/logo")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG
    ann = make_user(username="ann", full_name="Ann")
    give_number(ann, "61001234")
    config.set_value(key="notify.card.subject", raw="%organisation%: your number", actor=ADMIN)
    r = console.post("/admin/options/notifications/preview", {"username": "ann"})
    assert "Northfield College: your number" in r.content.decode()
