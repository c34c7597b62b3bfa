"""Card/ID notifications through a real SMTP server, with its faults."""

import pytest
import trustme

from cardid.cards import generation
from cardid.cards import services as cards
from cardid.config import services as config
from cardid.errors import CardidError, Invalid
from cardid.notifications import services
from cardid.notifications.models import OutboxMessage
from tests.factories import ADMIN, make_user, numbers_of
from tests.mailserver import MailServer, SilentServer, configure_smtp

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status


configure = configure_smtp


@pytest.fixture
def server():
    s = MailServer().start()
    configure(s.port)
    yield s
    s.stop()


def generate_for(*users, replace=False, notify=True, slot="primary"):
    return generation.generate(
        selection=generation.Selection(usernames=[u.username for u in users]),
        slot=slot,
        replace=replace,
        actor=ADMIN,
        notify=notify,
    )


def statuses():
    return sorted(OutboxMessage.objects.values_list("status", flat=True))


def test_a_generated_number_is_mailed_with_a_stable_message_id(server):
    ann = make_user(full_name="Ann Smith", email="ann@example.org")
    generate_for(ann)
    report = services.deliver_due()
    assert report.sent == 1
    (mail,) = server.received
    assert mail.recipients == ["ann@example.org"]
    body = mail.message.get_payload(decode=True).decode()
    assert numbers_of(ann)["primary"] in body and "Ann Smith" in body
    msg = OutboxMessage.objects.get()
    assert mail.message["Message-ID"] == services.message_id(msg, "cardid@example.org")
    assert (msg.status, msg.sent_to) == (Status.SENT, "ann@example.org")


def test_a_superseded_number_is_not_mailed_but_the_newer_one_is(server):
    ann = make_user()
    generate_for(ann)
    first = numbers_of(ann)["primary"]
    generate_for(ann, replace=True)
    newest = numbers_of(ann)["primary"]
    services.deliver_due()
    (mail,) = server.received
    body = mail.message.get_payload(decode=True).decode()
    assert newest in body and first not in body
    assert statuses() == [Status.CANCELLED, Status.SENT]


def test_a_number_cleared_before_sending_is_not_mailed(server):
    ann = make_user()
    generate_for(ann)
    cards.clear_number(username=ann.username, slot="primary", actor=ADMIN)
    services.deliver_due()
    assert server.received == []
    assert OutboxMessage.objects.get().last_error == "the primary number was cleared before sending"


def test_a_user_without_an_address_is_reported_not_skipped(server):
    generate_for(make_user(email=""), make_user())
    report = services.deliver_due()
    assert (report.sent, report.no_address) == (1, 1)
    assert services.counts() == {"sent": 1, "no-address": 1}


def test_an_invalid_recipient_address_fails_clearly_and_sends_nothing(server):
    generate_for(make_user(email="not-an-address"))
    report = services.deliver_due()
    assert report.failed == 1 and server.received == []
    assert "is not valid" in OutboxMessage.objects.get().last_error


def test_header_injection_through_the_full_name_goes_nowhere(server):
    config.set_value(key="notify.card.subject", raw="Number for %full_name%", actor=ADMIN)
    generate_for(make_user(full_name="Bob\r\nBcc: x@y.org", email="bob@example.org"))
    services.deliver_due()
    (mail,) = server.received
    assert mail.recipients == ["bob@example.org"]
    assert mail.message["Bcc"] is None
    assert mail.message["Subject"] == "Number for Bob Bcc: x@y.org"


def test_a_recipient_refused_with_550_is_failed_with_the_servers_answer(server):
    a, b, c = (
        make_user(email="a@example.org"),
        make_user(email="b@example.org"),
        make_user(email="c@example.org"),
    )
    server.faults.refuse_rcpt["b@example.org"] = "550 5.1.1 No such mailbox"
    generate_for(a, b, c)
    report = services.deliver_due()
    assert (report.sent, report.failed) == (2, 1)
    failed = OutboxMessage.objects.get(status=Status.FAILED)
    assert failed.user == b and failed.last_error == "550 5.1.1 No such mailbox"
    assert sorted(m.recipients[0] for m in server.received) == ["a@example.org", "c@example.org"]


