"""`cardid secrets rotate` with every kind of sealed value present — the SMTP password, both
LDAP bind passwords, the OpenID Connect client secret and a webhook's signing secret — and
a rotation that fails leaves the key file and the values as they were (SPEC §9)."""

from unittest import mock

import pytest
from django.conf import settings

from cardid import secretbox
from cardid.config import options
from cardid.config import services as config
from cardid.config.models import OptionValue
from cardid.outbound import services as outbound
from cardid.outbound.models import Webhook
from tests.factories import ADMIN

pytestmark = pytest.mark.django_db
SECRETS = {
    "smtp.password": "smtp-pw-1",
    "sync.ldap.bind-password": "ldap-pw-2",
    "sync.ldap.write-back.bind-password": "writer-pw-3",
    "auth.oidc.client-secret": "oidc-secret-4",
}


@pytest.fixture
def sealed(tmp_path, monkeypatch):
    """Every secret option set and a webhook added, sealed under a data dir of the test's."""
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path)
    monkeypatch.delenv("CARDID_SECRETS_KEY", raising=False)
    assert {k for k, o in options.OPTIONS.items() if o.kind == "secret"} == set(SECRETS)
    for key, value in SECRETS.items():
        config.set_value(key=key, raw=value, actor=ADMIN)
    config.set_value(key="webhooks.allowed-hosts", raw="127.0.0.1", actor=ADMIN)
    return outbound.add_webhook(url="http://127.0.0.1:9/hook", actor=ADMIN).secret


def readable() -> dict[str, str]:
    found = {key: config.get(key) for key in SECRETS}
    found["webhook"] = secretbox.open_(Webhook.objects.get().secret, settings.DATA_DIR)
    return found


def test_rotation_re_encrypts_every_sealed_value(sealed, cli):
    key_file = secretbox.key_path(settings.DATA_DIR)
    before = {r.key: r.value for r in OptionValue.objects.filter(key__in=SECRETS)}
    r = cli("secrets", "rotate")
    assert r.code == 0, r.err
    assert "5 stored secret(s) re-encrypted" in r.err
    assert readable() == {**SECRETS, "webhook": sealed}
    after = {r.key: r.value for r in OptionValue.objects.filter(key__in=SECRETS)}
    assert all(after[k] != before[k] for k in SECRETS)
    lines = key_file.read_bytes().splitlines()
    assert len(lines) == 2  # the new key first, the old one kept
    # Only the new key is needed now: the README's "then drop the old key" loses nothing.
    key_file.write_bytes(lines[0] + b"\n")
    assert readable() == {**SECRETS, "webhook": sealed}


def test_a_rotation_that_fails_changes_neither_the_key_file_nor_the_values(sealed, cli):
    key_file = secretbox.key_path(settings.DATA_DIR)
    keys_before = key_file.read_bytes()
    values_before = sorted(OptionValue.objects.values_list("key", "value"))
    with mock.patch.object(Webhook, "save", side_effect=RuntimeError("disk full")):
        for _ in range(3):
            with pytest.raises(RuntimeError):
                cli("secrets", "rotate")
    assert key_file.read_bytes() == keys_before
    assert sorted(OptionValue.objects.values_list("key", "value")) == values_before
    assert not list(settings.DATA_DIR.glob("secrets.new*"))
    assert readable() == {**SECRETS, "webhook": sealed}
