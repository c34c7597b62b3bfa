"""Ready for production (SPEC §9 files and HTTP, §10 operations), proved on real processes:
the data dir never follows the current directory, files are private, secrets are not in
the database's bytes, headers are read from a real server's answers, a port in use and a
wrong host name are named."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cardid import env
from tests.ops.helpers import CARDID, ROOT, Site, request, wait_for

SECRET = "Pa55-unique-smtp-secret-7f3a9"


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path / "data")
    yield s
    s.stop()


def people_csv(tmp_path: Path, n: int = 3) -> Path:
    f = tmp_path / "people.csv"
    f.write_text(
        "username,full-name,email\n"
        + "".join(f"user{i},User {i},user{i}@example.org\n" for i in range(n))
    )
    return f


# -- the data dir ----------------------------------------------------------------------------


def test_every_command_uses_the_checkouts_data_dir_from_any_directory(tmp_path):
    """With the venv's `cardid` on the PATH, `cd elsewhere && cardid info` reads the
    checkout's var/ and makes nothing where it stands."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CARDID_", "PROMETHEUS_"))}
    clean["PATH"] = f"{Path(sys.executable).parent}:{clean.get('PATH', '')}"
    r = subprocess.run(
        ["cardid", "info"], env=clean, cwd=elsewhere, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert f"data dir: {ROOT / 'var'}" in r.stdout
    assert list(elsewhere.iterdir()) == []  # no ./var, no database here


def test_an_installed_cardid_keeps_its_data_in_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CARDID_DATA_DIR", raising=False)
    monkeypatch.setattr(env, "PACKAGE", tmp_path / "site-packages" / "cardid")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert env.data_dir() == tmp_path / "xdg" / "cardid"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert env.data_dir() == tmp_path / "home" / ".local" / "share" / "cardid"
    monkeypatch.setenv("CARDID_DATA_DIR", "~/cards")
    assert env.data_dir() == tmp_path / "home" / "cards"


def test_a_command_on_an_empty_data_dir_says_to_run_init(site):
    r = site.run("users", "list", check=False)
    assert r.returncode == 1
    assert r.stderr == (
        f"cardid: the database ({site.data / 'cardid.sqlite3'}) is not initialised or not up "
        "to date; run `cardid init` (and check CARDID_DATA_DIR / CARDID_DATABASE_URL)\n"
    )


def test_info_names_version_data_dir_database_and_workers(site):
    site.run("init")
    out = site.run("info").stdout
    assert out.splitlines()[0].startswith("cardid ")
    assert f"data dir: {site.data}" in out
    assert f"database: SQLite {site.data}" in out
    assert "workers: none seen in the last 30 s" in out


# -- files readable by their owner only --------------------------------------------------------


def modes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in [root, *root.rglob("*")]
    }


def test_the_data_dir_and_everything_in_it_is_private_and_no_secret_is_in_the_database(
    site, tmp_path
):
    site.run("init")
    site.run("users", "import", str(people_csv(tmp_path)))
    site.run("generate", "--all")
    site.run("cards", "print", "--all", "--output", str(site.data / "cards.pdf"))
    site.run("config", "set", "smtp.password", SECRET)
    site.run("config", "set", "sync.ldap.bind-password", SECRET + "-ldap")
    found = modes(site.data)
    assert found.pop(".") == "0o700"
    assert {"cardid.sqlite3", "secret_key", "secrets.key", "cards.pdf"} <= set(found)
    opened = {p: m for p, m in found.items() if m not in ("0o600", "0o700")}
    assert opened == {}, f"readable by others: {opened}"
    # The secrets are encrypted: neither the database nor its journal holds them.
    for f in site.data.glob("cardid.sqlite3*"):
        assert SECRET.encode() not in f.read_bytes(), f.name
    assert site.run("config", "get", "smtp.password").stdout.strip() == "set"
    assert "smtp.password = set" in site.run("config", "list").stdout


def test_init_closes_what_was_left_open_and_check_names_it(site):
    site.run("init")
    (site.data / "cardid.sqlite3").chmod(0o644)
    site.data.chmod(0o755)
    r = site.run("check", check=False)
    assert r.returncode == 1
    assert f"{site.data / 'cardid.sqlite3'} is readable by others: chmod 600" in r.stdout
    assert stat.S_IMODE(site.data.stat().st_mode) == 0o700  # every command closes the dir
    r = site.run("init")
    # The database, and the journals SQLite made with the database file's mode meanwhile.
    assert "file(s) in the data dir readable by its owner only" in r.stderr
    assert {m for p, m in modes(site.data).items() if p != "."} <= {"0o600", "0o700"}
    assert stat.S_IMODE(site.data.stat().st_mode) == 0o700


