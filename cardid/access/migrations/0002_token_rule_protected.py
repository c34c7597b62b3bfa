# A token's conversion rule becomes a protected foreign key (a rule in use cannot be
# deleted); the rule names stored so far are carried over. last_used_at was never written.

import django.db.models.deletion
from django.db import migrations, models


def names_to_rules(apps, schema_editor):
    ApiToken = apps.get_model("access", "ApiToken")
    ConversionRule = apps.get_model("cards", "ConversionRule")
    ids = dict(ConversionRule.objects.values_list("name", "id"))
    for token in ApiToken.objects.exclude(conversion_rule=""):
        token.conversion_rule_ref_id = ids.get(token.conversion_rule)
        token.save(update_fields=["conversion_rule_ref"])


def rules_to_names(apps, schema_editor):
    ApiToken = apps.get_model("access", "ApiToken")
    for token in ApiToken.objects.filter(conversion_rule_ref__isnull=False).select_related(
        "conversion_rule_ref"
    ):
        token.conversion_rule = token.conversion_rule_ref.name
        token.save(update_fields=["conversion_rule"])


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("cards", "0003_registrationcode"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="conversion_rule_ref",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tokens",
                to="cards.conversionrule",
            ),
        ),
        migrations.RunPython(names_to_rules, rules_to_names),
        migrations.RemoveField(model_name="apitoken", name="conversion_rule"),
        migrations.RenameField(
            model_name="apitoken", old_name="conversion_rule_ref", new_name="conversion_rule"
        ),
        migrations.RemoveField(model_name="apitoken", name="last_used_at"),
    ]
