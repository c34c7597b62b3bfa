"""The terminals' door (cardid.api.terminals): on a server, look-ups are answered before
Django's request handling — and must answer exactly as Django does. Each call below is sent
through the door and through Django alone (cardid.wsgi.django_application), and the two
answers compared; a look-up that finds its user costs one query; what a process keeps for a
second (the token, the options) follows a revocation and a changed option within that
second on a running server."""

import json
import time
import xmlrpc.client
from io import BytesIO
from unittest import mock

import pytest
from django.core import signals
from django.db import close_old_connections, connection

from cardid.access import tokens
from cardid.access.models import LookupCounter
from cardid.api.terminals import Terminals
from cardid.cards import rules
from cardid.cards import services as cards
from cardid.config import services as config
from cardid.wsgi import application, django_application
from tests.factories import ADMIN, give_number, make_user
from tests.ops.helpers import Site, request

pytestmark = pytest.mark.django_db
# Headers that differ by nature between two answers (the server adds the first two).
OWN = {"Date", "Server", "Content-Length"}


@pytest.fixture(autouse=True)
def _connection_kept():
    """As Django's test client does: a request does not close the test's connection (its
    transaction holds the test's data)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def lookup_misses() -> int:
    """The failed look-ups counted (in one-minute rows: a test may span two minutes)."""
    return sum(LookupCounter.objects.filter(kind="lookup").values_list("misses", flat=True))


def call(app, path, body, key="", *, ctype="application/json", host="testserver", **extra):
    """One POST through a WSGI application: (status, headers, body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "CONTENT_TYPE": ctype,
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": BytesIO(data),
        "wsgi.url_scheme": "http",
        "wsgi.errors": BytesIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        **({"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}),
        **extra,
    }
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = int(status[:3]), dict(headers)

    result = application(environ, start_response) if app is None else app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return got["status"], got["headers"], content


def both(path, body, key="", **kw):
    """The door's answer and Django's for the same call, each sent once."""
    door = call(application, path, body, key, **kw)
    django = call(django_application, path, body, key, **kw)
    return door, django


def same(door, django):
    (s1, h1, b1), (s2, h2, b2) = door, django
    assert s1 == s2, (door, django)
    assert {k: v for k, v in h1.items() if k not in OWN} == {
        k: v for k, v in h2.items() if k not in OWN
    }
    assert int(h1["Content-Length"]) == len(b1)
    if h1["Content-Type"].startswith("application/json"):
        assert json.loads(b1) == json.loads(b2)
    else:
        assert answered(b1) == answered(b2)


def answered(xml: bytes):
    try:
        return xmlrpc.client.loads(xml)
    except xmlrpc.client.Fault as f:
        return f.faultCode, f.faultString


def rpc(key, number):
    return xmlrpc.client.dumps((key, number), "api.lookUpUserNameByCardNo").encode()


def test_the_door_answers_every_look_up_as_django_does():
    ann = make_user(username="ann", full_name="Ann Smith")
    give_number(ann, "12345678")
    give_number(make_user(username="bob", enabled=False), "23456789")
    cards.set_pin(username="ann", pin="4711", actor=ADMIN)
    rules.set_rule(name="reader", chain="upper,reverse-bytes,hex2dec", actor=ADMIN)
    door = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    reader = tokens.create(
        name="reader", scope="lookup", actor=ADMIN, rule=rules.get_rule("reader")
    )[1]
    read = tokens.create(name="read-only", scope="read", actor=ADMIN)[1]
    elsewhere = tokens.create(name="far", scope="lookup", actor=ADMIN, allow=["10.9.0.0/16"])[1]
    calls = [
        ({"number": "12345678"}, door),  # a hit
        ({"number": "12345678"}, door, {"wsgi.url_scheme": "https"}),  # over HTTPS: HSTS
        ({"number": " 12345678 "}, door),
        ({"number": "99999999"}, door),  # no such number
        ({"number": "23456789"}, door),  # a disabled user's
        ({"number": "12345678", "pin": "4711"}, door),
        ({"number": "12345678", "pin": "0000"}, door),
        ({"number": "4e61bc00"}, reader),  # what a reader sends, through the rule
        ({"number": "zz"}, reader),  # the rule cannot take it
        ({"number": "12345678"}, read),  # wrong scope
        ({"number": "12345678"}, elsewhere),  # not from this address
        ({"number": "12345678"}, "cid_nonsense"),
        ({"number": "12345678"}, ""),
    ]
    for body, key, *extra in calls:
        same(*both("/api/v1/lookup", body, key, **(extra[0] if extra else {})))
    for number in ("12345678", "99999999", "23456789"):
        same(*both("/rpc/api/xmlrpc", rpc(door, number), ctype="text/xml"))
    same(*both("/rpc/api/xmlrpc", rpc("cid_nonsense", "1"), ctype="text/xml"))
    same(*both("/rpc/api/xmlrpc", b"<nonsense", ctype="text/xml"))


def test_a_locked_client_is_refused_by_the_door_as_by_django():
    config.set_value(key="api.lookup.max-misses", raw="2", actor=ADMIN)
    key = tokens.create(name="walker", scope="lookup", actor=ADMIN)[1]
    for n in range(2):
        assert call(None, "/api/v1/lookup", {"number": f"9000000{n}"}, key)[0] == 404
    door, django = both("/api/v1/lookup", {"number": "90000009"}, key)
    same(door, django)
    assert door[0] == 429 and int(door[1]["Retry-After"]) >= 1
    assert lookup_misses() == 2  # refusals are not misses


@pytest.mark.parametrize(
    "body",
    [b'{"number": 12345678}', b"{}", b"not json", b'["12345678"]', b'{"number": "1", "pin": 4711}'],
)
def test_a_call_that_is_not_a_well_formed_look_up_goes_on_to_django(body):
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    door, django = both("/api/v1/lookup", body, key)
    same(door, django)
    assert door[0] in (400, 422)
    assert not LookupCounter.objects.exists()  # not a look-up: nothing counted


def test_a_host_name_not_allowed_goes_on_to_django_and_is_refused():
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    status, _, _ = call(None, "/api/v1/lookup", {"number": "1"}, key, host="evil.example")
    assert status == 400


def test_behind_a_trusted_proxy_the_door_sees_the_client(monkeypatch):
    give_number(make_user(username="ann"), "12345678")
    key = tokens.create(name="far", scope="lookup", actor=ADMIN, allow=["10.9.0.0/16"])[1]
    monkeypatch.setenv("CARDID_TRUSTED_PROXIES", "127.0.0.1")
    door = Terminals(django_application)
    forwarded = {"HTTP_X_FORWARDED_FOR": "10.9.1.2"}
    assert call(door, "/api/v1/lookup", {"number": "12345678"}, key, **forwarded)[0] == 200
    assert call(door, "/api/v1/lookup", {"number": "12345678"}, key)[0] == 403
    spoofed = {"HTTP_X_FORWARDED_FOR": "10.9.1.2", "REMOTE_ADDR": "127.0.0.2"}
    assert call(door, "/api/v1/lookup", {"number": "12345678"}, key, **spoofed)[0] == 403


class Statements:
    """Every statement the database runs, counted where production runs it: `db.fetch_one`
    takes the driver's own cursor unless queries are being logged, so Django's
    CaptureQueriesContext would send it down the other branch. On SQLite the driver's trace
    hook sees every statement; on PostgreSQL the server-binding cursor class and Django's
    execute wrappers are counted. `via_django` holds the statements that went through
    Django's cursor."""

    def __init__(self):
        self.run: list[str] = []
        self.via_django: list[str] = []

    def __enter__(self):
        connection.ensure_connection()
        assert not connection.queries_logged  # the branch production takes
        self._wrapper = connection.execute_wrapper(self._django)
        self._wrapper.__enter__()
        if connection.vendor == "sqlite":
            connection.connection.set_trace_callback(self._traced)
        else:
            import psycopg

            run = self.run

            class Counted(psycopg.Cursor):
                def execute(self, query, params=None, **kwargs):
                    run.append(str(query))
                    return super().execute(query, params, **kwargs)

            self._patch = mock.patch.object(psycopg, "Cursor", Counted)
            self._patch.__enter__()
        return self

    def __exit__(self, *exc):
        if connection.vendor == "sqlite":
            connection.connection.set_trace_callback(None)
        else:
            self._patch.__exit__(*exc)
        self._wrapper.__exit__(*exc)

    def _traced(self, sql: str) -> None:
        if not sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            self.run.append(sql)

    def _django(self, execute, sql, params, many, context):
        self.via_django.append(sql)
        if connection.vendor != "sqlite":
            self.run.append(sql)
        return execute(sql, params, many, context)


def test_a_look_up_that_finds_its_user_is_one_query():
    give_number(make_user(username="ann", full_name="Ann Smith"), "12345678")
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    assert call(None, "/api/v1/lookup", {"number": "87654321"}, key)[0] == 404  # reads token
    with Statements() as hit:
        status, _, body = call(None, "/api/v1/lookup", {"number": "12345678"}, key)
    assert status == 200 and json.loads(body) == {"username": "ann", "full_name": "Ann Smith"}
    assert len(hit.run) == 1 and hit.via_django == [], hit.run
    cards.set_pin(username="ann", pin="4711", actor=ADMIN)
    with Statements() as with_pin:  # the PIN counts read with it
        status, _, _ = call(None, "/api/v1/lookup", {"number": "12345678", "pin": "4711"}, key)
    assert status == 200 and len(with_pin.run) == 1 and with_pin.via_django == []
    with Statements() as miss:
        assert call(None, "/api/v1/lookup", {"number": "87654321"}, key)[0] == 404
    # The read, then the client's failure counted (an update of this minute's row).
    assert len(miss.run) == 2, miss.run
    assert lookup_misses() == 2


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

    def look_up(number):
        body = json.dumps({"number": number}).encode()
        return request(port, "/api/v1/lookup", method="POST", headers=headers, body=body).status

    def by_rpc(token, number):
        proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/rpc/api/xmlrpc")
        return proxy.api.lookUpUserNameByCardNo(token, number)

    # Every process has read the token and the options (several calls reach both).
    for _ in range(20):
        assert look_up("12345678") == 200
        assert by_rpc(other, "12345678") == "ann"
    for i in range(3):
        assert look_up(f"9000000{i}") == 404  # three misses: far below the default limit
    site.run("config", "set", "api.lookup.max-misses", "3")
    time.sleep(1.0)
    assert all(look_up("12345678") == 429 for _ in range(10))  # every process knows
    site.run("tokens", "revoke", "other")
    time.sleep(1.0)
    for _ in range(10):
        with pytest.raises(xmlrpc.client.Fault, match="revoked"):
            by_rpc(other, "12345678")
