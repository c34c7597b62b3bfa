"""Conversion rules and printing through the REST API (issue 9: every part through the API)."""

from unittest import mock

import pytest

from cardid.audit.models import AuditEvent
from cardid.cards import conversion
from cardid.cards.models import ConversionRule
from cardid.jobs import runner
from cardid.jobs.models import Job
from tests.api.test_rest import Api, token
from tests.factories import give_number, make_group, make_user

pytestmark = pytest.mark.django_db


def test_rules_are_set_listed_tried_derived_and_deleted(client):
    api, reader = Api(client, token("write")), Api(client, token("read"))
    assert reader("put", "/rules/door", {"chain": "hex2dec"})[0] == 403  # read scope
    code, body = api("put", "/rules/door", {"chain": "reverse-bytes, hex2dec ,pad:10"})
    assert (code, body) == (200, {"name": "door", "chain": "reverse-bytes,hex2dec,pad:10"})
    assert AuditEvent.objects.filter(action="rule.set", target="door", door="api").exists()
    code, body = api("put", "/rules/door", {"chain": "hex2dec,frobnicate"})
    assert code == 400 and "frobnicate" in body["detail"]
    assert ConversionRule.objects.get(name="door").chain == "reverse-bytes,hex2dec,pad:10"
    assert reader("get", "/rules") == (
        200,
        [{"name": "door", "chain": "reverse-bytes,hex2dec,pad:10"}],
    )
    assert reader("post", "/rules/convert", {"value": "04A1B2C3", "rule": "door"}) == (
        200,
        {"value": "3283263748"},
    )
    assert reader("post", "/rules/convert", {"value": "FF", "chain": "hex2dec"})[1] == {
        "value": "255"
    }
    code, body = reader("post", "/rules/convert", {"value": "XYZ", "chain": "hex2dec"})
    assert code == 400 and "XYZ" in body["detail"]
    code, body = reader("post", "/rules/convert", {"value": "1"})
    assert code == 400 and "not both" in body["detail"]
    pairs = [["04A1B2C3", "3283263748"], ["01020304", "67305985"], ["FF000000", "255"]]
    assert reader("post", "/rules/derive", {"pairs": pairs}) == (
        200,
        {"chain": "reverse-bytes,hex2dec", "near_misses": []},
    )
    code, body = reader("post", "/rules/derive", {"pairs": [["1", "x"], ["2", "y"], ["3", "z"]]})
    assert code == 200 and body["chain"] is None
    code, body = reader("post", "/rules/derive", {"pairs": [["1", "2"]]})
    assert code == 400 and "three or more" in body["detail"]
    assert api("delete", "/rules/door")[0] == 204
    assert api("delete", "/rules/door")[0] == 404


def test_print_cards_as_a_job_and_fetch_the_pdf(client):
    api = Api(client, token("write"))
    members = [make_user() for _ in range(3)]
    for i, u in enumerate(members):
        give_number(u, f"6100000{i}")
    make_group("staff", members)
    code, body = api("post", "/cards/print", {"group": "staff", "usernames": ["x"]})
    assert code == 400 and "not both" in body["detail"]
    code, body = api("post", "/cards/print", {"usernames": ["ghost"]})
    assert code == 404 and "ghost" in body["detail"]
    code, body = api("post", "/cards/print", {"group": "staff", "slot": "secondary"})
    assert code == 400 and "nothing to print" in body["detail"]
    assert not Job.objects.exists()
    code, body = api("post", "/cards/print", {"group": "staff", "paper": "letter", "qr": True})
    assert code == 202 and body["kind"] == "print"
    assert api("get", f"/jobs/{body['id']}/pdf")[0] == 404  # not run yet
    runner.run(body["id"])
    r = client.get(f"/api/v1/jobs/{body['id']}/pdf", HTTP_AUTHORIZATION=f"Bearer {token('read')}")
    assert r.status_code == 200 and b"".join(r.streaming_content).startswith(b"%PDF")
    assert api("get", f"/jobs/{body['id']}")[1]["counts"]["printed"] == 3


def test_control_characters_in_rule_names_are_refused_not_a_server_error(client):
    api = Api(client, token("write"))
    code, body = api("put", "/rules/a%00b", {"chain": "hex2dec"})
    assert code == 400 and "printable" in body["detail"]
    assert api("post", "/rules/convert", {"value": "1", "rule": "a\x00b"})[0] == 404
    assert api("delete", "/rules/a%00b")[0] == 404
    code, body = api("put", "/rules/ok", {"chain": "regex:a\x00b"})
    assert code == 400 and "NUL" in body["detail"]
    assert not ConversionRule.objects.exists()


def test_a_derivation_that_would_tie_up_a_worker_is_refused_at_once(client, cli, tmp_path):
    """100 pairs whose card numbers have 100 lengths: each length is a pad step to try, and
    the work grows with the cube of the steps — refused (422) before any is tried."""
    reader = Api(client, token("read"))
    pairs = [[f"{i:X}", "7" * (i + 1)] for i in range(100)]
    with mock.patch.object(conversion, "apply", side_effect=AssertionError("tried a chain")):
        code, body = reader("post", "/rules/derive", {"pairs": pairs})
    assert code == 422
    assert body["detail"][0]["loc"] == ["body", "pairs"]
    assert "100 different lengths" in body["detail"][0]["msg"]
    f = tmp_path / "pairs.csv"
    f.write_text("".join(f"{a},{b}\n" for a, b in pairs))
    r = cli("cards", "derive-rule", str(f))
    assert r.code == 1 and "give pairs from one kind of card" in r.err and r.out == ""
    # Cards of a few lengths are still derived (padding to the shortest).
    pairs = [["1", "0001"], ["22", "0022"], ["12345", "12345"]]
    assert reader("post", "/rules/derive", {"pairs": pairs})[1]["chain"] == "pad:4"
