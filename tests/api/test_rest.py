"""The REST API: every endpoint, every scope, bad input, query ceilings."""

import itertools
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cardid import recent
from cardid.access import tokens
from cardid.access.models import LookupCounter
from cardid.cards import services as cards
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.models import User
from cardid.directory.selectors import SEE_USERS
from cardid.jobs import runner
from cardid.jobs.models import Job
from tests.factories import ADMIN, give_number, make_group, make_user, numbers_of

pytestmark = pytest.mark.django_db


_tokens = itertools.count(1)


def lookup_misses() -> int:
    """The failed look-ups counted (in one-minute rows: a test may span two minutes)."""
    return sum(LookupCounter.objects.filter(kind="lookup").values_list("misses", flat=True))


def token(scope="write", **kw):
    return tokens.create(name=f"t-{scope}-{next(_tokens)}", scope=scope, actor=ADMIN, **kw)[1]


class Api:
    def __init__(self, client, key):
        self.client, self.key = client, key

    def __call__(self, method, path, body=None, **headers):
        if self.key:
            headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.key}")
        kwargs = {"content_type": "application/json"}
        if body is not None:
            kwargs["data"] = body if isinstance(body, str | bytes) else json.dumps(body)
        r = getattr(self.client, method)(f"/api/v1{path}", **kwargs, **headers)
        return r.status_code, (r.json() if r.content else None)


@pytest.fixture
def api(client):
    return Api(client, token("write"))


