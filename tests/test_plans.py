"""Preview, then apply (SPEC §2, §8): a dry run prints what the real run prints, with the
same values — refusals included — because both are the same plan. Runs on SQLite and on
PostgreSQL (the suite's two passes)."""

import json

import pytest

from cardid.cards import batches, generation
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.models import User
from cardid.jobs import runner
from cardid.jobs.models import Job
from cardid.notifications.models import OutboxMessage
from tests.factories import ADMIN, give_number, make_group, make_user, numbers_of

pytestmark = pytest.mark.django_db


def run_json(cli, *args):
    r = cli(*args, "--format", "json")
    return r.code, json.loads(r.out)


def setting(**values):
    for key, value in values.items():
        config.set_value(key=key.replace("__", ".").replace("_", "-"), raw=value, actor=ADMIN)


# -- generate ---------------------------------------------------------------------------------


def test_generate_dry_run_prints_what_the_real_run_prints(cli):
    staff = [make_user() for _ in range(6)]
    staff[0].email = staff[1].email = ""
    staff[0].save()
    staff[1].save()
    give_number(staff[2], "31415926")
    make_group("staff", staff)
    args = ("generate", "--group", "staff", "--notify")
    code, dry = run_json(cli, *args, "--dry-run")
    assert code == 0 and Card.objects.count() == 1 and not OutboxMessage.objects.exists()
    code, real = run_json(cli, *args)
    assert code == 0 and dry == real
    assert real == {
        "users": 6,
        "issued": 5,
        "skipped": 1,
        "failed": 0,
        "notifications": 5,
        "without_email": 2,
        "refused": None,
    }
    assert Card.objects.count() == 6 and OutboxMessage.objects.count() == 5


def test_a_refused_generation_is_refused_alike_by_the_dry_run(cli):
    for _ in range(30):
        make_user()
    setting(cards__length="4", cards__max_guess_probability="0.001")
    dry_code, dry = run_json(cli, "generate", "--all", "--dry-run")
    real_code, real = run_json(cli, "generate", "--all")
    assert dry_code == real_code == 1 and dry == real
    assert "set cards.length to 5" in real["refused"] and real["issued"] == 0
    assert Card.objects.count() == 0 and not Job.objects.exists()  # refused before a job


def test_replacing_counts_the_numbers_it_retires(cli):
    # 9 fit at 4 digits with 1 in 1,000; 9 users hold one each: replacing them all fits,
    # because the old ones leave as the new ones come.
    users = [make_user() for _ in range(9)]
    for i, u in enumerate(users):
        give_number(u, f"{5000 + 7 * i}")
    setting(
        cards__length="4", cards__max_guess_probability="0.001", cards__retired_quarantine_days="0"
    )
    code, dry = run_json(cli, "generate", "--all", "--replace", "--dry-run")
    code2, real = run_json(cli, "generate", "--all", "--replace")
    assert code == code2 == 0 and dry == real and real["issued"] == 9


def test_the_console_review_shows_the_plan_the_job_carries_out(console):
    members = [make_user() for _ in range(4)]
    give_number(members[0], "27182818")
    members[1].email = ""
    members[1].save()
    make_group("lab", members)
    body = {
        "target": "group",
        "group": "lab",
        "action": "primary",
        "replace": "blank",
        "notify": "on",
    }
    page = console.post("/admin/groups/bulk", body).content.decode()
    plan = batches.review(
        target=batches.Target("group", group="lab"), slot="primary", replace=False, notify=True
    )
    assert f'id="review-issue">{plan.to_issue}<' in page and plan.to_issue == 3
    assert f'id="review-skip">{plan.figures()["skipped"]}<' in page
    assert "1 of these users have no e-mail address" in page
    console.post("/admin/groups/bulk", {**body, "confirmed": "True"})
    job = Job.objects.get()
    runner.run(job.pk)
    job.refresh_from_db()
    assert {k: job.counts[k] for k in generation.FIGURES} == plan.figures()


# -- import-numbers ---------------------------------------------------------------------------


def test_import_dry_run_prints_what_the_real_run_prints(cli, tmp_path):
    ann, ben = make_user(username="ann"), make_user(username="ben")
    make_user(username="cat")
    give_number(ben, "2002")
    f = tmp_path / "numbers.csv"
    f.write_text("username,primary,secondary\nann,1001,A1\nben,2002,\ncat,,\n")
    code, dry = run_json(cli, "import-numbers", str(f), "--dry-run")
    assert code == 0 and numbers_of(ann) == {}
    code, real = run_json(cli, "import-numbers", str(f))
    assert code == 0 and dry == real
    assert real == {"users": 3, "changed": 1, "unchanged": 2, "errors": [], "refused": None}
    assert numbers_of(ann) == {"primary": "1001", "secondary": "A1"}


def test_a_refused_import_is_refused_alike_by_the_dry_run(cli, tmp_path):
    make_user(username="ann")
    give_number(make_user(username="ben"), "2002")
    f = tmp_path / "numbers.csv"
    f.write_text("ann,2002\nghost,3003\n")
    dry_code, dry = run_json(cli, "import-numbers", str(f), "--dry-run")
    real_code, real = run_json(cli, "import-numbers", str(f))
    assert dry_code == real_code == 1 and dry == real
    assert real["refused"] == "2 problem(s) in the file; nothing was imported"
    assert real["errors"] == [
        "line 2: unknown user 'ghost'",
        "line 1: number already belongs to ben (primary); free it first or leave it out of "
        "the file",
    ]


