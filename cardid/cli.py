"""The `cardid` console script: one entry point that runs cardid's own commands, listed by
`cardid --help` in groups with their contract names (hyphens, SPEC §8). Django's own
administration commands are not cardid's: they are reachable as `cardid django COMMAND`
for maintenance, and nowhere else."""

import os
import sys
from importlib.metadata import version
from pathlib import Path

from django.core.management import execute_from_command_line

PACKAGE = Path(__file__).resolve().parent
# cardid commands whose module cannot take the contract name: `check` would replace
# Django's own system-check command, which the deployment check itself runs.
MODULES = {"check": "check_deployment"}
GROUPS = [
    (
        "Setting up and running",
        ["init", "info", "check", "serve", "worker", "config", "admins", "secrets"],
    ),
    ("Keeping the data", ["backup", "restore"]),
    ("Users and groups", ["users", "groups", "sync"]),
    (
        "Card/ID numbers",
        [
            "generate",
            "set-number",
            "clear-number",
            "lookup",
            "import-numbers",
            "export-numbers",
            "cards",
        ],
    ),
    ("Terminals, scripts and access", ["tokens", "access"]),
    ("Numbers flowing out", ["notifications", "webhooks"]),
]


def commands() -> dict[str, Path]:
    """cardid's own commands, by their contract name, with the file that holds each."""
    names = {module: name for name, module in MODULES.items()}
    return {
        names.get(p.stem, p.stem.replace("_", "-")): p
        for p in sorted(PACKAGE.glob("*/management/commands/*.py"))
        if p.stem != "__init__"
    }


def _summary(path: Path) -> str:
    """The first sentence of a command's help, read from its module's docstring."""
    first = path.read_text().split('"""', 2)[1].strip().splitlines()[0]
    text = first.split(":", 1)[1].strip() if ":" in first else first
    return text.rstrip(".")


def usage() -> str:
    found = commands()
    lines = [
        "usage: cardid COMMAND [options]   (cardid COMMAND --help tells more)",
        "",
        "cardid issues and manages Card/ID numbers. Commands:",
    ]
    listed = set()
    for title, names in GROUPS:
        present = [n for n in names if n in found]
        if not present:
            continue
        lines.append(f"\n{title}:")
        for name in present:
            lines.append(f"  {name:<16}{_summary(found[name])}")
            listed.add(name)
    rest = sorted(set(found) - listed)
    if rest:
        lines.append("\nOther:")
        lines += [f"  {name:<16}{_summary(found[name])}" for name in rest]
    lines += [
        "",
        "Every command exits 0 on success and 1 with one line on standard error otherwise.",
        "Django's own maintenance commands: cardid django COMMAND (e.g. cardid django migrate).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardid.settings")
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage())
        return
    if argv[0] == "--version":
        sys.stdout.write(f"cardid {version('cardid')}\n")
        return
    if argv[0] == "django":
        argv = argv[1:]  # a Django command, named as Django names it
    elif argv[0] not in commands():
        sys.stderr.write(
            f"cardid: unknown command {argv[0]!r}; `cardid --help` lists the commands\n"
        )
        sys.exit(2)
    else:
        # Contract names use hyphens (set-number); Django command modules cannot.
        argv[0] = MODULES.get(argv[0], argv[0].replace("-", "_"))
    execute_from_command_line(["cardid", *argv])


if __name__ == "__main__":
    main()