def test_temporary_answers_are_retried_with_back_off_then_delivered_once(server):
    users = [make_user() for _ in range(3)]
    server.faults.mail_answer = "421 4.3.2 Service not available, try later"
    generate_for(*users)
    report = services.deliver_due()
    assert report.retrying == 3 and server.received == []
    pending = OutboxMessage.objects.filter(status=Status.PENDING)
    assert all(m.next_attempt_at is not None and "421" in m.last_error for m in pending)
    # Waiting out the back-off: nothing is due yet.
    assert services.deliver_due().sent == 0
    server.faults.mail_answer = None
    assert services.deliver_due(force=True).sent == 3
    assert len(server.received) == 3


def test_451_on_data_defers_and_the_message_arrives_later(server):
    server.faults.data_answers = ["451 4.7.1 Greylisted, come back later"]
    generate_for(make_user())
    assert services.deliver_due().retrying == 1
    assert services.deliver_due(force=True).sent == 1
    assert len(server.received) == 1


def test_server_down_loses_nothing(server):
    users = [make_user() for _ in range(4)]
    generate_for(*users)
    server.stop()
    report = services.deliver_due()
    assert report.retrying == 4
    assert "refused the connection" in OutboxMessage.objects.first().last_error
    server.start()
    assert services.deliver_due(force=True).sent == 4
    assert len(server.received) == 4


def test_a_connection_dropped_mid_batch_delivers_every_message_exactly_once(server):
    users = [make_user() for _ in range(10)]
    server.faults.drop_after = 3
    generate_for(*users)
    report = services.deliver_due()
    assert report.sent == 3 and report.retrying == 7
    server.faults.drop_after = None
    assert services.deliver_due(force=True).sent == 7
    ids = [m.message["Message-ID"] for m in server.received]
    assert len(ids) == 10 == len(set(ids))
    assert sorted(m.recipients[0] for m in server.received) == sorted(u.email for u in users)


def test_a_server_that_never_answers_times_out_and_keeps_the_message():
    silent = SilentServer()
    try:
        configure(silent.port, **{"smtp.timeout": "1"})
        generate_for(make_user())
        report = services.deliver_due()
        assert report.retrying == 1
        assert "did not answer in time" in OutboxMessage.objects.get().last_error
    finally:
        silent.stop()


def test_a_sender_that_died_mid_batch_leaves_its_messages_to_the_next_one(server):
    generate_for(*[make_user() for _ in range(5)])
    claimed = services._claim(force=False)  # a worker took the batch, then was killed
    assert len(claimed) == 5
    assert services.deliver_due().sent == 0  # its lease still holds
    OutboxMessage.objects.update(lease_until="2000-01-01T00:00Z")  # the lease ran out
    assert services.deliver_due().sent == 5
    assert len(server.received) == 5


def test_send_pending_without_smtp_settings_says_what_to_set(cli):
    generate_for(make_user())
    r = cli("notifications", "send-pending")
    assert r.code == 1
    assert "no mail server is set" in r.err
    assert "Options › Notifications › E-mail (SMTP) › SMTP server" in r.err  # the screen
    assert "`cardid config set smtp.host mail.example.org`" in r.err  # and the command
    assert OutboxMessage.objects.get().status == Status.PENDING


def test_send_pending_cli_delivers_and_exits_0(cli, server):
    generate_for(make_user(), make_user())
    r = cli("notifications", "send-pending")
    assert r.code == 0, r.err
    assert r.out.startswith("sent 2, failed 0")


def test_send_pending_exits_1_while_something_is_undelivered(cli, server):
    generate_for(make_user())
    server.stop()
    r = cli("notifications", "send-pending")
    assert r.code == 1 and "1 message(s) still pending" in r.err
    server.start()


def test_failed_messages_can_be_retried(cli, server):
    ann = make_user(email="ann@example.org")
    server.faults.refuse_rcpt["ann@example.org"] = "550 mailbox full"
    generate_for(ann)
    services.deliver_due()
    assert "550 mailbox full" in cli("notifications", "list", "--status", "failed").out
    server.faults.refuse_rcpt.clear()
    assert cli("notifications", "retry").code == 0
    assert services.deliver_due().sent == 1


