"""Importing numbers (all or nothing, every problem reported) and exporting them."""

import pytest

from cardid.audit.models import AuditEvent
from cardid.cards import transfer
from cardid.cards.models import Card
from cardid.errors import Invalid
from tests.factories import ADMIN, give_number, make_user, numbers_of

pytestmark = pytest.mark.django_db


def imp(text: str | bytes, dry_run=False):
    data = text.encode() if isinstance(text, str) else text
    return transfer.import_numbers(data=data, actor=ADMIN, dry_run=dry_run)


def test_tab_separated_file_without_header_sets_both_slots():
    a, b = make_user(username="ann"), make_user(username="ben")
    result = imp("ann\t1001\t2001\nBEN\t1002\n")
    assert result.errors == [] and (result.changed, result.unchanged) == (2, 0)
    assert numbers_of(a) == {"primary": "1001", "secondary": "2001"}
    assert numbers_of(b) == {"primary": "1002"}
    assert set(Card.objects.values_list("origin", flat=True)) == {"imported"}


def test_comma_file_with_header_and_bom_is_read():
    a = make_user(username="ann")
    result = imp("\ufeffusername,primary,secondary\r\nann,AB12,\r\n".encode())
    assert result.errors == []
    assert numbers_of(a) == {"primary": "AB12"}


def test_every_problem_is_reported_with_its_line_and_nothing_is_applied():
    a, b, holder = make_user(username="ann"), make_user(username="ben"), make_user(username="carol")
    give_number(holder, "9999")
    result = imp(
        "ann,1001\n"  # fine
        "ghost,1002\n"  # unknown user
        "ben,1001\n"  # duplicate number inside the file
        "ben,12 34\n"  # invalid characters (and ben twice)
        "ann2\n"  # missing column
        "ann,9999\n"  # held by carol
    )
    text = "\n".join(result.errors)
    assert "line 2: unknown user 'ghost'" in text
    assert "line 3: primary number 1001 already appears on line 1" in text
    assert "line 4: primary number:" in text
    assert "line 5: 1 column(s)" in text
    assert Card.objects.count() == 1
    assert numbers_of(a) == {} and numbers_of(b) == {}


def test_a_number_held_by_someone_outside_the_file_is_reported_with_its_holder():
    make_user(username="ann")
    carol = make_user(username="carol")
    give_number(carol, "9999", slot="secondary")
    result = imp("ann,9999\n")
    assert result.errors == [
        "line 1: number already belongs to carol (secondary); free it first or leave it out "
        "of the file"
    ]
    assert numbers_of(carol) == {"secondary": "9999"}


def test_numbers_may_move_between_users_of_one_file():
    a, b = make_user(username="ann"), make_user(username="ben")
    give_number(a, "1111")
    give_number(b, "2222")
    result = imp("ann,2222\nben,1111\n")
    assert result.errors == []
    assert numbers_of(a) == {"primary": "2222"} and numbers_of(b) == {"primary": "1111"}


def test_dry_run_reports_but_changes_nothing():
    make_user(username="ann")
    result = imp("ann,1001\n", dry_run=True)
    assert result.errors == [] and result.changed == 1
    assert Card.objects.count() == 0


@pytest.mark.parametrize(
    "data,msg",
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"username,primary,secondary\n", "no lines"),
        ("ann,1001\n".encode("utf-16"), "not UTF-8"),
        (b"ann,caf\xe9\n", "not UTF-8"),
    ],
)
def test_unreadable_files_are_refused_with_the_way_out(data, msg):
    make_user(username="ann")
    with pytest.raises(Invalid, match=msg):
        imp(data)
    assert Card.objects.count() == 0


def test_export_lists_every_user_in_username_order_with_empty_fields():
    a, b, c = make_user(username="zed"), make_user(username="Amy"), make_user(username="max")
    give_number(a, "7")
    give_number(b, "04AABB", slot="secondary")
    rows = list(transfer.export_numbers(actor=ADMIN))
    assert rows == [("Amy", "", "04AABB"), (c.username, "", ""), ("zed", "7", "")]
    # Every export is in the audit trail, whichever door asked (here: the service itself).
    assert AuditEvent.objects.filter(action="numbers.exported", actor=ADMIN.name).count() == 1


def test_export_then_import_round_trips():
    a, b = make_user(username="ann"), make_user(username="ben")
    give_number(a, "1001")
    give_number(b, "XY-77", slot="secondary")
    csv_text = "username,primary,secondary\n" + "".join(
        ",".join(r) + "\n" for r in transfer.export_numbers(actor=ADMIN)
    )
    Card.objects.all().delete()
    assert imp(csv_text).errors == []
    assert numbers_of(a) == {"primary": "1001"} and numbers_of(b) == {"secondary": "XY-77"}
