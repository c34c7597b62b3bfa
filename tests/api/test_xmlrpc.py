"""The PaperCut-compatible XML-RPC endpoint, called with xmlrpc.client exactly as the
reference product's example scripts call it."""

import subprocess
import sys
import time
import urllib.request
import xmlrpc.client

import pytest

from cardid.access import tokens
from cardid.cards.models import Card
from cardid.config import services as config
from cardid.directory.models import User
from cardid.jobs.models import Job
from tests.conftest import free_port
from tests.factories import ADMIN, give_number, make_group, make_user, numbers_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rpc(live_server):
    key = tokens.create(name="scripts", scope="write", actor=ADMIN)[1]
    proxy = xmlrpc.client.ServerProxy(f"{live_server.url}/rpc/api/xmlrpc")
    return proxy, key


def test_remove_temp_cards_job_shape(rpc):
    """removeTempCardsJob: look up each temporary card, clear the slot that holds it."""
    proxy, auth = rpc
    ann, bob = make_user(username="ann"), make_user(username="bob")
    give_number(ann, "1234")
    give_number(bob, "2345", slot="secondary")
    for card in ["1234", "2345", "3456"]:
        username = proxy.api.lookUpUserNameByCardNo(auth, card)
        if len(username) > 0:
            if proxy.api.getUserProperty(auth, username, "primary-card-number") == card:
                proxy.api.setUserProperty(auth, username, "primary-card-number", "")
            elif proxy.api.getUserProperty(auth, username, "secondary-card-number") == card:
                proxy.api.setUserProperty(auth, username, "secondary-card-number", "")
    assert proxy.api.lookUpUserNameByCardNo(auth, "3456") == ""
    assert Card.objects.count() == 0


def test_swap_card_numbers_one_property_at_a_time(rpc):
    """swapCardNumbers: page through users, set primary then secondary in two calls."""
    proxy, auth = rpc
    for i in range(5):
        u = make_user(username=f"u{i}")
        give_number(u, f"P{i}")
        give_number(u, f"S{i}", slot="secondary")
    offset, limit = 0, 2
    while True:
        users = proxy.api.listUserAccounts(auth, offset, limit)
        for user in users:
            primary = proxy.api.getUserProperty(auth, user, "secondary-card-number")
            secondary = proxy.api.getUserProperty(auth, user, "primary-card-number")
            proxy.api.setUserProperty(auth, user, "primary-card-number", primary)
            proxy.api.setUserProperty(auth, user, "secondary-card-number", secondary)
        if len(users) < limit:
            break
        offset += limit
    for i in range(5):
        assert numbers_of(User.objects.get(username=f"u{i}")) == {
            "primary": f"S{i}",
            "secondary": f"P{i}",
        }


def test_swap_in_one_set_user_properties_call(rpc):
    proxy, auth = rpc
    ann = make_user(username="ann")
    give_number(ann, "1111")
    give_number(ann, "2222", slot="secondary")
    assert proxy.api.setUserProperties(
        auth, "ann", [["primary-card-number", "2222"], ["secondary-card-number", "1111"]]
    )
    assert numbers_of(ann) == {"primary": "2222", "secondary": "1111"}


def test_find_all_users_in_group_and_in_dept_shapes(rpc):
    proxy, auth = rpc
    ann = make_user(username="ann", department="Chem")
    make_user(username="bob", department="Bio")
    make_group("staff", members=[ann])
    found_group, found_dept = [], []
    offset, limit = 0, 100
    while True:
        users = proxy.api.listUserAccounts(auth, offset, limit)
        for user in users:
            if "staff" in proxy.api.getUserGroups(auth, user):
                found_group.append(user)
            if proxy.api.getUserProperty(auth, user, "department") == "Chem":
                found_dept.append(user)
        if len(users) < limit:
            break
        offset += limit
    assert found_group == found_dept == ["ann"]
    assert proxy.api.listUserGroups(auth, 0, 100) == ["staff"]
    assert proxy.api.getGroupMembers(auth, "staff", 0, 100) == ["ann"]


def test_properties_in_the_order_asked_and_card_number_alias(rpc):
    proxy, auth = rpc
    ann = make_user(username="ann", full_name="Ann Smith", email="ann@x.org", office="B2")
    give_number(ann, "AB12")
    assert proxy.api.getUserProperties(
        auth, "ann", ["office", "card-number", "full-name", "disabled", "email"]
    ) == ["B2", "AB12", "Ann Smith", "false", "ann@x.org"]
    proxy.api.setUserProperty(auth, "ann", "card-number", "CD34")
    proxy.api.setUserProperty(auth, "ann", "disabled", "true")
    ann.refresh_from_db()
    assert numbers_of(ann) == {"primary": "CD34"} and not ann.enabled


def test_card_pin_is_set_hashed_and_checked_by_lookup(rpc, client):
    proxy, auth = rpc
    give_number(make_user(username="ann"), "12345678")
    proxy.api.setUserProperty(auth, "ann", "card-pin", "4711")
    assert "4711" not in User.objects.get(username="ann").pin_hash
    from cardid.cards import lookups

    assert lookups.owner(number="12345678", pin="4711").username == "ann"
    with pytest.raises(xmlrpc.client.Fault, match="stored hashed"):
        proxy.api.getUserProperty(auth, "ann", "card-pin")