def test_openapi_schema_and_docs_are_served(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/lookup" in paths and "/api/v1/users/{username}/numbers/{slot}" in paths
    assert client.get("/api/v1/docs").status_code == 200


def test_users_list_filter_and_get(api):
    ann = make_user(username="ann", full_name="Ann Smith")
    make_user(username="bob", full_name="Bob Jones")
    make_group("staff", members=[ann])
    status, body = api("get", "/users")
    assert status == 200 and [u["username"] for u in body] == ["ann", "bob"]
    assert [u["username"] for u in api("get", "/users?search=smith")[1]] == ["ann"]
    assert [u["username"] for u in api("get", "/users?group=staff")[1]] == ["ann"]
    status, body = api("get", "/users/ANN")
    assert status == 200 and body["full_name"] == "Ann Smith"
    assert api("get", "/users/ghost") == (
        404,
        {"detail": f"unknown user 'ghost'; {SEE_USERS}"},
    )


@pytest.mark.parametrize("path", ["/users/a%00b", "/users?group=a%00b", "/users/a%01b/numbers"])
def test_control_characters_in_names_are_404_on_every_database(api, path):
    make_user(username="ab")
    status, _ = api("get", path)
    assert status == 404


def test_a_search_with_nul_finds_nobody_on_every_database(api):
    make_user(username="ab")
    assert api("get", "/users?search=a%00b") == (200, [])


def test_user_list_queries_do_not_grow_with_users(api):
    for _ in range(5):
        make_user()
    api("get", "/users")  # the token is read once, then kept for a second
    with CaptureQueriesContext(connection) as few:
        api("get", "/users")
    for _ in range(50):
        make_user()
    with CaptureQueriesContext(connection) as many:
        api("get", "/users")
    assert len(many) == len(few) <= 4


def test_numbers_get_set_clear_and_generate(api):
    ann = make_user(username="ann")
    assert api("get", "/users/ann/numbers") == (200, {"primary": None, "secondary": None})
    status, body = api("put", "/users/ann/numbers/secondary", {"number": "04A1B2"})
    assert status == 200 and body["secondary"] == "04A1B2"
    status, body = api("post", "/users/ann/numbers/primary/generate", {})
    assert status == 200 and body["issued"] == 1 and len(body["number"]) == 8
    assert numbers_of(ann)["primary"] == body["number"]
    status, body = api("delete", "/users/ann/numbers/secondary")
    assert status == 200 and body["secondary"] is None


def test_a_taken_or_invalid_number_is_refused_and_nothing_changes(api):
    give_number(make_user(username="ann"), "5555")
    bob = make_user(username="bob")
    status, body = api("put", "/users/bob/numbers/primary", {"number": "5555"})
    assert status == 409 and "already belongs to another user" in body["detail"]
    status, body = api("put", "/users/bob/numbers/primary", {"number": "55 55"})
    assert status == 400 and "letters, digits" in body["detail"]
    status, body = api("put", "/users/bob/numbers/primary", {"number": "9" * 65})
    assert status == 400
    assert api("put", "/users/bob/numbers/third", {"number": "1"})[0] == 422
    assert numbers_of(bob) == {}


@pytest.mark.parametrize("body", ["{not json", "[]", '{"number": 5}', '{"nummer": "5"}'])
def test_malformed_bodies_are_4xx(api, body):
    make_user(username="ann")
    status, _ = api("put", "/users/ann/numbers/primary", body)
    assert 400 <= status < 500
    assert Card.objects.count() == 0


def test_group_generation_returns_a_job_that_the_worker_runs(api):
    make_group("staff", members=[make_user(), make_user()])
    status, job = api("post", "/groups/staff/generate", {"slot": "primary"})
    assert status == 202 and job["status"] == "queued"
    runner.run(job["id"])
    status, job = api("get", f"/jobs/{job['id']}")
    assert job["status"] == "succeeded" and job["counts"]["issued"] == 2
    assert api("get", "/jobs/999999")[0] == 404
    assert api("post", "/groups/nope/generate", {})[0] == 404


def test_sync_now_queues_a_sync_job_and_refuses_without_a_source(api, tmp_path):
    status, body = api("post", "/sync")
    assert status == 409 and "no sync source is configured" in body["detail"]
    assert not Job.objects.exists()
    users = tmp_path / "users.csv"
    users.write_text("username,email\nann,ann@example.org\n")
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    config.set_value(key="sync.file.path", raw=str(users), actor=ADMIN)
    status, job = api("post", "/sync?dry_run=true")
    assert status == 202 and job["kind"] == "sync"
    runner.run(job["id"])
    job = Job.objects.get(pk=job["id"])
    assert job.status == "succeeded" and job.counts["added"] == 1
    assert not User.objects.filter(username="ann").exists()  # a dry run changes nothing
    status, job = api("post", "/sync")
    runner.run(job["id"])
    assert User.objects.filter(username="ann").exists()


def test_lookup_by_number_and_pin(client):
    ann = make_user(username="ann", full_name="Ann Smith")
    give_number(ann, "04A1B2", slot="secondary")
    cards.set_pin(username="ann", pin="4711", actor=ADMIN)
    terminal = Api(client, token("lookup"))
    assert terminal("post", "/lookup", {"number": "04a1b2"}) == (
        200,
        {"username": "ann", "full_name": "Ann Smith"},
    )
    assert terminal("post", "/lookup", {"number": "04a1b2", "pin": "4711"})[0] == 200
    wrong_pin = terminal("post", "/lookup", {"number": "04a1b2", "pin": "0000"})
    unknown = terminal("post", "/lookup", {"number": "999999"})
    assert (
        wrong_pin == unknown == (404, {"detail": "no user holds that number (or the PIN is wrong)"})
    )


def test_failed_lookups_are_counted_and_lock_the_client_out(client):
    config.set_value(key="api.lookup.max-misses", raw="3", actor=ADMIN)
    give_number(make_user(username="ann"), "12345678")
    terminal = Api(client, token("lookup"))
    for n in range(3):
        assert terminal("post", "/lookup", {"number": f"1000000{n}"})[0] == 404
    status, body = terminal("post", "/lookup", {"number": "12345678"})
    assert status == 429 and "too many failed look-ups" in body["detail"]
    assert lookup_misses() == 3
    # Another terminal is not affected.
    assert Api(client, token("lookup"))("post", "/lookup", {"number": "12345678"})[0] == 200


def test_wrong_pins_lock_that_number_for_that_terminal(client):
    give_number(make_user(username="ann"), "12345678")
    give_number(make_user(username="bob"), "87654321")
    cards.set_pin(username="ann", pin="4711", actor=ADMIN)
    cards.set_pin(username="bob", pin="4711", actor=ADMIN)
    guesser = Api(client, token("lookup"))
    for i in range(5):
        guesser("post", "/lookup", {"number": "12345678", "pin": f"{i:04d}"})
    assert guesser("post", "/lookup", {"number": "12345678", "pin": "4711"})[0] == 429
    assert guesser("post", "/lookup", {"number": "87654321", "pin": "4711"})[0] == 200
    owner = Api(client, token("lookup"))
    assert owner("post", "/lookup", {"number": "12345678", "pin": "4711"})[0] == 200


# -- authentication and scopes ---------------------------------------------------------------


def test_no_bad_or_revoked_token_is_401(client):
    make_user(username="ann")
    assert Api(client, None)("get", "/users")[0] == 401
    assert Api(client, "cid_nonsense")("get", "/users") == (
        401,
        {"detail": "the API token is not valid"},
    )
    key = token("read")
    from cardid.access.models import ApiToken

    tokens.revoke(name=ApiToken.objects.get(prefix=key[:10]).name, actor=ADMIN)
    assert Api(client, key)("get", "/users") == (401, {"detail": "the API token was revoked"})


@pytest.mark.parametrize(
    "scope,method,path,body,expected",
    [
        ("read", "get", "/users", None, 200),
        ("read", "put", "/users/ann/numbers/primary", {"number": "1"}, 403),
        ("read", "post", "/lookup", {"number": "1"}, 403),
        ("lookup", "get", "/users", None, 403),
        ("lookup", "post", "/lookup", {"number": "1"}, 404),  # allowed; nobody holds it
        ("write", "put", "/users/ann/numbers/primary", {"number": "1"}, 200),
        ("write", "post", "/lookup", {"number": "1"}, 404),
    ],
)
def test_scopes(client, scope, method, path, body, expected):
    """Each scope gets exactly its answer: a refusal (403) or the endpoint's own answer."""
    make_user(username="ann")
    status, _ = Api(client, token(scope))(method, path, body)
    assert status == expected
    if expected == 200 and method == "put":
        assert numbers_of(User.objects.get(username="ann")) == {"primary": "1"}


def test_a_token_limited_to_an_address_is_refused_elsewhere(client):
    make_user(username="ann")
    key = token("read", allow=["10.9.8.0/24"])
    status, body = Api(client, key)("get", "/users")
    assert status == 403 and "may not be used from 127.0.0.1" in body["detail"]
    assert Api(client, key)("get", "/users", REMOTE_ADDR="10.9.8.7")[0] == 200


def test_tokens_cli_create_list_revoke(cli):
    r = cli(
        "tokens",
        "create",
        "door-1",
        "--scope",
        "lookup",
        "--allow",
        "10.0.0.0/8",
        "--expires-in-days",
        "365",
    )
    assert r.code == 0 and r.out.strip().startswith("cid_") and len(r.out.strip()) > 40
    assert "shown only now" in r.err
    listed = cli("tokens", "list").out
    assert "door-1\tlookup" in listed and r.out.strip() not in listed
    assert cli("tokens", "revoke", "door-1").code == 0
    assert "revoked" in cli("tokens", "list").out
    assert "is not an IP address" in cli("tokens", "create", "x", "--allow", "nope").err
    assert cli("tokens", "revoke", "door-1").code == 1


def test_an_expired_or_revoked_token_is_refused_with_the_reason(client):
    from datetime import timedelta

    from django.utils import timezone

    from cardid.access.models import ApiToken

    make_user(username="ann")
    key = tokens.create(name="soon", scope="read", actor=ADMIN, expires_days=1)[1]
    api = Api(client, key)
    assert api("get", "/users/ann")[0] == 200  # a day left: accepted
    past = timezone.now() - timedelta(minutes=1)
    ApiToken.objects.filter(name="soon").update(expires_at=past)
    recent.forget_all()  # as a second later: the token was read under a second ago
    code, body = api("get", "/users/ann")
    assert code == 401 and body["detail"].startswith(f"the API token expired on {past:%Y-%m-%d}")
    other = token("read")
    tokens.revoke(name=ApiToken.objects.exclude(name="soon").get().name, actor=ADMIN)
    code, body = Api(client, other)("get", "/users/ann")
    assert code == 401 and body["detail"] == "the API token was revoked"
    code, body = Api(client, "cid_" + "x" * 43)("get", "/users/ann")
    assert code == 401 and body["detail"] == "the API token is not valid"
