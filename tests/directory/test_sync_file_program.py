"""Sync from a text file and from a custom user-directory program (a real executable)."""

import stat
import sys
from datetime import datetime

import pytest
from django.utils import timezone

from cardid.config import services as config
from cardid.directory.models import Group, SyncRun, User
from cardid.jobs.models import Job
from cardid.ops import periodic
from cardid.sync import engine, schedule
from tests.factories import ADMIN, numbers_of

pytestmark = pytest.mark.django_db
SYNC = __import__("cardid.audit.actor", fromlist=["Actor"]).Actor("sync-test", "sync")


def set_options(**options):
    for k, v in options.items():
        config.set_value(key=k.replace("_", "-").replace("--", "."), raw=v, actor=ADMIN)


def use_file(path):
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    config.set_value(key="sync.file.path", raw=str(path), actor=ADMIN)


# -- text file --------------------------------------------------------------------------------


def test_csv_with_bom_and_groups(tmp_path):
    f = tmp_path / "users.csv"
    f.write_bytes(
        "\ufeffusername,full-name,email,primary-card,groups\n"
        "ann,Ann Smith,ann@x.org,1001,staff;lab\nbob,Bob,bob@x.org,,staff\n".encode()
    )
    use_file(f)
    result = engine.run(actor=SYNC)
    assert result.ok and result.counts["added"] == 2
    assert numbers_of(User.objects.get(username="ann")) == {"primary": "1001"}
    assert Group.objects.get(name="staff").users.count() == 2


def test_card_numbers_from_the_source_go_through_the_sync_conversion_rule(tmp_path, cli):
    f = tmp_path / "users.csv"
    f.write_text("username,primary-card\nann,C3B2A104\nbob,not-hex\n")
    use_file(f)
    cli("cards", "rules", "set", "mifare", "reverse-bytes,hex2dec,pad:10")
    config.set_value(key="sync.card-conversion", raw="mifare", actor=ADMIN)
    result = engine.run(actor=SYNC)
    assert numbers_of(User.objects.get(username="ann")) == {"primary": "0077705923"}
    assert any("bob" in e and "hexadecimal" in e for e in result.errors)
    config.set_value(key="sync.card-conversion", raw="gone", actor=ADMIN)
    result = engine.run(actor=SYNC)
    assert result.status == "failed" and "no rule named 'gone'" in result.message


def test_tab_separated_file(tmp_path):
    f = tmp_path / "users.tsv"
    f.write_text("username\tfull-name\tsecondary-card\nann\tAnn\tABCD\n")
    use_file(f)
    assert engine.run(actor=SYNC).ok
    assert numbers_of(User.objects.get(username="ann")) == {"secondary": "ABCD"}


@pytest.mark.parametrize(
    "content,msg",
    [
        (b"full-name\nAnn\n", "no 'username' column"),
        (b"username,full-name\nann\n", "line 2: 1 columns"),
        ("username\ncaf\u00e9\n".encode("latin-1"), "is not UTF-8"),
        (b"username,shoe-size\nann,42\n", "unknown column(s) shoe-size"),
    ],
)
def test_bad_files_change_nothing(tmp_path, content, msg):
    f = tmp_path / "users.csv"
    f.write_bytes(b"username\nkeep\n")
    use_file(f)
    engine.run(actor=SYNC)
    set_options(**{"sync.missing-users": "delete", "sync.guard.max-removal-percent": "100"})
    f.write_bytes(content)
    result = engine.run(actor=SYNC)
    assert result.status == "failed" and msg in result.message
    assert list(User.objects.values_list("username", flat=True)) == ["keep"]


def test_a_missing_file_is_reported(tmp_path):
    (tmp_path / "nope.csv").write_text("username\n")
    use_file(tmp_path / "nope.csv")
    (tmp_path / "nope.csv").unlink()  # gone after it was set
    result = engine.run(actor=SYNC)
    assert result.status == "failed" and "cannot read" in result.message


def test_additional_groups_file_adds_groups(tmp_path):
    f = tmp_path / "users.csv"
    f.write_text("username\nann\nbob\n")
    extra = tmp_path / "groups.txt"
    extra.write_text("# extra groups\nprinting: ann\nprinting: bob\n")
    use_file(f)
    config.set_value(key="sync.additional-groups-file", raw=str(extra), actor=ADMIN)
    engine.run(actor=SYNC)
    assert Group.objects.get(name="printing").users.count() == 2


# -- custom program ---------------------------------------------------------------------------

