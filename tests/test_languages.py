"""Languages (SPEC §12): pages in the browser's language or the one chosen, e-mails in the
user's; the translations complete and every text on a page marked for translation."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.template.base import Lexer, TokenType
from django.test import Client

import cardid
from cardid.config import services as config
from cardid.directory.models import User
from cardid.notifications import services as notifications
from tests.factories import ADMIN, make_user
from tests.mailserver import MailServer, configure_smtp

ROOT = Path(cardid.__file__).resolve().parent
LOCALE = ROOT / "locale"
PAGES = {
    "en": ("Log in", "User name"),
    "de": ("Anmelden", "Benutzername"),
    "fr": ("Se connecter", "Nom d'utilisateur"),
    "es": ("Iniciar sesión", "Nombre de usuario"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("language", PAGES)
def test_a_page_speaks_the_browsers_language(language):
    r = Client().get("/user/login", HTTP_ACCEPT_LANGUAGE=f"{language},en;q=0.5")
    page = r.content.decode()
    assert f'<html lang="{language}">' in page
    for words in PAGES[language]:
        assert words in page


@pytest.mark.django_db
def test_a_language_cardid_does_not_have_falls_back_to_english():
    r = Client().get("/user/login", HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9")
    assert r.status_code == 200 and '<html lang="en">' in r.content.decode()


@pytest.mark.django_db
def test_the_language_chosen_on_a_page_stays():
    c = Client()
    r = c.post("/i18n/setlang/", {"language": "fr", "next": "/user/login"})
    assert r.status_code == 302 and r["Location"] == "/user/login"
    page = c.get("/user/login", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="fr">' in page and "Se connecter" in page
    r = c.post("/i18n/setlang/", {"language": "xx", "next": "/user/login"})
    assert '<html lang="fr">' in c.get("/user/login").content.decode()  # unknown: ignored


@pytest.mark.django_db
def test_notifications_are_written_in_the_users_language():
    server = MailServer().start()
    try:
        configure_smtp(server.port)
        config.set_value(key="notify.card-admin-generated", raw="true", actor=ADMIN)
        anna = make_user(username="anna", email="anna@example.org", language="de")
        bob = make_user(username="bob", email="bob@example.org")
        zeta = make_user(username="zeta", email="zeta@example.org", language="it")
        from tests.conftest import run_cli

        assert run_cli("generate", "--user", "anna", "bob", "zeta").code == 0
        report = notifications.deliver_due()
        assert report.sent == 3
        mails = {m.recipients[0]: m.message for m in server.received}
        german = mails["anna@example.org"]
        assert german["Subject"] == "Ihre neue Karten-/ID-Nummer"
        assert german["Content-Language"] == "de"
        assert "Ihre neue Karten-/ID-Nummer lautet" in german.get_payload(decode=True).decode()
        for address in ("bob@example.org", "zeta@example.org"):  # none, and one cardid lacks
            assert mails[address]["Subject"] == "Your new Card/ID number"
            assert mails[address]["Content-Language"] == "en"
        assert anna.pk and bob.pk and zeta.pk
    finally:
        server.stop()


@pytest.mark.django_db
def test_a_languages_own_text_and_the_fallback_to_the_default_language(cli):
    user = make_user(username="anna", language="fr")
    cli("config", "set", "notify.card.subject.fr", "Numéro pour %user%")
    subject, _ = notifications.preview(username="anna")
    assert subject == "Numéro pour anna"
    cli("config", "set", "notify.card.subject.fr", "")
    cli("config", "set", "notify.card.body.fr", "")
    subject, body = notifications.preview(username="anna")
    assert subject == "Your new Card/ID number" and body.startswith("Hello")
    cli("config", "set", "notify.default-language", "es")
    cli("config", "set", "notify.card.subject", "Número nuevo")
    assert notifications.preview(username="anna")[0] == "Número nuevo"
    assert user.pk


@pytest.mark.django_db
def test_a_users_language_comes_from_the_import(cli, tmp_path):
    f = tmp_path / "people.csv"
    f.write_text("username,email,language\nanna,a@example.org,de-CH\nbob,b@example.org,\n")
    assert cli("users", "import", str(f)).code == 0
    assert dict(User.objects.values_list("username", "language")) == {"anna": "de", "bob": ""}


def test_every_entry_is_translated():
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/django.po")):
        with po.open("rb") as f:
            catalog = read_po(f)
        untranslated = [
            m.id
            for m in catalog
            if m.id
            and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
        ]
        assert untranslated == [], f"{po.relative_to(ROOT)}: {untranslated[:10]}"


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs GNU gettext (./dev test)")
def test_every_marked_text_is_in_the_translations(tmp_path):
    """makemessages over the code finds no text the .po files lack."""
    copy = tmp_path / "cardid"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "makemessages",
            "-l",
            "de",
            "--no-location",
            "--no-obsolete",
        ],
        cwd=copy,
        check=True,
        capture_output=True,
        env={"PATH": str(Path(shutil.which("xgettext")).parent) + ":/usr/bin:/bin"},
    )
    with (copy / "locale/de/LC_MESSAGES/django.po").open("rb") as f:
        found = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with (LOCALE / "de/LC_MESSAGES/django.po").open("rb") as f:
        kept = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    assert found - kept == set(), "marked but not translated: run makemessages and translate"


# Text nodes that are no words for people: punctuation, symbols, numbers.
_NOT_WORDS = re.compile(r"^[\s·•—–:;,.()|/›*#&;0-9%-]*$")


def _visible_text(source: str) -> str:
    """A template's text as people read it, less what is marked for translation: the text
    between tags, with every variable and tag a neutral mark and markup stripped."""
    parts, inside_block = [], False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0]
            if name in ("blocktranslate", "blocktrans"):
                inside_block = True
            elif name in ("endblocktranslate", "endblocktrans"):
                inside_block = False
            parts.append(" 0 ")
        elif token.token_type in (TokenType.VAR, TokenType.COMMENT):
            parts.append(" 0 ")
        elif not inside_block:
            parts.append(token.contents)
    text = re.sub(r"<!--.*?-->", " ", "".join(parts), flags=re.S)
    text = re.sub(r"<script.*?</script>", " ", text, flags=re.S)
    text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)  # commands are not translated
    text = re.sub(r"\bcardid\b", " ", text)  # nor is the product's name
    text = re.sub(r"<[^>]*>", " ", text)
    return re.sub(r"&[a-z#0-9]+;", " ", text)


def test_every_text_on_a_page_is_marked_for_translation():
    unmarked = []
    for template in sorted(ROOT.glob("*/templates/**/*.html")) + sorted(
        ROOT.glob("templates/**/*.html")
    ):
        for line in _visible_text(template.read_text()).splitlines():
            if not _NOT_WORDS.match(line) and re.search(r"[A-Za-z]{2,}", line):
                unmarked.append(f"{template.relative_to(ROOT)}: {line.strip()[:70]!r}")
    assert unmarked == []


CONSOLE = {
    "en": ("Dashboard", "Log out"),
    "de": ("Übersicht", "abmelden"),
    "fr": ("Tableau de bord", "Déconnecter"),
    "es": ("Panel", "Cerrar la sesión"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("language", CONSOLE)
def test_the_console_speaks_the_browsers_language(console, language):
    page = console.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<html lang="{language}">' in page
    for words in CONSOLE[language]:
        assert words in page
    options = console.get("/admin/options/sync", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert {
        "en": "Sync source",
        "de": "Synchronisationsquelle",
        "fr": "Source de synchronisation",
    }.get(language, "Fuente de sincronización") in options


@pytest.mark.django_db
def test_dates_and_numbers_follow_the_language(console):
    User.objects.bulk_create(
        [User(username=f"u{i}", username_key=f"u{i}") for i in range(1234)], batch_size=500
    )
    assert "1,234" in console.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1.234" in console.get("/admin/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    french = console.get("/admin/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert re.search("1[\u00a0\u202f]234", french)  # a (narrow) no-break space
    from datetime import UTC, datetime

    from cardid.directory.models import SyncRun

    at = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)
    SyncRun.objects.create(source="file", started_at=at, actor="t", status="succeeded")
    for language, written in (
        ("en", "2026-11-30 14:05"),
        ("de", "30.11.2026 14:05"),
        ("fr", "30/11/2026 14:05"),
        ("es", "30/11/2026 14:05"),
    ):
        page = console.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert written in page, language


@pytest.mark.django_db
def test_the_notification_editor_has_a_tab_per_language_and_previews_the_chosen_one(console):
    make_user(username="anna", language="fr")
    page = console.get("/admin/options/notifications?lang=de").content.decode()
    for tab in ("In English", "In German", "In French", "In Spanish"):
        assert tab in page
    assert 'id="tab-de"' in page and 'id="tab-fr" hidden' in page
    r = console.post(
        "/admin/options/notifications/preview",
        {"username": "anna", "language": "de", "notify.card.subject.de": "Hallo %user%"},
    )
    assert 'id="preview-subject">Hallo anna<' in r.content.decode()
    r = console.post("/admin/options/notifications/preview", {"username": "anna"})
    assert "Votre nouveau numéro de carte/ID" in r.content.decode()  # anna's own language


@pytest.mark.django_db
def test_a_users_language_comes_from_the_file_source(tmp_path):
    from cardid.sync import engine

    f = tmp_path / "users.csv"
    f.write_text("username,language\nanna,fr_CA\nbob,xx-unknown\ncy,\n")
    for k, v in {"sync.source": "file", "sync.file.path": str(f)}.items():
        config.set_value(key=k, raw=v, actor=ADMIN)
    assert engine.run(actor=ADMIN).ok
    langs = dict(User.objects.values_list("username", "language"))
    assert langs == {"anna": "fr", "bob": "xx", "cy": ""}
    f.write_text("username,language\nanna,es\nbob,xx-unknown\ncy,\n")
    result = engine.run(actor=ADMIN)
    assert result.counts["updated"] == 1 and User.objects.get(username="anna").language == "es"
