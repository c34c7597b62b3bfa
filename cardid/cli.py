"""The `cardid` console script: one entry point that runs cardid's management commands."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardid.settings")
    # Contract names use hyphens (set-number); Django command modules cannot.
    if argv and not argv[0].startswith("-"):
        argv[0] = argv[0].replace("-", "_")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["cardid", *argv])


if __name__ == "__main__":
    main()
