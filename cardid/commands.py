"""The base of every `cardid` command: domain errors become one line on stderr and exit 1."""

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cardid.audit.actor import Actor
from cardid.errors import CardidError


class CardidCommand(BaseCommand):
    requires_system_checks: list = []

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except (CardidError, CommandError) as e:
            self.fail(str(e))
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

    def read_file(self, path: str) -> bytes:
        if path == "-":
            return sys.stdin.buffer.read()
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise CardidError(f"cannot read {path}: {e.strerror}") from None
