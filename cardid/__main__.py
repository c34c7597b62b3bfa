"""`python -m cardid` is the same as the `cardid` command."""

from cardid.cli import main

main()
