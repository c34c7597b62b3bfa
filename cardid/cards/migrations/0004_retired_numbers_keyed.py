# Retired numbers were kept as a plain SHA-256 of the number, which reverses for a small
# number space; they are now an HMAC (with a key derived from the server's secret) of that
# same SHA-256, so the stored rows convert without knowing any number.

from django.db import migrations
from django.utils.crypto import salted_hmac


def keyed(apps, schema_editor):
    RetiredNumber = apps.get_model("cards", "RetiredNumber")
    batch = []
    for row in RetiredNumber.objects.only("id", "number_hash").iterator(chunk_size=5000):
        row.number_hash = salted_hmac(
            "cardid.retired", row.number_hash, algorithm="sha256"
        ).hexdigest()
        batch.append(row)
        if len(batch) == 5000:
            RetiredNumber.objects.bulk_update(batch, ["number_hash"])
            batch = []
    RetiredNumber.objects.bulk_update(batch, ["number_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("cards", "0003_registrationcode"),
    ]

    operations = [
        migrations.RunPython(keyed, migrations.RunPython.noop),
    ]
