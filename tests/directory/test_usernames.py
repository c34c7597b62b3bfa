"""Usernames that could pass for others are refused at every door and from every source;
names are matched in their compatibility form, case folded (issue 28)."""

import pytest

from cardid.directory import services as directory
from cardid.directory.keys import username_key, username_problem
from cardid.directory.models import User
from tests.factories import ADMIN

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("\u0430lice", "mixes Latin and Cyrillic letters"),  # Cyrillic а
        ("ali\u200bce", "invisible or direction-changing character (U+200B)"),
        ("\u202eecila", "invisible or direction-changing character (U+202E)"),
        ("al\u03bfce", "mixes Latin and Greek letters"),  # Greek ο
        ("bo\u200dss", "(U+200D)"),
    ],
)
def test_a_name_that_could_pass_for_another_is_refused_with_the_reason(cli, name, said):
    r = cli("users", "add", name)
    assert r.code == 1 and said in r.err and r.err.count("\n") == 1
    assert not User.objects.exists()


def test_names_are_compared_in_their_compatibility_form(cli):
    assert cli("users", "add", "alice").code == 0
    r = cli("users", "add", "\uff21\uff2c\uff29\uff23\uff25")  # fullwidth ALICE
    assert r.code == 1 and "already exists" in r.err
    assert username_key("STRAUSS") == username_key("Strauß") == "strauss"
    # Dotless ı is a Turkish letter of the Latin script: a name of its own, not a disguise.
    assert username_problem("al\u0131ce") is None
    assert cli("users", "add", "al\u0131ce").code == 0
    # Names in one other script are names.
    assert username_problem("\u0430\u043d\u043d\u0430") is None  # Cyrillic анна
    assert username_problem("\u5c71\u7530") is None  # 山田


def test_a_source_record_with_such_a_name_is_left_out_and_said(tmp_path):
    from cardid.config import services as config
    from cardid.sync import engine

    f = tmp_path / "users.tsv"
    f.write_text("username\tfull-name\nann\tAnn\n\u0430nn\tFake Ann\nbo\u202ess\tBoss\n")
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    config.set_value(key="sync.file.path", raw=str(f), actor=ADMIN)
    run = engine.run(actor=ADMIN)
    assert list(User.objects.values_list("username", flat=True)) == ["ann"]
    said = " ".join(run.errors)
    assert "mixes Latin and Cyrillic letters" in said and "(U+202E)" in said
    assert "the source's record was left out" in said


def test_the_keys_of_earlier_users_are_brought_to_the_new_form():
    from importlib import import_module

    from django.apps import apps

    directory.add_user(username="Strauß", actor=ADMIN)
    directory.add_user(username="plain", actor=ADMIN)
    User.objects.filter(username="Strauß").update(username_key="strauß")  # as before
    import_module("cardid.directory.migrations.0005_username_key_nfkc").forwards(apps, None)
    assert dict(User.objects.values_list("username", "username_key")) == {
        "Strauß": "strauss",
        "plain": "plain",
    }
