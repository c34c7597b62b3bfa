"""Webhooks against a real HTTP receiver on loopback that checks Standard Webhooks signatures:
every event once per id, in order per user, retried with the same id, refused URLs."""

import json
import tracemalloc
from datetime import timedelta

import pytest
import trustme
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from cardid.cards import services as cards
from cardid.config import services as config
from cardid.directory import services as directory
from cardid.directory.models import User
from cardid.outbound import services as outbound
from cardid.outbound.models import Delivery, Webhook
from tests.factories import ADMIN
from tests.webhookreceiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    config.set_value(key="webhooks.allowed-hosts", raw="127.0.0.1", actor=ADMIN)
    r = Receiver().start()
    yield r
    r.stop()


def add(receiver, cli=None, **kw) -> str:
    added = outbound.add_webhook(url=receiver.url, actor=ADMIN, **kw)
    receiver.secret = added.secret
    return added.secret


def deliver_all(rounds: int = 20) -> None:
    for _ in range(rounds):
        outbound.deliver_due(force=True)
        if not Delivery.objects.filter(status=Delivery.Status.PENDING).exists():
            return


def test_every_event_arrives_signed_once_per_id_in_order_per_user(receiver):
    add(receiver)
    receiver.answers = [500, 500, 503]  # the receiver fails three times first
    ann = directory.add_user(username="Ann", actor=ADMIN, email="ann@example.org")
    bob = directory.add_user(username="bob", actor=ADMIN)
    cards.set_number(username="ann", slot="primary", number="40001234", actor=ADMIN)
    cards.set_number(username="bob", slot="primary", number="40005678", actor=ADMIN)
    cards.set_number(username="ann", slot="primary", number="40009999", actor=ADMIN)
    cards.clear_number(username="ann", slot="primary", actor=ADMIN)
    directory.update_user(user=User.objects.get(pk=bob.pk), enabled=False, actor=ADMIN)
    assert ann.pk and Delivery.objects.filter(status="pending").count() == 7

    deliver_all()

    assert Delivery.objects.filter(status="sent").count() == 7
    assert all(r.verified for r in receiver.received), "every signature checks out"
    accepted = receiver.accepted()
    assert len({r.id for r in accepted}) == len(accepted) == 7  # once per id
    # The retried message kept its id and its body.
    failed_ids = [r.id for r in receiver.received if r.status != 200]
    assert failed_ids and set(failed_ids) <= {r.id for r in accepted}
    for r in receiver.received:
        same = [a for a in accepted if a.id == r.id]
        assert same[0].body == r.body
    per_user = {}
    for r in accepted:
        e = r.event
        per_user.setdefault(e["data"]["username"], []).append(e["type"])
    assert per_user["Ann"] == ["user.created", "card.issued", "card.changed", "card.cleared"]
    assert per_user["bob"] == ["user.created", "card.issued", "user.disabled"]
    issued = next(a.event for a in accepted if a.event["type"] == "card.issued")
    assert set(issued) == {"type", "timestamp", "data"}
    assert issued["data"] == {"username": "Ann", "slot": "primary", "number": "******34"}


def test_numbers_are_sent_in_full_only_to_hooks_created_with_include_number(receiver, cli):
    config.set_value(key="webhooks.allowed-hosts", raw="127.0.0.1", actor=ADMIN)
    r = cli("webhooks", "add", receiver.url, "--events", "card.issued", "--include-number")
    assert r.code == 0, r.err
    secret = r.out.strip()
    assert secret.startswith("whsec_") and "\n" not in secret  # alone on standard output
    receiver.secret = secret
    directory.add_user(username="ann", actor=ADMIN)
    cards.set_number(username="ann", slot="primary", number="40001234", actor=ADMIN)
    deliver_all()
    (got,) = receiver.accepted()
    assert got.verified and got.event["data"]["number"] == "40001234"
    assert got.event["type"] == "card.issued"  # user.created was not asked for


def test_the_secret_is_sealed_on_disk(receiver):
    secret = add(receiver)
    stored = Webhook.objects.get().secret
    assert secret not in stored and stored.startswith("fernet:")
    with connection.cursor() as c:
        c.execute("SELECT secret FROM outbound_webhook")
        assert secret[6:] not in c.fetchone()[0]


def test_a_failing_receiver_is_retried_with_back_off_and_the_same_id(receiver):
    add(receiver)
    receiver.answers = [500]
    directory.add_user(username="ann", actor=ADMIN)
    report = outbound.deliver_due()
    assert report.retrying == 1 and report.sent == 0
    d = Delivery.objects.get()
    assert d.status == "pending" and d.attempts == 1 and d.response_code == 500
    wait = d.next_attempt_at - timezone.now()
    assert timedelta(seconds=2) < wait <= timedelta(seconds=5)
    assert outbound.deliver_due().sent == 0  # not due yet: nothing is sent
    assert len(receiver.received) == 1
    Delivery.objects.update(next_attempt_at=timezone.now())
    assert outbound.deliver_due().sent == 1
    assert [r.id for r in receiver.received] == [d.message_id, d.message_id]