def test_the_test_email_prints_the_servers_answer(cli, server):
    r = cli("notifications", "test", "admin@example.org")
    assert r.code == 0, r.err
    assert r.out.strip() == "250 2.0.0 Ok: queued as cardid-test"
    assert server.received[0].recipients == ["admin@example.org"]


def test_the_test_email_to_a_bad_address_is_refused(cli, server):
    r = cli("notifications", "test", "nobody")
    assert r.code == 1 and "'nobody' is not an e-mail address" in r.err
    assert server.received == []


def test_preview_renders_the_saved_template_for_a_real_user(cli):
    ann = make_user(username="ann", full_name="Ann Smith")
    cards.set_number(username="ann", number="12345678", slot="primary", actor=ADMIN)
    config.set_value(
        key="notify.card.body", raw="%full_name%: %card_number% / %id_num%", actor=ADMIN
    )
    cards.set_number(username="ann", number="AB-99", slot="secondary", actor=ADMIN)
    config.set_value(key="notify.card.subject", raw="Card of %user%", actor=ADMIN)
    r = cli("notifications", "preview", "ann")
    assert r.code == 0 and r.out.splitlines()[0] == f"Subject: Card of {ann.username}"
    assert r.out.strip().splitlines()[-1] == "Ann Smith: 12345678 / 12345678"
    r = cli("notifications", "preview", "ann", "--slot", "secondary")
    assert r.out.strip().splitlines()[-1] == "Ann Smith: AB-99 / 12345678"
    assert not OutboxMessage.objects.exists()  # a preview sends and queues nothing


@pytest.mark.parametrize(
    "key,value,msg",
    [
        ("notify.card.body", "Hello %fullname%", "unknown placeholder %fullname%"),
        ("notify.card.subject", "two\nlines", "one line"),
        ("notify.card.body", "broken \udce9 text", "not valid UTF-8"),
        ("smtp.from", "cardid at example", "not an e-mail address"),
    ],
)
def test_bad_templates_and_addresses_are_refused_when_saved(key, value, msg):
    before = config.get(key)
    with pytest.raises(Invalid, match=msg):
        config.set_value(key=key, raw=value, actor=ADMIN)
    assert config.get(key) == before


# -- STARTTLS and AUTH ------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = cert.server_context() if hasattr(cert, "server_context") else None
    if context is None:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
    s = MailServer(tls_context=context, auth=("mailer", "s3cret")).start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    configure(
        s.port,
        **{
            "smtp.security": "starttls",
            "smtp.username": "mailer",
            "smtp.password": "s3cret",
            "smtp.ca-file": str(ca_file),
        },
    )
    yield s
    s.stop()


def test_starttls_with_login_delivers(tls_server):
    generate_for(make_user())
    assert services.deliver_due().sent == 1
    assert len(tls_server.received) == 1


def test_a_wrong_password_is_reported_and_the_message_kept(tls_server):
    config.set_value(key="smtp.password", raw="wrong", actor=ADMIN)
    generate_for(make_user())
    assert services.deliver_due().retrying == 1
    assert "login refused: 535" in OutboxMessage.objects.get().last_error
    assert tls_server.received == []


def test_an_untrusted_certificate_is_rejected_by_default(tls_server):
    config.set_value(key="smtp.ca-file", raw="", actor=ADMIN)
    generate_for(make_user())
    assert services.deliver_due().retrying == 1
    assert "CERTIFICATE_VERIFY_FAILED" in OutboxMessage.objects.get().last_error
    assert tls_server.received == []


def test_certificate_checking_can_be_switched_off(tls_server):
    config.set_value(key="smtp.ca-file", raw="", actor=ADMIN)
    config.set_value(key="smtp.verify-certificate", raw="false", actor=ADMIN)
    generate_for(make_user())
    assert services.deliver_due().sent == 1


def test_test_email_reports_a_refused_login_in_one_line(cli, tls_server):
    config.set_value(key="smtp.password", raw="wrong", actor=ADMIN)
    r = cli("notifications", "test", "admin@example.org")
    assert r.code == 1 and "test e-mail not sent: login refused" in r.err
    with pytest.raises(CardidError):
        services.send_test(address="admin@example.org", actor=ADMIN)
