"""The base of every `cardid` command: domain errors become one line on stderr and exit 1."""

import json
import sys
from argparse import _SubParsersAction
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError, ProgrammingError, connection

from cardid.audit.actor import Actor
from cardid.config.screens import NotConfigured
from cardid.errors import CardidError


class OneLineParser(CommandParser):
    """Usage errors as one line on stderr (exit 2), as the CLI contract asks."""

    def error(self, message):
        if not self.called_from_command_line:
            super().error(message)
        prog = self.prog.replace("_", "-")
        sys.stderr.write(f"cardid: {message}; see `{prog} --help`\n")
        sys.exit(2)


def _one_line(parser) -> None:
    parser.__class__ = OneLineParser
    for action in parser._actions:
        if isinstance(action, _SubParsersAction):
            for sub in action.choices.values():
                _one_line(sub)


def _missing_table(error: Exception) -> bool:
    """SQLite's "no such table", PostgreSQL's "relation ... does not exist"."""
    text = str(error)
    return "no such table" in text or ("relation" in text and "does not exist" in text)


class CardidCommand(BaseCommand):
    requires_system_checks: list = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand.replace("_", "-"), **kwargs)
        _one_line(parser)
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except NotConfigured as e:
            self.fail(f"{e}; or `cardid config set {e.field} {e.example}`")
        except (CardidError, CommandError) as e:
            self.fail(str(e))
        except (OperationalError, ProgrammingError) as e:
            if not _missing_table(e):
                raise
            self.fail(
                f"the database ({connection.settings_dict['NAME']}) is not initialised or not up "
                "to date; run `cardid init` (and check CARDID_DATA_DIR / CARDID_DATABASE_URL)"
            )
        except KeyboardInterrupt:
            sys.stderr.write("cardid: interrupted\n")
            sys.exit(130)

    def fail(self, message: str, code: int = 1) -> None:
        sys.stderr.write(f"cardid: {message}\n")
        sys.stderr.flush()
        sys.exit(code)

    def note(self, message: str) -> None:
        """A line for the operator, on stderr so stdout stays machine-readable."""
        sys.stderr.write(message + "\n")

    @property
    def actor(self) -> Actor:
        import getpass

        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        return Actor(f"cli:{who}", "cli")

    def print_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=1))

    def first_line(self, path: str) -> str:
        """The first line of a file (a password file), line ending stripped; Invalid when
        there is none."""
        lines = self.read_file(path).decode("utf-8", "replace").splitlines()
        if not lines or not lines[0]:
            raise CardidError(f"{path} is empty; put the password on its first line")
        return lines[0]

    def read_file(self, path: str) -> bytes:
        if path == "-":
            return sys.stdin.buffer.read()
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise CardidError(f"cannot read {path}: {e.strerror}") from None
