"""The console's Webhooks page: add (the secret shown once), refuse, retry, remove."""

import pytest

from cardid.config import services as config
from cardid.directory import services as directory
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


def test_add_shows_the_secret_once_and_deliveries_can_be_retried(console, receiver):
    r = console.post(
        "/admin/webhooks",
        {"url": receiver.url, "events": ["user.created"], "include_number": ""},
    )
    assert r.status_code == 200
    page = r.content.decode()
    hook = Webhook.objects.get()
    assert hook.events == ["user.created"]
    secret = page.split('id="new-secret" class="number">')[1].split("<")[0]
    assert secret.startswith("whsec_") and secret not in hook.secret
    assert "whsec_" not in console.get("/admin/webhooks").content.decode()  # once only

    receiver.secret = secret
    receiver.answers = [404]
    directory.add_user(username="ann", actor=ADMIN)
    outbound.deliver_due()
    page = console.get("/admin/webhooks?status=failed").content.decode()
    assert "404" in page and "user.created" in page
    r = console.post("/admin/webhooks?status=failed", {"all": "1"})
    assert r.status_code == 302
    outbound.deliver_due()
    assert Delivery.objects.get().status == "sent" and receiver.accepted()[0].verified


def test_a_refused_url_is_named_on_the_form_and_nothing_is_added(console):
    r = console.post("/admin/webhooks", {"url": "ftp://example.org/x"})
    assert r.status_code == 400
    assert "a webhook URL starts with https://" in r.content.decode()
    r = console.post("/admin/webhooks", {"url": "http://169.254.169.254/"})
    assert r.status_code == 400 and "cloud metadata" in r.content.decode()
    assert not Webhook.objects.exists()


def test_remove(console, receiver):
    outbound.add_webhook(url=receiver.url, actor=ADMIN)
    r = console.post("/admin/webhooks/remove", {"url": receiver.url}, follow=True)
    assert "Webhook removed." in r.content.decode()
    assert not Webhook.objects.exists()


def test_write_back_options_are_on_the_sync_page(console):
    config.set_value(key="sync.source", raw="ldap", actor=ADMIN)
    page = console.get("/admin/options/sync").content.decode()
    assert "Write numbers back to the directory" in page and "Bind DN for writing" in page
    page = console.get("/admin/options/webhooks").content.decode()
    assert "Allowed hosts" in page and 'aria-current="page"' in page