def test_later_events_of_a_user_wait_for_the_earlier_one(receiver):
    add(receiver)
    receiver.answers = [500]
    directory.add_user(username="ann", actor=ADMIN)
    cards.set_number(username="ann", slot="primary", number="40001234", actor=ADMIN)
    directory.add_user(username="bob", actor=ADMIN)
    report = outbound.deliver_due()  # the receiver fails: everything for it waits
    # ann's card.issued was not even taken: her user.created comes first.
    assert report.retrying == 2 and receiver.accepted() == []
    first = Delivery.objects.order_by("id").first()
    # Everything is due again but ann's first message, still in its back-off.
    Delivery.objects.exclude(pk=first.pk).update(next_attempt_at=None)
    outbound.deliver_due()
    got = [(r.event["type"], r.event["data"]["username"]) for r in receiver.accepted()]
    assert got == [("user.created", "bob")]  # ann's card.issued waits behind her user.created
    Delivery.objects.update(next_attempt_at=None)
    outbound.deliver_due()
    got = [(r.event["type"], r.event["data"]["username"]) for r in receiver.accepted()]
    assert got[1:] == [("user.created", "ann"), ("card.issued", "ann")]


def test_a_permanent_refusal_is_shown_and_can_be_retried(receiver, cli):
    add(receiver)
    receiver.answers = [410]
    directory.add_user(username="ann", actor=ADMIN)
    outbound.deliver_due()
    d = Delivery.objects.get()
    assert d.status == "failed" and d.last_error.startswith("410")
    r = cli("webhooks", "deliveries", "--status", "failed")
    assert "410" in r.out and "user.created" in r.out
    health = Client().get("/healthz").json()
    assert health["outbound"]["webhook"]["failed"] == 1 and health["status"] == "degraded"
    assert cli("webhooks", "retry").code == 0
    deliver_all()
    assert Delivery.objects.get().status == "sent"
    assert [r.id for r in receiver.received] == [d.message_id, d.message_id]


def test_redirects_are_not_followed(receiver):
    elsewhere = Receiver().start()
    try:
        receiver.redirect_to = elsewhere.url
        add(receiver)
        directory.add_user(username="ann", actor=ADMIN)
        outbound.deliver_due()
        d = Delivery.objects.get()
        assert d.status == "failed" and "redirected to" in d.last_error
        assert elsewhere.received == []
    finally:
        elsewhere.stop()


