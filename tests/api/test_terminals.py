"""The terminals' door (cardid.api.terminals): a look-up that finds its user costs one
query; what a process keeps for a second (the token, the options) follows a revocation and
a changed option within that second on a running server; a call that is not a well-formed
look-up is answered by django-ninja as before."""

import json
import time
import xmlrpc.client

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cardid.access import tokens
from cardid.access.models import LookupCounter
from tests.factories import ADMIN, give_number, make_user
from tests.ops.helpers import Site, request

pytestmark = pytest.mark.django_db


def post(client, key, body, path="/api/v1/lookup"):
    return client.post(
        path,
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_a_look_up_that_finds_its_user_is_one_query(client):
    give_number(make_user(username="ann", full_name="Ann Smith"), "12345678")
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    assert post(client, key, {"number": "87654321"}).status_code == 404  # reads token, options
    with CaptureQueriesContext(connection) as hit:
        r = post(client, key, {"number": "12345678"})
    assert r.status_code == 200 and r.json() == {"username": "ann", "full_name": "Ann Smith"}
    assert len(hit.captured_queries) == 1, [q["sql"] for q in hit.captured_queries]
    assert r["Cache-Control"] == "no-store" and not r.cookies  # no session for a terminal
    assert r["Content-Type"] == "application/json; charset=utf-8"
    with CaptureQueriesContext(connection) as miss:
        assert post(client, key, {"number": "87654321"}).status_code == 404
    # The read, then the client's failure counted (an update of this minute's row).
    assert len(miss.captured_queries) == 2
    assert LookupCounter.objects.get(kind="lookup").misses == 2


@pytest.mark.parametrize(
    "body",
    ['{"number": 12345678}', "{}", "not json", '["12345678"]', '{"number": "1", "pin": 4711}'],
)
def test_a_call_that_is_not_a_well_formed_look_up_is_answered_as_before(client, body):
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    r = post(client, key, body)
    assert r.status_code in (400, 422) and "detail" in r.json()
    assert not LookupCounter.objects.exists()  # not a look-up: nothing counted


def test_a_refused_token_gets_its_reason_from_the_door(client):
    give_number(make_user(username="ann"), "12345678")
    read = tokens.create(name="reader", scope="read", actor=ADMIN)[1]
    r = post(client, read, {"number": "12345678"})
    assert r.status_code == 403 and "has scope read; this needs lookup" in r.json()["detail"]
    r = post(client, "cid_nonsense", {"number": "12345678"})
    assert r.status_code == 401 and r.json() == {"detail": "the API token is not valid"}


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path / "data")
    s.run("init")
    yield s
    s.stop()


def test_a_revoked_token_and_a_changed_option_take_effect_within_a_second(site):
    """On a running server with two worker processes, each keeping what it read for a
    second: a second after `config set` and `tokens revoke` return, every answer follows."""
    site.run("users", "add", "ann", "--full-name", "Ann")
    site.run("set-number", "ann", "12345678")
    key = site.run("tokens", "create", "door", "--scope", "lookup").stdout.strip()
    other = site.run("tokens", "create", "other", "--scope", "lookup").stdout.strip()
    port = site.serve("--no-worker", "--workers", "2")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def look_up(number, token_headers=headers):
        r = request(
            port,
            "/api/v1/lookup",
            method="POST",
            headers=token_headers,
            body=json.dumps({"number": number}).encode(),
        )
        return r.status

    def rpc(token, number):
        return xmlrpc.client.ServerProxy(
            f"http://127.0.0.1:{port}/rpc/api/xmlrpc"
        ).api.lookUpUserNameByCardNo(token, number)

    # Every process has read the token and the options (several calls reach both).
    for _ in range(20):
        assert look_up("12345678") == 200
        assert rpc(other, "12345678") == "ann"
    for i in range(3):
        assert look_up(f"9000000{i}") == 404  # three misses: far below the default limit
    site.run("config", "set", "api.lookup.max-misses", "3")
    time.sleep(1.0)
    assert all(look_up("12345678") == 429 for _ in range(10))  # every process knows
    site.run("tokens", "revoke", "other")
    time.sleep(1.0)
    for _ in range(10):
        with pytest.raises(xmlrpc.client.Fault, match="revoked"):
            rpc(other, "12345678")
