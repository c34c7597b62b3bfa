# Counters get their kind, account and client (for the lists of locks and for unlocking) and
# keyed digests as keys. The counters are short windows: clients' look-up counters are carried
# over; log-in and number counters of the old format are dropped (a number's was a plain hash).

from django.db import migrations, models
from django.utils.crypto import salted_hmac


def rekey(apps, schema_editor):
    Counter = apps.get_model("access", "LookupCounter")
    for c in Counter.objects.all():
        if not c.key.startswith("client:"):
            c.delete()
            continue
        client = c.key.removeprefix("client:")
        digest = salted_hmac("cardid.guard.lookup", client, algorithm="sha256").hexdigest()
        c.key, c.kind, c.client = f"lookup:c:{digest[:40]}", "lookup", client
        c.save()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0002_token_rule_protected"),
    ]

    operations = [
        migrations.AddField(
            model_name="lookupcounter",
            name="kind",
            field=models.CharField(blank=True, max_length=30),
        ),
        migrations.AddField(
            model_name="lookupcounter",
            name="account",
            field=models.CharField(blank=True, db_index=True, max_length=150),
        ),
        migrations.AddField(
            model_name="lookupcounter",
            name="client",
            field=models.CharField(blank=True, db_index=True, max_length=100),
        ),
        migrations.RunPython(rekey, migrations.RunPython.noop),
    ]