# -- sync -------------------------------------------------------------------------------------


def source(tmp_path, rows: list[str], **opts):
    f = tmp_path / "users.csv"
    f.write_text("username,full-name,email,primary-card\n" + "".join(r + "\n" for r in rows))
    setting(sync__source="file", sync__file__path=str(f), **opts)


def test_sync_dry_run_foresees_auto_generation_and_notifications(cli, tmp_path):
    # Existing: a user of the source who keeps a number, one who will be disabled.
    keep = make_user(username="kim", source="file")
    give_number(keep, "88776655")
    make_user(username="gone", source="file")
    for i in range(8):
        make_user(username=f"stay{i}", source="file")
    source(
        tmp_path,
        [
            "kim,Kim,kim@example.org,",
            "ann,Ann,ann@example.org,12121212",
            "bob,Bob,,",
            "cy,Cy,cy@example.org,",
        ]
        + [f"stay{i},S,s{i}@example.org," for i in range(8)],
        sync__auto_generate_primary_when_blank="true",
        notify__card_auto_generated="true",
        sync__missing_users="disable",
        sync__guard__max_removal_percent="20",
    )
    code, dry = run_json(cli, "sync", "--dry-run")
    assert code == 0 and not User.objects.filter(username="ann").exists()
    code, real = run_json(cli, "sync")
    assert code == 0 and dry == real
    assert real == {
        "added": 3,
        "updated": 9,  # kim's details, and the eight stayers'
        "disabled": 1,
        "deleted": 0,
        "numbers_imported": 1,
        "numbers_generated": 10,  # bob, cy and the eight stayers; kim and ann hold one
        "notifications": 10,
        "without_email": 1,
        "refused": None,
    }
    assert OutboxMessage.objects.count() == 10
    assert Card.objects.filter(origin="generated").count() == 10


def test_sync_dry_run_foresees_a_refused_auto_generation_counting_imported_numbers(cli, tmp_path):
    # 9 numbers fit at 4 digits with 1 in 1,000. Five come from the source; five more
    # would be generated: ten do not fit — but only if the imported ones are counted.
    rows = [f"u{i},U,u{i}@example.org,{4000 + 11 * i}" for i in range(5)]
    rows += [f"v{i},V,v{i}@example.org," for i in range(5)]
    source(
        tmp_path,
        rows,
        sync__auto_generate_primary_when_blank="true",
        cards__length="4",
        cards__max_guess_probability="0.001",
    )
    dry_code, dry = run_json(cli, "sync", "--dry-run")
    assert User.objects.count() == 0
    real_code, real = run_json(cli, "sync")
    assert dry_code == real_code == 1 and dry == real
    assert real["numbers_imported"] == 5 and real["numbers_generated"] == 0
    assert "set cards.length to 5" in real["refused"]
    # The directory itself was synced (leavers must not wait for a number policy).
    assert User.objects.count() == 10 and Card.objects.count() == 5


def test_a_guard_stop_is_the_same_in_the_dry_run(cli, tmp_path):
    for i in range(10):
        make_user(username=f"old{i}", source="file")
    source(tmp_path, ["old0,O,o@example.org,"], sync__missing_users="delete")
    dry_code, dry = run_json(cli, "sync", "--dry-run")
    real_code, real = run_json(cli, "sync")
    assert dry_code == real_code == 1 and dry == real
    assert real["refused"].startswith("sync stopped: 90% of users would be deleted")
    assert User.objects.count() == 10


def test_the_console_sync_review_is_what_the_sync_does(console, tmp_path):
    source(
        tmp_path,
        ["ann,Ann,ann@example.org,", "bob,Bob,bob@example.org,"],
        sync__auto_generate_primary_when_blank="true",
    )
    r = console.post("/admin/options/sync/run")
    review = runner.run(Job.objects.get().pk)
    assert not User.objects.exists()
    page = console.get(r["Location"]).content.decode()
    assert 'id="sync-apply"' in page
    console.post(f"/admin/options/sync/apply/{review.pk}")
    job = Job.objects.exclude(pk=review.pk).get()
    runner.run(job.pk)
    job.refresh_from_db()
    figures = ("added", "numbers_generated", "notifications", "refused")
    assert {k: job.counts[k] for k in figures} == {k: review.counts[k] for k in figures}
    assert job.counts["numbers_generated"] == 2 == Card.objects.count()


def test_a_reviewed_sync_stops_when_the_directory_changed_since(console, tmp_path):
    source(tmp_path, ["ann,Ann,ann@example.org,"])
    console.post("/admin/options/sync/run")
    review = Job.objects.get()
    runner.run(review.pk)
    source(tmp_path, ["ann,Ann,ann@example.org,", "eve,Eve,eve@example.org,"])
    console.post(f"/admin/options/sync/apply/{review.pk}")
    job = Job.objects.exclude(pk=review.pk).get()
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "changed since the dry run" in job.error
    assert not User.objects.exists()
