"""The console in a real browser (Playwright driving Debian's Chromium) against the real
server: `cardid serve` (gunicorn and its task worker) on a loopback port, sharing the test
database. Screenshots of the main pages go to test-artifacts/; axe-core checks each page."""

import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model

from cardid.cards.models import Card
from cardid.config import services as config
from cardid.config.screens import PAGES
from cardid.directory.models import User
from cardid.jobs import services as jobs
from tests.browser import NEEDS_CHROMIUM, chromium_page, overflowing, screenshot
from tests.conftest import free_port
from tests.factories import ADMIN, give_number, make_group, make_user
from tests.mailserver import MailServer
from tests.ops.test_serve import get_json, wait_for

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
pytestmark = [pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]
expect = playwright.expect
PASSWORD = "console-password-1"


@pytest.fixture
def server(subprocess_env):
    """`cardid serve` with its worker, as an administrator deploys it."""
    get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cardid", "serve", "--port", str(port), "--workers", "2"],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get_json(f"{url}/healthz"), what="cardid serve")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        err = proc.stderr.read().decode(errors="replace")
        assert "Traceback" not in err, err[-3000:]


@pytest.fixture
def page():
    with chromium_page() as p:
        yield p


def accessible(page) -> None:
    """No serious or critical axe-core violation on the page as shown."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['html'][:120]})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: " + "; ".join(bad)


def log_in(page, url) -> None:
    page.goto(f"{url}/admin/")
    expect(page.get_by_role("heading", name="Administrator log-in")).to_be_visible()
    accessible(page)
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def wait_for_job(page) -> None:
    """On a job page: the progress bar fills and the status says succeeded (htmx polling)."""
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=60_000)
    bar = page.locator("#job-bar")
    assert bar.get_attribute("value") == bar.get_attribute("max")


def test_configure_file_sync_with_auto_generation_sync_now_and_find_by_number(
    server, page, tmp_path
):
    users_file = tmp_path / "users.csv"
    users_file.write_text(
        "username,full-name,email,department,groups\n"
        + "".join(
            f"student{i:02d},Student {i:02d},student{i:02d}@example.org,Physics,pupils\n"
            for i in range(25)
        )
    )
    log_in(page, server)
    screenshot(page, "console-dashboard")
    accessible(page)

    page.get_by_role("link", name="User/Group Sync", exact=True).click()
    expect(page.get_by_role("heading", name="User/Group Sync")).to_be_visible()
    page.get_by_label("Sync source").select_option("file")
    page.get_by_label("Users file").fill(str(users_file))
    page.get_by_label("Auto-generate random primary Card/ID number when blank").check()
    # A bad value first: the error appears beside its field and nothing is saved.
    page.get_by_label("Daily sync at (HH:MM, or off)").fill("25:99")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#id_sync\\.schedule_error")).to_contain_text("HH:MM")
    assert config.get("sync.source") == "none"
    page.get_by_label("Daily sync at (HH:MM, or off)").fill("off")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Applied")
    assert config.get("sync.source") == "file"
    assert config.get("sync.auto-generate-primary-when-blank") is True
    accessible(page)
    screenshot(page, "console-options-sync")

    page.get_by_role("button", name="Test connection").click()  # htmx: the result box only
    expect(page.locator("#sync-result")).to_contain_text("users.csv")

    page.get_by_role("button", name="Sync now").click()  # first the review: a dry run
    heading = page.get_by_role("heading", name=re.compile(r"Job \d+: user.group sync \(dry run"))
    expect(heading).to_be_visible()
    wait_for_job(page)
    expect(page.locator("#sync-apply")).to_be_visible()
    assert User.objects.count() == 0
    screenshot(page, "console-job-sync-review")
    page.get_by_role("button", name="Sync now").click()
    expect(
        page.get_by_role("heading", name=re.compile(r"Job \d+: user.group sync$"))
    ).to_be_visible()
    wait_for_job(page)
    screenshot(page, "console-job-sync")
    assert User.objects.count() == 25
    assert Card.objects.filter(slot="primary").count() == 25

    page.get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("link", name="student00")).to_be_visible()
    primaries = page.locator("td.num").all_inner_texts()
    assert sum(1 for t in primaries if re.fullmatch(r"\d{8}", t)) >= 25
    accessible(page)
    screenshot(page, "console-users")

    wanted = User.objects.get(username="student17")
    number = Card.objects.get(user=wanted, slot="primary").number
    page.get_by_label("Username, name or Card/ID number").fill(number)
    page.get_by_role("button", name="Search").click()
    assert number not in page.url  # a number never travels in a URL
    page.locator("#number-holder").click()
    expect(page.get_by_role("heading", name="student17")).to_be_visible()
    expect(page.get_by_label("Primary Card/ID number")).to_have_value(number)
    accessible(page)
    screenshot(page, "console-user")

    page.get_by_role("link", name="Card readers", exact=True).click()
    page.get_by_label("Steps (or a rule's name)").fill("reverse-bytes,hex2dec")
    page.get_by_label("Value as the reader sends it").fill("XYZ")
    page.get_by_role("button", name="Try").click()  # htmx swaps the refused form in
    expect(page.locator("#try-result .errorlist")).to_contain_text("XYZ")
    page.get_by_label("Value as the reader sends it").fill("04A1B2C3")
    page.get_by_role("button", name="Try").click()
    expect(page.locator("#try-output")).to_have_text("04A1B2C3 → 3283263748")

    pages = ("Sync history", "Audit log", "Jobs", "Card/ID numbers", "Card readers")
    for name in (*pages, "API tokens", "Import and export numbers", "General › Security"):
        page.get_by_role("link", name=name, exact=True).click()
        accessible(page)
        screenshot(page, "console-" + name.lower().replace("/", "-").replace(" ", "-"))


def test_notification_settings_test_mail_and_a_notified_bulk_action(server, page):
    mail = MailServer().start()
    try:
        members = [make_user(username=f"teacher{i}", email=f"t{i}@example.org") for i in range(3)]
        make_group("teachers", members)
        log_in(page, server)
        page.get_by_role("link", name="Notifications", exact=True).click()
        expect(page.get_by_role("group", name="Card/ID Number Notification")).to_be_visible()
        page.get_by_label("SMTP server").fill("127.0.0.1")
        page.get_by_label("Port").fill(str(mail.port))
        page.get_by_label("Sender address").fill("cards@example.org")
        page.get_by_label("Notify users when an administrator generates their number").check()
        page.get_by_role("group", name="Card/ID Number Notification").get_by_label("Subject").fill(
            "Your card for %full_name%"
        )
        page.get_by_role("button", name="Apply", exact=True).click()
        expect(page.get_by_role("status").first).to_contain_text("Applied")
        accessible(page)
        screenshot(page, "console-options-notifications")

        page.get_by_label("Send a test e-mail to").fill("admin@example.org")
        page.get_by_role("button", name="Send test e-mail").click()
        expect(page.locator("#test-result")).to_contain_text("250")
        assert [m.recipients for m in mail.received] == [["admin@example.org"]]

        page.get_by_role("link", name="Bulk User Actions").first.click()
        page.get_by_role("combobox", name="Group").select_option("teachers")
        page.get_by_label("Notify the users by e-mail").check()
        page.get_by_role("button", name="Review").click()
        expect(page.get_by_text("Group teachers: 3 users")).to_be_visible()
        expect(page.locator("#review-issue")).to_have_text("3")
        page.get_by_role("button", name="Confirm and start").click()
        wait_for_job(page)
        wait_for(lambda: len(mail.received) == 4, timeout=60, what="three notifications")
        got = {m.recipients[0]: m.message for m in mail.received[1:]}
        assert set(got) == {"t0@example.org", "t1@example.org", "t2@example.org"}
        number = Card.objects.get(user=members[0], slot="primary").number
        assert got["t0@example.org"]["Subject"] == f"Your card for {members[0].full_name}"
        assert number in got["t0@example.org"].get_payload(decode=True).decode()
        page.get_by_role("link", name="Notification log").click()
        expect(page.get_by_role("link", name="sent (3)")).to_be_visible()
        accessible(page)
        screenshot(page, "console-notification-log")
    finally:
        mail.stop()


def test_bulk_action_on_a_large_group_shows_progress_until_done(server, page):
    users = User.objects.bulk_create(
        [
            User(username=f"pupil{i:05d}", username_key=f"pupil{i:05d}", full_name=f"Pupil {i}")
            for i in range(5000)
        ]
    )
    make_group("year-7", users)
    config.set_value(key="cards.length", raw="10", actor=ADMIN)
    log_in(page, server)
    page.goto(f"{server}/admin/groups/")
    row = page.get_by_role("row", name=re.compile("year-7"))
    row.get_by_role("link", name="Bulk User Actions").click()
    expect(page.get_by_role("combobox", name="Group")).to_have_value("year-7")
    page.get_by_label("Generate random secondary Card/ID number").check()
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_text("Group year-7: 5,000 users")).to_be_visible()
    expect(page.locator("#review-issue")).to_have_text("5,000")
    accessible(page)
    page.get_by_role("button", name="Confirm and start").click()
    expect(page.locator("#job-bar")).to_be_visible()
    screenshot(page, "console-job-bulk-running")
    wait_for_job(page)
    expect(page.locator("#job-counts")).to_contain_text("5,000")
    expect(page.locator("#job-announce")).to_have_text("The job has succeeded.")
    accessible(page)
    screenshot(page, "console-job-bulk")
    assert Card.objects.filter(slot="secondary").count() == 5000


def test_the_console_guides_a_new_administrator_to_what_cannot_work(subprocess_env):
    """No administrator yet: the log-in page says how to make one. Then a set-up that cannot
    work — notifications on with no mail server, auto-generation with no sync source, more
    enabled users than the guess bound allows at 4 digits, a job with no worker — is named
    on the dashboard, in screen words, on a desktop and on a phone."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cardid", "serve", "--port", str(port), "--no-worker"],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get_json(f"{url}/healthz"), what="cardid serve")
        with chromium_page() as page:
            page.goto(f"{url}/admin/")
            hint = page.locator("#first-admin")
            expect(hint).to_contain_text("No administrator exists yet")
            expect(hint).to_contain_text("cardid init --admin NAME --password-file FILE")
            accessible(page)
            screenshot(page, "console-login-first-admin")
            page.set_viewport_size({"width": 390, "height": 844})
            screenshot(page, "console-login-first-admin-390")
            page.set_viewport_size({"width": 1280, "height": 900})

            get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True)
            for key, value in (
                ("notify.card-admin-generated", "true"),
                ("sync.auto-generate-primary-when-blank", "true"),
                ("cards.length", "4"),
            ):
                config.set_value(key=key, raw=value, actor=ADMIN)
            for _ in range(12):
                make_user()
            jobs.submit(kind="generate", params={}, actor=ADMIN, description="waits")
            page.reload()
            expect(page.locator("#first-admin")).to_have_count(0)
            log_in(page, url)
            expected = {
                "mail-not-set": "no mail server is set",
                "auto-generation-without-source": "no sync source is chosen",
                "beyond-guess-bound": re.compile(
                    r"at 4 digits only .* set the length to \d+ digits"
                ),
                "no-worker": "1 job(s) wait, but no task worker",
            }
            for key, words in expected.items():
                expect(page.locator(f"#warning-{key}")).to_contain_text(words)
            text = page.locator("main").inner_text()
            assert "cardid " not in text and "smtp.host" not in text and "sync.source" not in text
            accessible(page)
            screenshot(page, "console-dashboard-warnings")
            page.set_viewport_size({"width": 390, "height": 844})
            screenshot(page, "console-dashboard-warnings-390")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_every_page_fits_a_phone_marks_where_you_are_and_is_accessible(server, page):
    """Each main page of the console at 1280 px and at 390 px: the page itself never wider
    than the screen (a wide table scrolls inside its own box), the current page marked in
    the navigation with its icon drawn, no serious axe-core violation. Screenshots of both
    go to test-artifacts/."""
    from cardid.jobs.models import Job

    people = [
        make_user(
            username=f"person{i:02d}",
            full_name=f"A Person With A Rather Long Name Number {i}",
            department="Department of Very Long Names and Extended Studies",
        )
        for i in range(30)
    ]
    group = make_group("Staff", members=people)
    ann = people[0]
    give_number(ann, "31415926")
    job = jobs.submit(
        kind="generate", params={}, description="Example job", actor=ADMIN, queue=False
    )
    Job.objects.filter(pk=job.pk).update(status="failed", error="an example failure")
    _some_deliveries(ann)
    pages = {
        "dashboard": "/admin/",
        "users": "/admin/users/?q=person",
        "user": f"/admin/users/{ann.pk}/",
        "import": "/admin/users/import",
        "groups": "/admin/groups/",
        "group": f"/admin/groups/{group.pk}/",
        "bulk": "/admin/groups/bulk",
        "tokens": "/admin/tokens/",
        "webhooks": "/admin/webhooks",
        "jobs": "/admin/jobs/",
        "job": f"/admin/jobs/{job.pk}/",
        "sync-history": "/admin/sync/",
        "notification-log": "/admin/notifications/",
        "audit": "/admin/audit/",
        **{f"options-{slug}": f"/admin/options/{slug}" for slug in PAGES},
    }
    log_in(page, server)
    for name, path in pages.items():
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{server}{path}")
        current = page.locator("nav.side [aria-current=page]")
        expect(current).to_have_count(1)
        assert current.locator("svg.icon").bounding_box()["width"] > 0, name
        accessible(page)
        screenshot(page, f"console-page-{name}")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, f"console-page-{name}-390")
        wide = overflowing(page)
        assert not wide, f"{name}: wider than a 390 px screen: {wide}"