def test_check_names_each_problem_and_passes_when_there_is_none(site):
    site.run("init")
    site.run("config", "set", "notify.card-admin-generated", "true")
    r = site.run("check", check=False)
    assert r.returncode == 1
    assert "problem: notifications are on but no mail server is set" in r.stdout
    assert "problem: no worker alive" in r.stdout
    assert r.stderr.strip() == "cardid: 2 problem(s) found; see above"
    site.run("config", "set", "notify.card-admin-generated", "false")
    port = site.serve()  # with its worker
    wait_for(lambda: "1 alive" in site.run("info").stdout, what="the worker's beat")
    r = site.run("check", check=False)
    assert r.returncode == 0, r.stdout
    assert "ok: 1 worker(s) alive" in r.stdout and "no problems found" in r.stderr
    assert request(port, "/healthz").json()["status"] == "ok"


# -- secrets -------------------------------------------------------------------------------------


def test_secrets_rotate_re_encrypts_with_a_new_key_and_keeps_them_readable(site):
    site.run("init")
    site.run("config", "set", "smtp.password", SECRET)
    before = (site.data / "cardid.sqlite3").read_bytes()
    r = site.run("secrets", "rotate")
    assert r.stderr.strip() == "1 stored secret(s) re-encrypted with the new key"
    keys = (site.data / "secrets.key").read_bytes().split()
    assert len(keys) == 2  # the new one first; the old one kept to read older copies
    after = (site.data / "cardid.sqlite3").read_bytes()
    assert after != before and SECRET.encode() not in after
    # The new key alone opens it: the old one is no longer needed.
    (site.data / "secrets.key").write_bytes(keys[0] + b"\n")
    probe = "from cardid.config import services as c; print(c.get('smtp.password'))"
    r = site.run("django", "shell", "--no-imports", "-c", probe)
    assert r.stdout.strip() == SECRET
    # Another key cannot open it, and says which key to bring back.
    site.extra["CARDID_SECRETS_KEY"] = Fernet.generate_key().decode()
    r = site.run("django", "shell", "--no-imports", "-c", probe, check=False)
    assert "cannot be decrypted with the key in use; restore the key" in r.stderr
    audit = site.run(
        "django",
        "shell",
        "--no-imports",
        "-c",
        "from cardid.audit.models import AuditEvent as A; "
        "print(A.objects.filter(action='secrets.rotate').count())",
        check=False,
    )
    assert audit.stdout.strip() == "1"


# -- CSV -----------------------------------------------------------------------------------------

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@A1", "\tTAB", "x;=cmd|' /C calc'!A0;"]


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def formula_cells(rows: list[list[str]]) -> list[str]:
    return [c for row in rows for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def split_as_excel_might(text: str) -> list[list[str]]:
    """Each line cut at every `;` (a German, French or Spanish Excel's separator), quotes
    taken off: what a cell holds if the spreadsheet splits where cardid did not."""
    return [[c.strip('"') for c in line.split(";")] for line in text.splitlines()]


def test_every_csv_export_neutralises_formulas_and_import_reads_export_back(site, tmp_path):
    site.run("init")
    people = tmp_path / "hostile.csv"
    with people.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["username", "full-name", "email"])
        for i, name in enumerate(HOSTILE):
            w.writerow([f"u{i}{name}".replace("\t", ""), name, ""])
            w.writerow([name.strip(), f'=HYPERLINK("http://x/{i}")', ""])
    site.run("users", "import", str(people))
    site.run("generate", "--all")
    exported = site.run("export-numbers").stdout
    rows = cells(exported)
    assert formula_cells(rows) == [] and formula_cells(split_as_excel_might(exported)) == []
    assert all(line.startswith('"') for line in exported.splitlines()[1:])  # every cell quoted
    assert "'=cmd|' /C calc'!A0" in [r[0] for r in rows]
    listed_text = site.run("users", "list", "--format", "csv").stdout
    listed = cells(listed_text)
    assert formula_cells(listed) == [] and formula_cells(split_as_excel_might(listed_text)) == []
    assert "x;'=cmd|' /C calc'!A0;" in [r[1] for r in listed]  # the full name, neutralised
    assert any(c == '\'=HYPERLINK("http://x/0")' for row in listed for c in row)
    # The export, read back by import-numbers, is the same numbers for the same people.
    f = tmp_path / "numbers.csv"
    f.write_text(exported)
    r = site.run("import-numbers", str(f), "--dry-run", "--format", "json")
    plan = json.loads(r.stdout)
    assert plan["errors"] == []
    site.run("import-numbers", str(f))
    assert site.run("export-numbers").stdout == exported


