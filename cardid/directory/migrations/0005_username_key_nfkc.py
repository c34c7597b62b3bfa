"""Usernames are matched in their compatibility form, case folded (NFKC, casefold): the keys
of the users made before are brought to it. Where two users would then share a key (say
"strauss" and "Strauß"), the later one keeps its old key, and the migration names it."""

import unicodedata

from django.db import migrations


def key(username: str) -> str:
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def forwards(apps, schema_editor):
    User = apps.get_model("directory", "User")
    taken = set(User.objects.values_list("username_key", flat=True))
    for pk, username, old in User.objects.values_list("id", "username", "username_key"):
        new = key(username)
        if new == old:
            continue
        if new in taken:
            print(f"\n  user {username!r} keeps its key: {new!r} is another user's")
            continue
        User.objects.filter(pk=pk).update(username_key=new)
        taken.discard(old)
        taken.add(new)


class Migration(migrations.Migration):
    dependencies = [("directory", "0004_user_language")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