def test_lookup_by_id_number_searches_both_slots(rpc):
    proxy, auth = rpc
    give_number(make_user(username="ann"), "77", slot="secondary")
    assert proxy.api.lookUpUserNameByIDNo(auth, "77") == "ann"
    assert proxy.api.lookUpUserNameByCardNo(auth, "78") == ""


def test_a_number_held_by_another_user_is_a_not_unique_fault(rpc):
    proxy, auth = rpc
    give_number(make_user(username="ann"), "5555")
    make_user(username="bob")
    with pytest.raises(xmlrpc.client.Fault) as e:
        proxy.api.setUserProperty(auth, "bob", "primary-card-number", "5555")
    assert "not unique" in e.value.faultString
    assert numbers_of(User.objects.get(username="bob")) == {}


@pytest.mark.parametrize(
    "call,fault",
    [
        (lambda p, a: p.api.getUserProperty(a, "ghost", "email"), "User does not exist: ghost"),
        (lambda p, a: p.api.getUserProperty(a, "ann", "shoe-size"), "unknown property"),
        (lambda p, a: p.api.getUserProperty("wrong-token", "ann", "email"), "not valid"),
        (
            lambda p, a: p.api.setUserProperty(a, "ann", "primary-card-number", "12;34"),
            "letters, digits",
        ),
        (lambda p, a: p.api.noSuchMethod(a), "unknown method"),
        (lambda p, a: p.api.getUserProperty(a, "ann"), "takes (auth, username, name)"),
        (lambda p, a: p.api.listUserAccounts(a, "0", 10), "offset must be"),
    ],
)
def test_faults(rpc, call, fault):
    proxy, auth = rpc
    make_user(username="ann")
    with pytest.raises(xmlrpc.client.Fault, match=fault.replace("(", r"\(").replace(")", r"\)")):
        call(proxy, auth)
    assert Card.objects.count() == 0


def test_a_lookup_token_cannot_change_anything(live_server):
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    proxy = xmlrpc.client.ServerProxy(f"{live_server.url}/rpc/api/xmlrpc")
    make_user(username="ann")
    assert proxy.api.lookUpUserNameByCardNo(key, "1") == ""
    with pytest.raises(xmlrpc.client.Fault, match="has scope lookup"):
        proxy.api.setUserProperty(key, "ann", "primary-card-number", "1")


def test_add_user_sync_and_config_value_for_sync_programs(rpc):
    proxy, auth = rpc
    assert proxy.api.addNewUser(auth, "newbie")
    assert proxy.api.isUserExists(auth, "NEWBIE") is True
    assert proxy.api.getConfigValue(auth, "user-source.update-user-details-card-id") == "Y"
    config.set_value(key="sync.import-card-numbers", raw="false", actor=ADMIN)
    assert proxy.api.getConfigValue(auth, "user-source.update-user-details-card-id") == "N"
    with pytest.raises(xmlrpc.client.Fault, match="no sync source is configured"):
        proxy.api.performUserAndGroupSync(auth)
    config.set_value(key="sync.source", raw="file", actor=ADMIN)
    assert proxy.api.performUserAndGroupSync(auth) is True
    assert Job.objects.get().kind == "sync"


def post(url, body: bytes, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_an_xml_bomb_is_rejected_cheaply(live_server):
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<methodCall><methodName>api.isUserExists</methodName><params><param><value>&lol3;</value>
</param></params></methodCall>"""
    # Refused before any entity is expanded (bench/timing.py measures how fast).
    status, body = post(f"{live_server.url}/rpc/api/xmlrpc", bomb)
    assert status == 200 and b"not allowed" in body and b"<fault>" in body


def test_an_oversized_body_is_refused_before_it_is_read(live_server):
    status, _ = post(f"{live_server.url}/rpc/api/xmlrpc", b"x" * 1_000_001)
    assert status == 413


def test_malformed_xml_is_a_fault_not_a_500(live_server):
    status, body = post(f"{live_server.url}/rpc/api/xmlrpc", b"<methodCall><oops")
    assert status == 200 and b"not a valid XML-RPC call" in body


def test_the_lookup_limit_holds_across_two_server_processes(subprocess_env):
    config.set_value(key="api.lookup.max-misses", raw="4", actor=ADMIN)
    key = tokens.create(name="door", scope="lookup", actor=ADMIN)[1]
    give_number(make_user(username="ann"), "12345678")
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cardid",
                "serve",
                "--no-worker",
                "--workers",
                "1",
                "--port",
                str(p),
            ],
            env=subprocess_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        for p in ports:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{p}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
        proxies = [xmlrpc.client.ServerProxy(f"http://127.0.0.1:{p}/rpc/api/xmlrpc") for p in ports]
        for i in range(4):  # two misses on each server
            assert proxies[i % 2].api.lookUpUserNameByCardNo(key, f"9999000{i}") == ""
        for proxy in proxies:
            with pytest.raises(xmlrpc.client.Fault, match="too many failed look-ups"):
                proxy.api.lookUpUserNameByCardNo(key, "12345678")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
