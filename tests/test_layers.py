"""The shape of the code: the core knows no door, no door imports another, and the apps of
the core depend on each other one way only (no import cycle, none hidden in a function)."""

import ast
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import cardid
from tests.conftest import free_port

ROOT = Path(cardid.__file__).parent
DOORS = {"api", "console", "portal", "cli"}
# Wiring sits above everything: it may import anything. `ops` (health, metrics, backups,
# housekeeping) is core like any other app, under every check here.
TOP = {"urls", "settings", "wsgi", "asgi", "__main__", "__init__"}


def unit(parts: tuple[str, ...]) -> str:
    """The app (or door) a module belongs to; every management command is the CLI."""
    if "management" in parts and "commands" in parts:
        return "cli"
    name = parts[1] if len(parts) > 1 else "__init__"
    return "cli" if name == "commands" else name


def imports() -> list[tuple[Path, int, str, str, str | None]]:
    """(file, line, importing unit, imported unit, enclosing function or None) for every
    import of a cardid module, module-level or not."""
    found = []
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = ("cardid", *path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        enclosing = {}
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    enclosing.setdefault(id(node), fn.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("cardid."):
                    target = unit(tuple(name.split(".")))
                    found.append((path, node.lineno, unit(parts), target, enclosing.get(id(node))))
    return found


def test_the_core_imports_no_door_and_no_door_imports_another():
    crossings = [
        f"{path.relative_to(ROOT.parent)}:{line}: {src} imports {dst}"
        for path, line, src, dst, _ in imports()
        if src != dst and dst in DOORS and src not in TOP
    ]
    assert crossings == []


def test_no_import_hides_in_a_function():
    # AppConfig.ready() is where Django wants an app's wiring (signals, job kinds).
    hidden = [
        f"{path.relative_to(ROOT.parent)}:{line}: in {fn}()"
        for path, line, _, _, fn in imports()
        if fn is not None and fn != "ready"
    ]
    assert hidden == []


def test_the_apps_of_the_core_depend_on_each_other_one_way():
    graph = defaultdict(set)
    for _, _, src, dst, _ in imports():
        if src != dst and src not in TOP | DOORS and dst not in TOP | DOORS:
            graph[src].add(dst)
    cycles = []

    def visit(node, trail):
        for nxt in sorted(graph[node]):
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif len(trail) < 20:
                visit(nxt, [*trail, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


def test_the_check_sees_a_crossing_when_there_is_one(tmp_path, monkeypatch):
    """The checks above are not vacuous: a core module importing a door is caught."""
    fake = tmp_path / "cardid"
    (fake / "cards").mkdir(parents=True)
    (fake / "cards" / "leak.py").write_text(
        "from cardid.api import rest\n\ndef f():\n    from cardid.sync import engine\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    found = {(src, dst, fn) for _, _, src, dst, fn in imports()}
    assert ("cards", "api", None) in found and ("cards", "sync", "f") in found


CARD_MODELS = {"Card", "RetiredNumber"}
WRITE_METHODS = {
    "create",
    "bulk_create",
    "bulk_update",
    "update",
    "delete",
    "update_or_create",
    "get_or_create",
}
# Hand-written SQL on the card tables, over as many lines as it takes.
RAW_WRITES = re.compile(r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\{(CARD|RETIRED|card_table)\}")


def _on_card_manager(node: ast.AST) -> bool:
    """Whether a call chain starts at Card.objects or RetiredNumber.objects."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "objects"
            and isinstance(node.value, ast.Name)
            and node.value.id in CARD_MODELS
        ):
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def card_writes(source: str) -> list[int]:
    """The lines of `source` that write the card tables: an ORM write on a chain from
    Card.objects or RetiredNumber.objects (however it is broken over lines), insert_rows of
    those models, or raw INSERT/UPDATE/DELETE on them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS:
            if _on_card_manager(func.value):
                found.append(node.lineno)
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "insert_rows" and node.args:
            model = node.args[0]
            if isinstance(model, ast.Name) and model.id in CARD_MODELS:
                found.append(node.lineno)
    found += [source.count("\n", 0, m.start()) + 1 for m in RAW_WRITES.finditer(source)]
    return sorted(found)


def test_only_the_ledger_writes_cards():
    writers = sorted(
        str(path.relative_to(ROOT.parent))
        for path in ROOT.rglob("*.py")
        if "migrations" not in path.parts and card_writes(path.read_text())
    )
    assert writers == ["cardid/cards/ledger.py"]


def test_the_write_check_sees_writes_however_they_are_spelled():
    spelled = {
        "Card.objects.filter(user=u).delete()": True,
        "Card.objects.filter(\n    user=u\n).update(\n    number='1'\n)": True,
        "(\n    RetiredNumber.objects\n    .filter(x=1)\n    .delete()\n)": True,
        "Card.objects.select_for_update().filter(a=1)[:5].update(b=2)": True,
        "db.insert_rows(\n    Card, FIELDS, rows)": True,
        'cursor.execute(f"""\n    UPDATE {CARD}\n    SET x = 1""")': True,
        "Card.objects.filter(user=u).count()": False,
        "User.objects.filter(x=1).update(y=2)": False,
        "cards = Card.objects.filter(x=1)": False,
    }
    assert {text: bool(card_writes(text)) for text in spelled} == spelled


def test_the_postgresql_pass_fails_when_postgresql_is_unreachable(tmp_path):
    """CARDID_TEST_POSTGRES set and no server: the run fails (it never passes by skipping)."""
    env = {
        **os.environ,
        "CARDID_TEST_POSTGRES": "1",
        "CARDID_DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nothing",
        "CARDID_DATA_DIR": str(tmp_path),
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_no_import_hides_in_a_function",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT.parent,
    )
    assert r.returncode != 0
    assert "the PostgreSQL pass cannot run: PostgreSQL is not reachable" in r.stdout + r.stderr