def test_what_cannot_be_undone_asks_first_and_choices_show_only_their_fields(server, page):
    """Clear and Replace ask first, and Cancel changes nothing; Bulk User Actions shows the
    field of the chosen target only ([All Users] needs none; a group is chosen from a list)
    and a plan the guess bound refuses is refused at the review, before any job; the sync
    page shows the chosen source's settings only, and follows a new choice at once."""
    ann = make_user(username="ann", full_name="Ann")
    give_number(ann, "31415926")
    make_group("Staff", members=[ann, make_user(username="bob")])
    log_in(page, server)

    page.goto(f"{server}/admin/users/{ann.pk}/")
    page.get_by_role("button", name="Clear primary number").click()
    expect(page.get_by_role("heading", name="Clear ann's primary number?")).to_be_visible()
    screenshot(page, "console-confirm-clear")
    page.get_by_role("link", name="Cancel").click()
    primary = page.get_by_label("Primary Card/ID number")
    expect(primary).to_have_value("31415926")
    page.get_by_role("button", name="Generate random number").first.click()
    expect(page.get_by_role("heading", name=re.compile("Replace ann's primary"))).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    assert Card.objects.get(user=ann, slot="primary").number == "31415926"
    page.get_by_role("button", name="Clear primary number").click()
    page.get_by_role("button", name="Clear the primary number").click()
    expect(primary).to_have_value("")
    assert not Card.objects.filter(user=ann, slot="primary").exists()

    page.goto(f"{server}/admin/groups/bulk")
    group = page.get_by_label("Group", exact=True)
    users = page.get_by_label("Users (one per line)")
    page.get_by_label("[All Users]").check()
    expect(group).to_be_hidden()
    expect(users).to_be_hidden()
    page.get_by_label("A list of users").check()
    expect(users).to_be_visible()
    expect(group).to_be_hidden()
    page.get_by_label("A group").check()
    expect(group).to_be_visible()
    assert group.evaluate("e => e.tagName") == "SELECT"
    group.select_option("Staff")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review-issue")).to_have_text("2")
    # A bound that two more numbers would break: refused at the review, nothing queued.
    config.set_value(key="cards.length", raw="4", actor=ADMIN)
    config.set_value(key="cards.max-guess-probability", raw="0.0002", actor=ADMIN)
    for i in range(2):
        give_number(make_user(), f"{5000 + i}")
    page.goto(f"{server}/admin/groups/bulk")
    page.get_by_label("[All Users]").check()
    page.get_by_role("button", name="Review").click()
    refused = page.locator("#review-refused")
    expect(refused).to_contain_text("This cannot run")
    expect(refused).to_contain_text("“Length (digits)” (Options › Card/ID numbers)")
    expect(refused).not_to_contain_text("cards.length")
    expect(page.get_by_role("button", name="Confirm and start")).to_have_count(0)
    screenshot(page, "console-bulk-refused")

    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    page.goto(f"{server}/admin/options/sync")
    expect(page.get_by_label("Users file")).to_be_visible()
    expect(page.get_by_label("Server URL")).to_be_hidden()
    page.get_by_label("Sync source").select_option("ldap")
    expect(page.get_by_label("Server URL")).to_be_visible()
    expect(page.get_by_label("Users file")).to_be_hidden()
    screenshot(page, "console-sync-source-ldap")


