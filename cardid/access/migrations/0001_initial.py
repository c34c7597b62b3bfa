# The models of the `api` app, taken over with their tables (state only: the tables exist).

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("api", "0002_apitoken_expires_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100, unique=True)),
                        ("key_hash", models.CharField(max_length=64, unique=True)),
                        ("prefix", models.CharField(max_length=12)),
                        (
                            "scope",
                            models.CharField(
                                choices=[("read", "Read"), ("lookup", "Lookup"), ("write", "Write")],
                                max_length=10,
                            ),
                        ),
                        ("allowed_addresses", models.JSONField(default=list)),
                        ("conversion_rule", models.CharField(blank=True, max_length=100)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("created_by", models.CharField(max_length=200)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "api_apitoken"},
                ),
                migrations.CreateModel(
                    name="LookupCounter",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("key", models.CharField(max_length=100)),
                        ("window_start", models.DateTimeField()),
                        ("misses", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "api_lookupcounter",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("key", "window_start"), name="lookup_counter_once"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
