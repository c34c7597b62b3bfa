"""cardid starts as fast as Django itself, give or take: the libraries a look-up or most
commands never use (PDF, HTTP clients, OpenID Connect, metrics, encryption, the REST
schemas) are imported where they are used, not at start-up. Checked in a fresh process,
as every `cardid` command and every worker starts."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Imported only by the work that needs them. Allowed at start-up: Django and its apps,
# django-tasks, django-htmx, whitenoise (the WSGI application), re2 (option patterns),
# babel is not imported (translations are compiled beforehand).
HEAVY = (
    "reportlab",  # printing ID cards
    "segno",  # QR codes on them
    "httpx",
    "requests",
    "urllib3",  # webhooks, OpenID Connect
    "authlib",
    "joserfc",  # OpenID Connect
    "saml2",  # SAML
    "standardwebhooks",
    "prometheus_client",  # /metrics
    "cryptography",  # sealed option secrets
    "ldap3",  # the LDAP source and write-back
    "ninja",
    "pydantic",  # the REST API
    "google",  # Google Workspace clients (google-auth)
    "msal",  # Microsoft Entra ID, were it used
)
PROBE = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "cardid.settings"
import django
django.setup()
{then}
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}} & set(sys.argv[1:]))))
"""


def loaded(then: str, tmp_path) -> set[str]:
    env = {"CARDID_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(then=then), *HEAVY],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_django_setup_imports_no_heavy_library(tmp_path):
    assert loaded("", tmp_path) == set()


def test_a_look_up_command_imports_no_heavy_library(tmp_path):
    """What `cardid lookup` and `cardid set-number` load: the command modules, the card
    services and the look-up path."""
    then = (
        "import cardid.cli, cardid.cards.services, cardid.cards.selectors, cardid.cards.ledger\n"
        "from cardid.cards.management.commands import lookup, set_number"
    )
    assert loaded(then, tmp_path) == set()


def test_generating_numbers_loads_no_pdf_library(tmp_path):
    """`cardid generate` runs the bulk job in its own process: the job module shares its
    home with printing, whose PDF libraries load only when a PDF is drawn."""
    then = "import cardid.cards.jobs\nfrom cardid.cards.management.commands import generate"
    assert loaded(then, tmp_path) & {"reportlab", "segno"} == set()


def test_the_check_sees_a_heavy_import(tmp_path):
    """Not vacuous: importing the webhooks' delivery shows its libraries."""
    assert {"standardwebhooks", "urllib3"} <= loaded("import cardid.outbound.services", tmp_path)


THREADS_FIRST_COUNT = """
import os, sys, threading
os.environ["DJANGO_SETTINGS_MODULE"] = "cardid.settings"
import django
django.setup()
from cardid import telemetry
barrier = threading.Barrier(32)
failed = []
def first():
    barrier.wait()
    try:
        telemetry.count_lookup("found")
    except Exception as e:
        failed.append(repr(e))
threads = [threading.Thread(target=first) for _ in range(32)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(failed), failed[:1])
"""


def test_the_first_look_ups_of_a_threaded_server_count_at_once(tmp_path):
    """The look-up counter is made at the first count: 32 threads counting their first
    look-up together make it once (a second registration answered 500s under gthread)."""
    r = subprocess.run(
        [sys.executable, "-c", THREADS_FIRST_COUNT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"CARDID_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("0 "), r.stdout
