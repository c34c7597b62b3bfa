"""The custom-program source: an executable that answers the verbs of the reference
product's custom user-directory program interface."""

import shlex
import subprocess

from cardid.config.screens import NotConfigured
from cardid.directory.sync.base import Snapshot, SourceError, SourceUser, reshape

TIMEOUT = 120  # seconds one call of the program may take


class ProgramSource:
    kind = "program"

    def __init__(self, command: str, timeout: float = TIMEOUT):
        if not command:
            raise NotConfigured("no sync program is set", "sync.program.path", "/opt/sync/users.py")
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise SourceError(f"sync.program.path cannot be read as a command line: {e}") from None
        self.timeout = timeout

    def call(self, *verb: str, stdin: str = "") -> list[str]:
        """Run `program - VERB...`; its standard output as lines, or SourceError."""
        argv = [*self.argv, "-", *verb]
        try:
            done = subprocess.run(
                argv, input=stdin.encode(), capture_output=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError:
            raise SourceError(f"the sync program {self.argv[0]} does not exist") from None
        except PermissionError:
            raise SourceError(
                f"the sync program {self.argv[0]} is not executable (chmod +x {self.argv[0]})"
            ) from None
        except subprocess.TimeoutExpired:
            raise SourceError(
                f"the sync program did not finish `{' '.join(verb)}` within "
                f"{self.timeout:g} s; nothing was changed"
            ) from None
        err = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0 or err:
            detail = err.splitlines()[-1] if err else f"exit code {done.returncode}"
            raise SourceError(
                f"the sync program failed on `{' '.join(verb)}`: {detail}; nothing was changed"
            )
        try:
            text = done.stdout.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SourceError(
                f"the sync program printed text that is not UTF-8 on "
                f"`{' '.join(verb)}` (position {e.start})"
            ) from None
        # Blank lines are skipped; a line of tabs is a record (and a malformed one).
        return [line for line in text.splitlines() if line.strip(" ")]

    def test(self) -> str:
        lines = self.call("is-valid")
        if not lines or lines[0].strip() != "Y":
            raise SourceError(
                f"the sync program answered is-valid with {(lines or [''])[0]!r}, not Y"
            )
        return " ".join(lines[1:]) or "the sync program is valid"

    def fetch(self) -> Snapshot:
        snap = Snapshot()
        for lineno, line in enumerate(self.call("all-users"), start=1):
            snap.users.append(parse_user(line, lineno))
        for name in self.call("all-groups"):
            name = name.strip()
            snap.groups[name] = [m.strip() for m in self.call("group-member-names", name)]
        return snap


def parse_user(line: str, lineno: int) -> SourceUser:
    """username, full name, e-mail, department, office, primary card, other e-mails,
    secondary card, alias, home, PIN — tab-separated, trailing fields optional."""
    fields = line.rstrip("\r\n").split("\t")
    if not fields[0].strip():
        raise SourceError(
            f"the sync program's user record {lineno} has no username; nothing was changed"
        )
    if len(fields) > 11:
        raise SourceError(
            f"the sync program's user record {lineno} has {len(fields)} "
            "tab-separated fields, at most 11 are defined; nothing was changed"
        )
    fields += [""] * (11 - len(fields))
    return SourceUser(
        username=fields[0].strip(),
        full_name=fields[1].strip(),
        email=fields[2].strip(),
        department=fields[3].strip(),
        office=fields[4].strip(),
        primary=reshape(fields[5], None),
        secondary=reshape(fields[7], None),
    )
