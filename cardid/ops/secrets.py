"""`cardid secrets rotate`: every stored secret — the secret options (mail and directory
passwords) and the webhooks' signing secrets — re-encrypted with a new key in one step."""

from django.conf import settings
from django.db import transaction

from cardid import secretbox
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.config import options
from cardid.config.models import OptionValue
from cardid.outbound.models import Webhook


def rotate(*, actor: Actor) -> int:
    """Re-encrypt every stored secret with a new key (or, when the keys come from
    CARDID_SECRETS_KEY, with its first key); returns how many were re-encrypted. The new key
    file takes its place only once the database has committed the new values: a rotation
    that fails changes neither."""
    pending = None
    try:
        with transaction.atomic():
            secret_keys = [o.key for o in options.OPTIONS.values() if o.kind == "secret"]
            rows = list(
                OptionValue.objects.select_for_update().filter(key__in=secret_keys, value__gt="")
            )
            hooks = list(Webhook.objects.select_for_update())
            stored = [r.value for r in rows] + [h.secret for h in hooks]
            if secretbox.from_environment():
                values = secretbox.reencrypt(stored, settings.DATA_DIR)
                where = "the first key of CARDID_SECRETS_KEY"
            else:
                values, pending = secretbox.prepare_rotation(stored, settings.DATA_DIR)
                where = f"a new key in {secretbox.key_path(settings.DATA_DIR)}"
            for row, value in zip(rows, values[: len(rows)], strict=True):
                row.value = value
                row.save(update_fields=["value"])
            for hook, value in zip(hooks, values[len(rows) :], strict=True):
                hook.secret = value
                hook.save(update_fields=["secret"])
            audit.record(
                actor=actor,
                action="secrets.rotate",
                target="options",
                detail=f"{len(stored)} secret(s) re-encrypted with {where}",
            )
    except BaseException:
        if pending is not None:
            pending.unlink(missing_ok=True)
        raise
    if pending is not None:
        secretbox.put_in_place(pending, settings.DATA_DIR)
    return len(stored)