def _some_deliveries(user) -> None:
    """A webhook with a long URL and deliveries in each state, for the Webhooks page."""
    from django.utils import timezone

    from cardid.outbound.models import Delivery, Webhook

    hook = Webhook.objects.create(
        url="https://tills.canteen.example.org/integrations/cardid/webhooks/receive?site=north",
        events=["card.issued", "card.changed", "card.cleared"],
        secret="sealed",
    )
    now = timezone.now()
    for i, (status, error) in enumerate(
        [
            ("sent", ""),
            ("pending", "tills.canteen.example.org did not answer: connection refused"),
            ("failed", "the receiver redirected to https://elsewhere.example.net/a/very/long/path"),
        ]
    ):
        Delivery.objects.create(
            lane=f"webhook:{hook.pk}",
            webhook=hook,
            user=user,
            user_key=user.username_key,
            event="card.issued",
            message_id=f"msg_example{i}",
            status=status,
            last_error=error,
            created_at=now,
        )
    Delivery.objects.create(
        lane="directory",
        user=user,
        user_key=user.username_key,
        event="write-back",
        message_id="msg_example_dir",
        status="failed",
        last_error="the directory refused to write uid=person00,ou=people,dc=example,dc=org: "
        "insufficientAccessRights",
        created_at=now,
    )


def test_the_language_switch_and_german_pages_on_a_phone(server, page):
    """The switch on every page changes the language and it stays; German, whose words are
    long, fits a 390 px screen on the main pages of the console and the portal."""
    ann = make_user(username="ann", full_name="Ann Smith")
    give_number(ann, "31415926")
    log_in(page, server)
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "de"
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/admin/",
        f"/admin/users/{ann.pk}/",
        "/admin/options/sync",
        "/admin/options/notifications",
        "/admin/options/sign-in",
        "/admin/webhooks",
        "/admin/groups/bulk",
    ):
        page.goto(f"{server}{path}")
        assert page.locator("html").get_attribute("lang") == "de"
        wide = overflowing(page)
        assert not wide, f"{path} in German: wider than a 390 px screen: {wide}"
    screenshot(page, "console-de-notifications-390")
    page.goto(f"{server}/admin/options/notifications")
    screenshot(page, "console-de-notifications-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "console-de-notifications")
    page.goto(f"{server}/user/login")
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    page.get_by_role("button", name="Français").click()
    expect(page.get_by_role("heading", name="Se connecter")).to_be_visible()
    screenshot(page, "portal-fr-login")