PROGRAM = '''\
#!{python}
"""A custom user-directory program in the reference product's interface."""
import sys

USERS = {{
    "ann": ["ann", "Ann Smith", "ann@example.org", "Chem", "B2", "1001", "", "2001"],
    "bob": ["bob", "Bob Jones", "bob@example.org", "Bio", "C1"],
    "zoe": ["zoe", "Zoë Ødegård", "zoe@example.org", "", "", "", "", "", "", "", "1234"],
}}
GROUPS = {{"staff": ["ann", "bob"], "all": ["ann", "bob", "zoe"]}}
MODE = {mode!r}

args = sys.argv[1:]
if not args:  # authentication: username and password on standard input
    name, password = sys.stdin.read().splitlines()[:2]
    print("OK\\n" + name if password == "pw-" + name else "ERROR")
    sys.exit(0)
assert args[0] == "-"
verb = args[1]
if MODE == "fail" and verb == "all-users":
    sys.exit(3)
if MODE == "stderr" and verb == "all-users":
    print("directory unreachable", file=sys.stderr)
if MODE == "hang" and verb == "all-users":
    import time
    time.sleep(30)
if MODE == "malformed" and verb == "all-users":
    print("\\t\\t\\t")
    sys.exit(0)
if verb == "is-valid":
    print("Y\\nready")
elif verb == "all-users":
    for fields in USERS.values():
        print("\\t".join(fields))
elif verb == "all-groups":
    print("\\n".join(GROUPS))
elif verb == "get-user-details":
    name = sys.stdin.read().strip()
    print("\\t".join(USERS[name]))
elif verb == "group-member-names":
    print("\\n".join(GROUPS[args[2]]))
elif verb == "group-members":
    for name in GROUPS[args[2]]:
        print("\\t".join(USERS[name]))
elif verb == "is-user-in-group":
    print("Y" if args[3] in GROUPS.get(args[2], []) else "N")
'''


def program(tmp_path, mode="ok", via_interpreter=False):
    path = tmp_path / "users-sync.py"
    path.write_text(PROGRAM.format(python=sys.executable, mode=mode))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    config.set_value(key="sync.source", raw="program", actor=ADMIN)
    command = f"{sys.executable} '{path}'" if via_interpreter else str(path)
    config.set_value(key="sync.program.path", raw=command, actor=ADMIN)
    return path


def test_program_users_groups_and_both_card_numbers(tmp_path):
    program(tmp_path)
    result = engine.run(actor=SYNC)
    assert result.ok and result.counts["added"] == 3
    ann = User.objects.get(username="ann")
    assert (ann.full_name, ann.department, ann.office) == ("Ann Smith", "Chem", "B2")
    assert numbers_of(ann) == {"primary": "1001", "secondary": "2001"}
    assert User.objects.get(username="zoe").full_name == "Zoë Ødegård"
    assert sorted(Group.objects.get(name="all").users.values_list("username", flat=True)) == [
        "ann",
        "bob",
        "zoe",
    ]


def test_program_given_as_a_command_line_with_an_interpreter(tmp_path):
    program(tmp_path, via_interpreter=True)
    assert engine.run(actor=SYNC).counts["added"] == 3


def test_program_is_valid_check(tmp_path, cli):
    program(tmp_path)
    r = cli("sync", "--test-connection")
    assert r.code == 0 and r.out.strip() == "ready"


@pytest.mark.parametrize(
    "mode,msg",
    [
        ("fail", "failed on `all-users`: exit code 3"),
        ("stderr", "failed on `all-users`: directory unreachable"),
        ("malformed", "has no username"),
    ],
)
def test_a_failing_program_changes_nothing(tmp_path, mode, msg):
    program(tmp_path)
    engine.run(actor=SYNC)
    set_options(**{"sync.missing-users": "disable", "sync.guard.max-removal-percent": "100"})
    program(tmp_path, mode=mode)
    result = engine.run(actor=SYNC)
    assert result.status == "failed" and msg in result.message
    assert User.objects.filter(enabled=True).count() == 3


def test_a_hanging_program_times_out(tmp_path):
    program(tmp_path, mode="hang")
    config.set_value(key="sync.program.timeout", raw="1", actor=ADMIN)
    result = engine.run(actor=SYNC)
    assert result.status == "failed" and "did not finish `all-users` within 1 s" in (result.message)
    assert User.objects.count() == 0


def test_a_missing_program_is_refused_when_set_and_named_when_it_vanished(tmp_path, cli):
    r = cli("config", "set", "sync.program.path", str(tmp_path / "nope"))
    assert r.code == 1 and f"there is no program {tmp_path / 'nope'} that cardid may run" in r.err
    program = tmp_path / "gone"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    config.set_value(key="sync.source", raw="program", actor=ADMIN)
    config.set_value(key="sync.program.path", raw=str(program), actor=ADMIN)
    program.unlink()  # removed after it was set
    result = engine.run(actor=SYNC)
    assert result.status == "failed" and "does not exist" in result.message


# -- schedule ---------------------------------------------------------------------------------


def test_the_daily_schedule_runs_once_after_its_time(tmp_path):
    program(tmp_path)
    config.set_value(key="sync.schedule", raw="02:30", actor=ADMIN)
    day = timezone.make_aware(datetime(2026, 11, 25, 2, 0))
    assert not schedule.due(day)
    assert schedule.due(day.replace(hour=3))
    job = Job.objects.create(kind="sync", params={"trigger": "schedule"}, created_by="s")
    Job.objects.filter(pk=job.pk).update(created_at=day.replace(hour=2, minute=31))
    assert not schedule.due(day.replace(hour=3))
    assert schedule.due(day.replace(day=26, hour=3))


@pytest.mark.django_db(transaction=True)
def test_the_worker_housekeeping_runs_a_due_scheduled_sync(tmp_path):
    program(tmp_path)
    config.set_value(key="sync.schedule", raw="00:00", actor=ADMIN)
    periodic.run_once()
    run = SyncRun.objects.get()
    assert (run.trigger, run.status) == ("schedule", "succeeded")
    assert User.objects.count() == 3
    periodic.run_once()
    assert SyncRun.objects.count() == 1


def test_sync_without_a_source_says_how_to_set_one(cli):
    r = cli("sync")
    assert r.code == 1 and "no sync source is configured" in r.err
