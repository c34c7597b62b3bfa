"""The `cardid` command line: exit codes, one-line errors, machine-readable output."""

import json
import re
from pathlib import Path

import pytest

from cardid import cli as cardid_cli
from cardid.audit.models import AuditEvent
from cardid.cards.models import Card
from cardid.directory.models import User
from cardid.jobs.models import Job
from tests.factories import give_number, make_group, make_user, numbers_of

pytestmark = pytest.mark.django_db


def one_error_line(result):
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert result.code != 0
    assert len(lines) == 1, result.err
    return lines[0]


def test_init_creates_the_first_administrator_from_a_password_file(cli, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret-Passphrase\r\nignored\n")
    r = cli("init", "--admin", "root", "--password-file", str(pw))
    assert r.code == 0, r.err
    from django.contrib.auth import authenticate

    assert authenticate(username="root", password="s3cret-Passphrase") is not None
    # Administrators are not card holders.
    assert json.loads(cli("users", "list", "--format", "json").out) == []


def test_init_with_an_empty_password_file_fails_clearly(cli, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("")
    assert "is empty" in one_error_line(cli("init", "--admin", "root", "--password-file", str(pw)))


def test_users_add_list_and_json_fields(cli):
    assert (
        cli(
            "users",
            "add",
            "zoë",
            "--full-name",
            "Zoë Q",
            "--email",
            "z@x.org",
            "--department",
            "Art",
            "--office",
            "A1",
        ).code
        == 0
    )
    make_group("staff", members=[User.objects.get()])
    User.objects.create(username="off", username_key="off", enabled=False)
    records = json.loads(cli("users", "list", "--format", "json").out)
    assert records[0] == {
        "username": "off",
        "full_name": "",
        "email": "",
        "department": "",
        "office": "",
        "enabled": False,
        "source": "local",
        "groups": [],
    }
    assert records[1]["groups"] == ["staff"] and records[1]["full_name"] == "Zoë Q"
    csv_out = cli("users", "list", "--format", "csv", "--group", "staff").out
    assert csv_out.splitlines()[1].startswith(
        '"zoë","Zoë Q","z@x.org","Art","A1","true","local","staff"'
    )


def test_users_add_duplicate_fails_with_one_line(cli):
    cli("users", "add", "ann")
    assert one_error_line(cli("users", "add", "ANN")) == "cardid: user 'ANN' already exists"


def test_users_import(cli, tmp_path):
    f = tmp_path / "users.csv"
    f.write_text("username,full-name,groups\nann,Ann,staff;lab\nben,Ben,staff\n")
    r = cli("users", "import", str(f))
    assert r.code == 0, r.err
    assert "2 user(s) were added" in r.err
    assert User.objects.count() == 2


def test_users_import_of_a_missing_file_fails(cli):
    assert "cannot read" in one_error_line(cli("users", "import", "/nonexistent.csv"))


def test_groups_add_add_member_and_list(cli):
    make_user(username="ann")
    make_user(username="ben")
    assert cli("groups", "add", "staff").code == 0
    assert cli("groups", "add-member", "staff", "ann", "ben").code == 0
    assert cli("groups", "list").out.strip() == "staff\t2"
    assert "unknown user(s) 'ghost'" in one_error_line(
        cli("groups", "add-member", "staff", "ghost")
    )


def test_config_list_get_set(cli):
    assert "cards.length = 8" in cli("config", "list").out
    assert cli("config", "set", "cards.length", "9").code == 0
    assert cli("config", "get", "cards.length").out.strip() == "9"
    err = one_error_line(cli("config", "set", "cards.length", "99"))
    assert err == "cardid: cards.length must be at most 20 (got 99)"
    assert json.loads(cli("config", "list", "--format", "json").out)["cards.length"] == 9


def test_generate_for_users_waits_and_reports(cli):
    a, b = make_user(), make_user()
    give_number(b, "1234")
    r = cli("generate", "--user", a.username, b.username)
    assert r.code == 0, r.err
    assert r.out.strip().startswith("issued 1, skipped 1, failed 0")
    assert len(numbers_of(a)["primary"]) == 8 and numbers_of(b)["primary"] == "1234"
    assert Job.objects.get().status == "succeeded"


def test_generate_json_result_and_secondary_replace(cli):
    g = make_group("staff", members=[make_user(), make_user()])
    r = cli("generate", "--group", g.name, "--slot", "secondary", "--replace", "--format", "json")
    data = json.loads(r.out)
    assert data == {
        "users": 2,
        "issued": 2,
        "skipped": 0,
        "failed": 0,
        "notifications": 0,
        "without_email": 0,
        "refused": None,
    }
    assert Card.objects.filter(slot="secondary").count() == 2


def test_generate_refused_by_the_policy_exits_1_and_issues_nothing(cli):
    for _ in range(20):
        make_user()
    cli("config", "set", "cards.length", "4")
    cli("config", "set", "cards.max-guess-probability", "0.001")
    err = one_error_line(cli("generate", "--all"))
    assert "set cards.length to 5" in err
    assert Card.objects.count() == 0


def test_generate_needs_to_know_for_whom(cli):
    r = cli("generate")
    assert r.code == 2 and "one of the arguments --user --group --all is required" in r.err


@pytest.mark.parametrize(
    "args",
    [
        ("set-number",),
        ("users", "frob"),
        ("generate", "--all", "--slot", "third"),
        ("cards", "rules", "set", "x"),
    ],
)
def test_usage_errors_are_one_line_with_the_way_out(cli, args):
    r = cli(*args)
    assert r.code == 2
    assert len(r.err.strip().splitlines()) == 1 and "--help`" in r.err


def test_generate_unknown_group_fails(cli):
    assert "unknown group 'nope'" in one_error_line(cli("generate", "--group", "nope"))


def test_set_number_clear_number_and_lookup(cli):
    make_user(username="ann")
    assert cli("set-number", "ann", "04AB12").code == 0
    assert cli("lookup", "04ab12").out.strip() == "ann"
    assert cli("clear-number", "ann").code == 0
    r = cli("lookup", "04AB12")
    assert r.code == 1 and r.out == ""
    assert AuditEvent.objects.filter(action="card.cleared").count() == 1


def test_set_number_taken_or_invalid_exits_1_with_one_line(cli):
    give_number(make_user(username="ann"), "5555")
    make_user(username="ben")
    assert "already belongs to another user" in one_error_line(cli("set-number", "ben", "5555"))
    assert "letters, digits" in one_error_line(cli("set-number", "ben", "55;55"))
    assert "at most 64" in one_error_line(cli("set-number", "ben", "5" * 65))
    assert "unknown user 'zed'" in one_error_line(cli("set-number", "zed", "1"))


def test_lookup_with_pin(cli):
    from cardid.cards import services
    from tests.factories import ADMIN

    give_number(make_user(username="ann"), "8080")
    services.set_pin(username="ann", pin="1234", actor=ADMIN)
    assert cli("lookup", "8080", "--pin", "1234").out.strip() == "ann"
    assert cli("lookup", "8080", "--pin", "9999").code == 1


def test_import_numbers_all_or_nothing(cli, tmp_path):
    make_user(username="ann")
    f = tmp_path / "n.tsv"
    f.write_text("ann\t1001\t2001\nghost\t1002\n")
    r = cli("import-numbers", str(f))
    assert r.code == 1
    assert "line 2: unknown user 'ghost'" in r.err
    assert r.err.strip().splitlines()[-1] == (f"cardid: 1 problem(s) in {f}; nothing was imported")
    assert Card.objects.count() == 0
    f.write_text("ann\t1001\t2001\n")
    assert cli("import-numbers", str(f), "--dry-run").code == 0
    assert Card.objects.count() == 0
    assert cli("import-numbers", str(f)).code == 0
    assert Card.objects.count() == 2


def test_export_numbers_to_stdout_and_file(cli, tmp_path):
    give_number(make_user(username="ann"), "1001")
    make_user(username="ben")
    # The header as scripts compare it; every data cell quoted (SPEC §9).
    assert cli("export-numbers").out == (
        'username,primary,secondary\n"ann","1001",""\n"ben","",""\n'
    )
    out = tmp_path / "out.csv"
    assert cli("export-numbers", str(out)).code == 0
    assert out.read_text(encoding="utf-8").splitlines()[1] == '"ann","1001",""'
    # Every export is audited, from the CLI as from the console.
    exports = AuditEvent.objects.filter(action="numbers.exported", door="cli")
    assert exports.count() == 2


def test_export_numbers_for_a_group(cli):
    ann = make_user(username="ann")
    make_user(username="ben")
    make_group("staff", members=[ann])
    assert cli("export-numbers", "--group", "staff").out.splitlines() == [
        "username,primary,secondary",
        '"ann","",""',
    ]


# A command run by a test: `cli("name", ...)` in process, or `-m cardid name` as a process.
# cli("x" (in-process), "-m", "cardid", "x" (a process), site.run("x" / place.cardid("x"
# (a process of a test site or a deployed install, tests/ops).
INVOKED = re.compile(
    r'(?:\bcli\(\s*|"-m",\s*"cardid",\s*|\b(?:site|live|restored|other|place)\.'
    r'(?:run|cardid)\(\s*)"([a-z-]+)"'
)


def invoked(text: str) -> set[str]:
    return set(INVOKED.findall(text))


def test_every_command_has_a_test():
    """Meta-test: each management command of cardid is run by some test (called, not merely
    named: a string "sync" elsewhere does not count)."""
    commands = set(cardid_cli.commands())
    run = invoked("\n".join(p.read_text() for p in Path(__file__).parent.rglob("test_*.py")))
    assert sorted(commands - run) == []
    assert invoked(
        'kind="sync"; cli("users", "list"); ["-m", "cardid", "worker"]; site.run("info"); '
        'subprocess.run("check"); place.cardid("backup", f)'
    ) == {"users", "worker", "info", "backup"}
