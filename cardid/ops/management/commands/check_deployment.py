"""cardid check: Django's deployment checks and cardid's own; exit 1 on an error."""

import io
import os
import socket
import stat

from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import DatabaseError

from cardid import env
from cardid.access import oidc
from cardid.commands import CardidCommand
from cardid.config import services as config
from cardid.directory.sync import sources
from cardid.errors import CardidError
from cardid.ops import backups, monitoring
from cardid.outbound import services as outbound
from cardid.outbound import writeback


class Command(CardidCommand):
    help = (
        "Check the deployment: Django's deployment checks (a weak secret key among them), the "
        "data dir's permissions, "
        "the mail server when notifications are on, the sync source and its write-back, "
        "outbound messages failed, a worker alive. Exit 1 when anything is wrong."
    )

    def handle(self, *args, **opts):
        problems, notes = [], []
        said = io.StringIO()
        try:
            call_command(
                "check", deploy=True, fail_level="ERROR", stdout=said, stderr=said, verbosity=0
            )
        except SystemCheckError as e:
            problems.append(f"Django's deployment checks: {e}")
        notes += [
            f"Django says: {line.strip()}"
            for line in said.getvalue().splitlines()
            if "?: (" in line
        ]
        problems += _permissions()
        notes.append(
            "secret key: from CARDID_SECRET_KEY"
            if os.environ.get("CARDID_SECRET_KEY", "").strip()
            else f"secret key: kept in {env.data_dir() / 'secret_key'}"
        )
        try:
            o = config.get_many(
                "notify.card-auto-generated",
                "notify.card-admin-generated",
                "notify.card-self-generated",
                "smtp.host",
                "smtp.port",
                "sync.source",
            )
        except DatabaseError as e:
            problems.append(f"the database does not answer ({e}); run `cardid init`")
            self._end(problems, notes)
            return
        if any(o[k] for k in o if k.startswith("notify.")):
            problems += _smtp(o["smtp.host"], o["smtp.port"])
        if o["sync.source"] != "none":
            try:
                notes.append(f"sync source: {sources.current().test()}")
            except CardidError as e:
                problems.append(f"the sync source does not answer: {e}")
            try:
                ready = writeback.check()
                if ready:
                    notes.append(ready)
            except CardidError as e:
                problems.append(f"directory write-back: {e}")
        sso = oidc.settings()
        if sso.on_for("portal") or sso.on_for("console"):
            try:
                notes.append(f"single sign-on: {oidc.check()}")
            except CardidError as e:
                problems.append(f"single sign-on: {e}")
        waiting = outbound.counts()
        failed = sum(c.get("failed", 0) for c in waiting.values())
        if failed:
            problems.append(
                f"{failed} outbound message(s) (webhooks, write-back) failed for good: "
                "Webhooks in the console shows why and retries them"
            )
        alive = monitoring.workers()
        if alive:
            notes.append(f"{len(alive)} worker(s) alive")
        else:
            problems.append("no worker alive: start `cardid serve` or `cardid worker`")
        notes.append(f"database: {backups.database_label()}")
        self._end(problems, notes)

    def _end(self, problems: list[str], notes: list[str]) -> None:
        for n in notes:
            self.stdout.write(f"ok: {n}")
        for p in problems:
            self.stdout.write(f"problem: {p}")
        if problems:
            raise CardidError(f"{len(problems)} problem(s) found; see above")
        self.note("no problems found")


def _permissions() -> list[str]:
    """The data dir 0700, and what is in it readable by its owner only."""
    found = []
    data = env.data_dir()
    if not data.exists():
        return [f"the data dir {data} does not exist; run `cardid init`"]
    if stat.S_IMODE(data.stat().st_mode) & 0o077:
        found.append(f"the data dir {data} is open to others: chmod 700 {data}")
    sqlite = backups.sqlite_path()
    for path in [*data.rglob("*"), *([] if sqlite is None else [sqlite])]:
        path = data / path if not os.path.isabs(path) else path
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
            found.append(f"{path} is readable by others: chmod 600 {path}")
    return found[:20]


def _smtp(host: str, port: int) -> list[str]:
    if not host:
        return ["notifications are on but no mail server is set (smtp.host)"]
    try:
        with socket.create_connection((host, port), timeout=5):
            return []
    except OSError as e:
        return [f"the mail server {host}:{port} does not answer ({e.strerror or e})"]
