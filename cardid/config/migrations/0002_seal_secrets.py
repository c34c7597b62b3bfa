# Secrets among the options were stored in clear; they are sealed with the key kept outside
# the database (cardid.secretbox) — the rows change, the values do not.

from django.conf import settings
from django.db import migrations

from cardid import secretbox
from cardid.config import options


def seal(apps, schema_editor):
    OptionValue = apps.get_model("config", "OptionValue")
    secret = [o.key for o in options.OPTIONS.values() if o.kind == "secret"]
    for row in OptionValue.objects.filter(key__in=secret):
        if row.value and not str(row.value).startswith(secretbox.PREFIX):
            row.value = secretbox.seal(row.value, settings.DATA_DIR)
            row.save(update_fields=["value"])


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seal, migrations.RunPython.noop),
    ]
