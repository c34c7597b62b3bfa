"""Users and groups: case-insensitive names, the user import."""

import pytest

from cardid.directory import services
from cardid.directory.models import Group, Membership, User
from cardid.errors import Conflict, Invalid
from tests.factories import ADMIN, make_user

pytestmark = pytest.mark.django_db


def test_usernames_are_unique_whatever_their_letter_case():
    services.add_user(username="Alice", actor=ADMIN)
    with pytest.raises(Conflict, match="already exists"):
        services.add_user(username="aLICE", actor=ADMIN)
    assert User.objects.get().username == "Alice"


def imp(text, dry_run=False):
    return services.import_users(data=text.encode(), actor=ADMIN, dry_run=dry_run)


def test_import_creates_and_updates_users_and_their_groups():
    make_user(username="ann", full_name="Old Name")
    result = imp(
        "username,full-name,email,department,office,groups\n"
        "ann,Ann Smith,ann@x.org,Chem,B2,staff;lab\n"
        "Ben,Ben Jones,ben@x.org,Bio,C1,staff\n"
    )
    assert (result.added, result.updated, result.groups_added) == (1, 1, 2)
    ann = User.objects.get(username_key="ann")
    assert (ann.full_name, ann.department) == ("Ann Smith", "Chem")
    assert sorted(g.name for g in ann.groups.all()) == ["lab", "staff"]
    assert Group.objects.get(name="staff").users.count() == 2


def test_import_with_tabs_and_only_some_columns():
    result = imp("username\tfull-name\ncarl\tCarl K\n")
    assert result.added == 1
    assert User.objects.get().full_name == "Carl K"


@pytest.mark.parametrize(
    "text,msg",
    [
        ("", "empty"),
        ("full-name,email\nAnn,a@x\n", "no 'username' column"),
        ("username,colour\nann,red\n", "unknown column"),
        ("username\n", "no users"),
    ],
)
def test_bad_user_files_are_refused(text, msg):
    with pytest.raises(Invalid, match=msg):
        imp(text)
    assert User.objects.count() == 0


def test_line_problems_are_all_reported_and_nothing_is_imported():
    result = imp("username,full-name\nann,Ann\nANN,Ann again\nben\n")
    assert result.errors == [
        "line 3: user 'ANN' appears twice in the file",
        "line 4: 1 columns, the header names 2",
    ]
    assert User.objects.count() == 0 and Membership.objects.count() == 0


def test_non_ascii_names_are_kept():
    imp("username,full-name\nzoë,Zoë Ødegård\n")
    assert User.objects.get().full_name == "Zoë Ødegård"
