"""`python -m cardid.locales`: compile the translations (cardid/locale/*/LC_MESSAGES/django.po)
into the .mo files Django reads, with Babel — no GNU gettext needed. ./dev and the install
script run it; a .mo newer than its .po is left as it is."""

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parent / "locale"


def compile_all(force: bool = False) -> list[Path]:
    done = []
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/django.po")):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parts[-3])
        with mo.open("wb") as f:
            write_mo(f, catalog)
        done.append(mo)
    return done


if __name__ == "__main__":
    compiled = compile_all(force="--force" in sys.argv)
    for mo in compiled:
        print(f"compiled {mo.relative_to(LOCALE.parent)}")