def test_the_receivers_certificate_is_checked(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    receiver = Receiver(tls=(str(chain), str(key))).start()
    try:
        config.set_value(key="webhooks.allowed-hosts", raw="localhost", actor=ADMIN)
        added = outbound.add_webhook(url=receiver.url, actor=ADMIN)
        assert "certificate" in added.warning  # added, with the reason it cannot deliver yet
        receiver.secret = added.secret
        directory.add_user(username="ann", actor=ADMIN)
        outbound.deliver_due()
        d = Delivery.objects.get()
        assert d.status == "pending" and "certificate" in d.last_error
        assert receiver.received == []
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        config.set_value(key="webhooks.ca-file", raw=str(ca_file), actor=ADMIN)
        deliver_all()
        assert Delivery.objects.get().status == "sent"
        assert receiver.accepted()[0].verified
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    "url, words",
    [
        ("ftp://example.org/x", "is not allowed: a webhook URL starts with https://"),
        ("file:///etc/passwd", "is not allowed"),
        ("https://user:pw@example.org/", "user name or password"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[::1]:9/", "this machine"),
        ("http://127.0.0.2:9/", "this machine"),
        ("https:///nohost", "no host name"),
    ],
)
def test_urls_that_may_not_be_used_are_refused(cli, url, words):
    r = cli("webhooks", "add", url)
    assert r.code == 1 and words in r.err and r.out == ""
    assert r.err.count("\n") == 1  # one line
    assert not Webhook.objects.exists()


def test_a_host_outside_the_allowed_list_is_refused(cli):
    config.set_value(key="webhooks.allowed-hosts", raw="*.example.org 10.0.0.0/8", actor=ADMIN)
    r = cli("webhooks", "add", "http://127.0.0.1:9/hook")
    assert r.code == 1 and "not among the hosts webhooks may reach" in r.err
    r = cli("config", "set", "webhooks.allowed-hosts", "exa mple/org")
    assert r.code != 0 and "neither a host name" in r.err


def test_an_unreachable_receiver_is_added_with_a_warning(cli, receiver):
    port = receiver.port
    receiver.stop()
    r = cli("webhooks", "add", f"http://127.0.0.1:{port}/gone")
    assert r.code == 0 and "warning:" in r.err and "cannot be reached now" in r.err
    assert r.out.startswith("whsec_")
    receiver.start()  # a new port; the old one stays closed
    directory.add_user(username="ann", actor=ADMIN)
    report = outbound.deliver_due()
    assert report.retrying == 1 and "did not answer" in Delivery.objects.get().last_error


def test_list_and_remove(cli, receiver):
    add(receiver, events="card.issued,card.cleared")
    directory.add_user(username="ann", actor=ADMIN)
    cards.set_number(username="ann", slot="primary", number="40001234", actor=ADMIN)
    r = cli("webhooks", "list", "--format", "json")
    (row,) = json.loads(r.out)
    assert row["url"] == receiver.url and row["events"] == ["card.issued", "card.cleared"]
    assert row["pending"] == 1
    assert cli("webhooks", "add", receiver.url).code == 1  # one webhook per URL
    r = cli("webhooks", "remove", receiver.url)
    assert r.code == 0 and "1 undelivered message(s) dropped" in r.err
    assert not Delivery.objects.exists()
    r = cli("webhooks", "remove", receiver.url)
    assert r.code == 1 and "webhooks list" in r.err
    r = cli("webhooks", "add", receiver.url, "--events", "card.stolen")
    assert r.code == 1 and "unknown event 'card.stolen'" in r.err


def test_a_change_rolled_back_sends_nothing(receiver):
    add(receiver)
    directory.add_user(username="ann", actor=ADMIN)
    before = Delivery.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        cards.set_number(username="ann", slot="primary", number="40001234", actor=ADMIN)
        raise RuntimeError("the request failed after the change")
    assert Delivery.objects.count() == before


def test_bulk_generation_queues_one_event_per_user(receiver, cli):
    add(receiver, events="card.issued")
    for i in range(30):
        directory.add_user(username=f"u{i}", actor=ADMIN)
    assert cli("generate", "--all").code == 0
    assert Delivery.objects.filter(event="card.issued").count() == 30
    deliver_all()
    accepted = receiver.accepted()
    assert len(accepted) == 30 and all(r.verified for r in accepted)
    assert {r.event["data"]["username"] for r in accepted} == {f"u{i}" for i in range(30)}


def test_health_and_metrics_show_the_backlog(receiver):
    add(receiver)
    directory.add_user(username="ann", actor=ADMIN)
    health = Client().get("/healthz").json()
    assert health["outbound"]["webhook"] == {"pending": 1, "failed": 0}
    assert health["outbound"]["oldest_pending"] is not None
    text = Client().get("/metrics").content.decode()
    assert 'cardid_outbound_messages{channel="webhook",state="pending"} 1.0' in text
    assert 'cardid_outbound_messages{channel="directory",state="pending"} 0.0' in text


def test_a_slow_receiver_does_not_hold_the_worker(receiver):
    """The worker's turn ends on time: what is left goes back, no attempt counted."""
    add(receiver, events="user.created")
    receiver.delay = 0.3
    for i in range(10):
        directory.add_user(username=f"u{i}", actor=ADMIN)
    # A one-second turn at 0.3 s a message sends a few and stops (bench/timing.py measures
    # how long the turn takes).
    report = outbound.deliver_due(seconds=1.0)
    assert 2 <= report.sent <= 5
    left = Delivery.objects.filter(status="pending")
    assert left.count() == 10 - report.sent
    assert not left.exclude(lease_token="").exists() and not left.filter(attempts__gt=0).exists()
    deliver_all()
    assert len(receiver.accepted()) == 10


def test_a_huge_answer_is_not_read(receiver):
    add(receiver, events="user.created")
    receiver.big_answer = True
    directory.add_user(username="ann", actor=ADMIN)
    tracemalloc.start()
    try:
        assert outbound.deliver_due().sent == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # the 64 MB answer was not read
    assert Delivery.objects.get().status == "sent"


def test_adding_a_webhook_probes_only_hosts_the_allow_list_names():
    """With the allow list blank, adding webhooks must not tell which hosts and ports
    answer (a port scanner): nothing is tried. A listed host is tried, to warn early."""
    from unittest import mock

    from cardid.outbound import http as outbound_http

    config.set_value(key="webhooks.allowed-hosts", raw="", actor=ADMIN)
    with mock.patch.object(outbound_http, "reachable", side_effect=AssertionError("probed")):
        added = outbound.add_webhook(url="http://192.0.2.10:22/hook", actor=ADMIN)
    assert added.warning == ""
    config.set_value(key="webhooks.allowed-hosts", raw="192.0.2.0/24", actor=ADMIN)
    with mock.patch.object(outbound_http, "reachable", return_value="no answer") as tried:
        added = outbound.add_webhook(url="http://192.0.2.11/hook", actor=ADMIN)
    assert tried.called and "cannot be reached now: no answer" in added.warning
