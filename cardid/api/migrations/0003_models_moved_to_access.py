# The token and counter models moved to the core app `access` (its 0001 takes them over
# with their tables); nothing changes in the database.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_apitoken_expires_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ApiToken"),
                migrations.DeleteModel(name="LookupCounter"),
            ],
            database_operations=[],
        ),
    ]