def test_the_audit_export_of_a_hostile_log_in_name_is_not_a_formula(site):
    site.run("init")
    password = site.data.parent / "pw"
    password.write_text("a-long-enough-password-1\n")
    site.run("init", "--admin", "boss", "--password-file", str(password))
    port = site.serve("--no-worker")
    page = request(port, "/admin/login")
    token = page.body.decode().split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    cookie = next(c for c in page.cookies() if c.startswith("csrftoken=")).split(";")[0]
    body = f"csrfmiddlewaretoken={token}&username=%3Dcmd%7C%27+%2FC+calc%27%21A0&password=x"
    r = request(
        port,
        "/admin/login",
        method="POST",
        body=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert r.status == 400
    # Log in as the administrator and export the audit log.
    body = f"csrfmiddlewaretoken={token}&username=boss&password=a-long-enough-password-1"
    r = request(
        port,
        "/admin/login",
        method="POST",
        body=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert r.status == 302
    session = next(c for c in r.cookies() if c.startswith("sessionid=")).split(";")[0]
    export = request(port, "/admin/audit/export.csv", headers={"Cookie": session})
    assert export.status == 200
    rows = cells(export.body.decode("utf-8-sig"))
    assert any("'=cmd|' /C calc'!A0" in c for row in rows for c in row), rows[-3:]
    assert formula_cells(rows) == []
    users = request(port, "/admin/users/export.csv", headers={"Cookie": session})
    assert users.status == 200 and formula_cells(cells(users.body.decode("utf-8-sig"))) == []


def test_a_semicolon_csv_with_a_bom_is_read(site, tmp_path):
    site.run("init")
    f = tmp_path / "excel.csv"
    f.write_bytes("\ufeffusername;full-name;email\nanna;Anna Å;anna@example.org\n".encode())
    r = site.run("users", "import", str(f))
    assert "anna" in site.run("users", "list").stdout, r.stderr
    numbers = tmp_path / "numbers.csv"
    numbers.write_bytes("\ufeffusername;primary\nanna;73310042\n".encode())
    site.run("import-numbers", str(numbers))
    assert site.run("lookup", "73310042").stdout.strip() == "anna"
    # A file whose separator is neither is named as such.
    bad = tmp_path / "pipes.csv"
    bad.write_text("username|email\nbo|bo@example.org\n")
    r = site.run("users", "import", str(bad), check=False)
    assert r.returncode == 1
    assert "no 'username' column (read as separated by commas)" in r.stderr


# -- HTTP: headers from a real server -----------------------------------------------------------


def test_a_real_server_sends_csp_no_store_and_serves_its_own_api_docs(site):
    site.run("init")
    port = site.serve("--no-worker")
    for path in ("/admin/login", "/user/login"):
        r = request(port, path)
        assert r.status == 200
        csp = r.header("Content-Security-Policy")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.header("Cache-Control") == "no-store"
        assert r.header("Strict-Transport-Security") == ""  # plain HTTP: no HSTS
        assert all("Secure" not in c for c in r.cookies())
        assert b"<script>" not in r.body and b" style=" not in r.body
    docs = request(port, "/api/v1/docs")
    assert docs.status == 200
    html = docs.body.decode()
    assets = [part.split('"')[0] for part in html.split('src="')[1:] + html.split('href="')[1:]]
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert request(port, asset).status == 200, asset
    assert "cdn" not in html.lower()
    health = request(port, "/healthz")
    assert health.status == 200
    assert set(health.json()) == {
        "status",
        "database",
        "worker",
        "outbox",
        "outbound",
        "last_sync",
    }
    assert health.json()["worker"] == "none seen in the last 30 s"
    assert health.json()["outbound"] == {
        "webhook": {"pending": 0, "failed": 0},
        "directory": {"pending": 0, "failed": 0},
        "oldest_pending": None,
    }


def test_behind_a_tls_proxy_cookies_are_secure_hsts_is_sent_and_the_client_is_counted(site):
    site.extra.update(CARDID_PROXY_HTTPS="1", CARDID_TRUSTED_PROXIES="127.0.0.1")
    site.run("init")
    port = site.serve("--no-worker")
    r = request(port, "/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert r.status == 200
    assert r.header("Strict-Transport-Security").startswith("max-age=31536000")
    cookies = r.cookies()
    assert cookies and all("Secure" in c for c in cookies), cookies
    plain = request(port, "/admin/login")
    assert plain.header("Strict-Transport-Security") == ""
    # The proxy (127.0.0.1) names the client: /metrics is not opened through it...
    assert request(port, "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status == 403
    assert request(port, "/metrics").status == 200  # the proxy's own machine
    # ...and what another peer writes in X-Forwarded-For is not believed.
    spoof = request(port, "/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, source="127.0.0.2")
    assert spoof.status == 403


def test_metrics_for_loopback_or_a_read_token_and_a_host_name_not_allowed_is_named(site):
    site.run("init")
    site.run("users", "import", str(people_csv(site.data.parent, 2)))
    site.run("set-number", "user0", "55501234")
    key = site.run("tokens", "create", "door", "--scope", "lookup").stdout.strip()
    read = site.run("tokens", "create", "grafana", "--scope", "read").stdout.strip()
    port = site.serve("--no-worker")
    for number in ("55501234", "55509999"):
        request(
            port,
            "/api/v1/lookup",
            method="POST",
            body=json.dumps({"number": number}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
    r = request(port, "/metrics")
    assert r.status == 200
    text = r.body.decode()
    for line in (
        "cardid_users 2.0",
        'cardid_numbers{slot="primary"} 1.0',
        'cardid_lookups_total{result="found"} 1.0',
        'cardid_lookups_total{result="not_found"} 1.0',
        'cardid_outbox_messages{state="pending"} 0.0',
        'cardid_jobs{state="queued"} 0.0',
        'cardid_sync_runs_total{result="succeeded"} 0.0',
    ):
        assert line in text, line
    assert "cardid_guess_probability " in text
    assert "55501234" not in text and "user0" not in text  # no personal data
    assert request(port, "/metrics", source="127.0.0.2").status == 403
    with_token = request(
        port, "/metrics", source="127.0.0.2", headers={"Authorization": f"Bearer {read}"}
    )
    assert with_token.status == 200
    # A host name cardid was not told about: a plain 400 to the sender (nothing about the
    # setting or its value), and for the operator one log line a minute naming the variable.
    for _ in range(20):
        r = request(port, "/healthz", headers={"Host": "cards.example.org"})
        assert r.status == 400 and r.body == b"bad request\n"
    site.stop()
    said = "refused requests for the host name 'cards.example.org': add it to CARDID_ALLOWED_HOSTS"
    assert said in site.log and "You may need to add" not in site.log
    # Once a minute per host name in each server process (the test's server runs one).
    assert site.log.count("refused requests for the host name") == 1


def test_a_second_server_on_a_port_in_use_says_so(site):
    site.run("init")
    port = site.serve("--no-worker")
    r = site.run("serve", "--port", str(port), "--no-worker", check=False)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"cardid: port {port} on 127.0.0.1 is in use (another cardid or another program "
        "serves there); stop it, or choose another port with --port"
    )


# -- the command line ------------------------------------------------------------------------


def test_help_lists_cardids_commands_grouped_and_hyphenated():
    r = subprocess.run([*CARDID, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    out = r.stdout
    for heading in ("Setting up and running:", "Card/ID numbers:", "Keeping the data:"):
        assert heading in out
    for name in ("set-number", "import-numbers", "export-numbers", "backup", "check", "info"):
        assert f"\n  {name} " in out
    for internal in ("flush", "dbshell", "sqlflush", "createsuperuser", "set_number"):
        assert f" {internal} " not in out
    r = subprocess.run([*CARDID, "flush"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "unknown command 'flush'; `cardid --help` lists the commands" in r.stderr


def test_restore_refuses_a_database_with_data_and_a_file_that_is_not_a_backup(site, tmp_path):
    site.run("init")
    site.run("users", "import", str(people_csv(tmp_path)))
    backup = tmp_path / "b.tar.gz"
    site.run("backup", str(backup))
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    r = site.run("backup", str(backup), check=False)
    assert r.returncode == 1 and "exists; give a new file name" in r.stderr
    r = site.run("restore", str(backup), check=False)
    assert r.returncode == 1
    assert "the database is not empty; restore into a new data dir" in r.stderr
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not a backup")
    other = Site(tmp_path / "other")
    r = other.run("restore", str(junk), check=False)
    assert r.returncode == 1 and "is not a cardid backup" in r.stderr
