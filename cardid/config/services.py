"""Reading and changing runtime options; every change is audited."""

import json
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from cardid import db, secretbox
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.config import options
from cardid.config.models import OptionValue
from cardid.errors import Conflict, Invalid
from cardid.recent import Recent


def get(key: str) -> Any:
    """The current typed value of `key` (its default when never set)."""
    return get_many(key)[key]


def get_many(*keys: str) -> dict[str, Any]:
    """Several options in one query. Options are read afresh on every call (a change applies
    at once in every process); terminals' look-ups read them per request, so the query is
    hand-written rather than built by the ORM each time."""
    decls = {k: _declared(k) for k in keys}
    stored = {
        k: json.loads(v) if isinstance(v, str) else v for k, v in db.select_in(STORED, list(decls))
    }
    return {k: _opened(d, stored[k]) if k in stored else d.default for k, d in decls.items()}


# Terminals' look-ups read their options on every request: `get_recent` reads them again at
# most once a second in each process (SPEC §8); a change made here applies here at once.
_recent = Recent(size=100)


def get_recent(*keys: str) -> dict[str, Any]:
    """As `get_many`, read again at most once a second in each process."""
    values = _recent.get(keys)
    if values is None:
        values = get_many(*keys)
        _recent.put(keys, values)
    return values


def _opened(opt: options.Option, value: Any) -> Any:
    """A stored value as the code uses it: secrets decrypted (they are kept encrypted)."""
    if opt.kind == "secret" and value:
        try:
            return secretbox.open_(value, settings.DATA_DIR)
        except secretbox.SecretError as e:
            raise Invalid(f"{opt.key}: {e}") from None
    return value


def _sealed(opt: options.Option, value: Any) -> Any:
    return secretbox.seal(value, settings.DATA_DIR) if opt.kind == "secret" else value


STORED = (
    f"SELECT {connection.ops.quote_name('key')}, value FROM {OptionValue._meta.db_table} "
    f"WHERE {connection.ops.quote_name('key')} IN_LIST"
)


def all_values() -> list[tuple[options.Option, Any]]:
    stored = dict(OptionValue.objects.values_list("key", "value"))
    return [(o, stored.get(o.key, o.default)) for o in options.OPTIONS.values()]


def version(key: str) -> int:
    """The edit version of `key`, for a form that must detect a concurrent change (0: unset)."""
    return OptionValue.objects.filter(key=key).values_list("version", flat=True).first() or 0


@transaction.atomic
def set_value(*, key: str, raw: Any, actor: Actor, expected_version: int | None = None) -> Any:
    """Validate and store one option; returns the typed value."""
    opt = _declared(key)
    try:
        value = opt.parse(raw)
    except options.OptionError as e:
        raise Invalid(str(e)) from None
    _check_pair(key, value)
    row = OptionValue.objects.select_for_update().filter(key=key).first()
    current = 0 if row is None else row.version
    if expected_version is not None and expected_version != current:
        raise Conflict(f"{key} was changed by someone else meanwhile; reload to see the new value")
    _store(opt, row, value, actor)
    return value


def _store(opt: options.Option, row: OptionValue | None, value: Any, actor: Actor) -> None:
    _recent.forget()
    transaction.on_commit(_recent.forget)  # and what was read meanwhile in this transaction
    if row is None:
        OptionValue.objects.create(key=opt.key, value=_sealed(opt, value), updated_by=actor.name)
    else:
        row.value = _sealed(opt, value)
        row.version += 1
        row.updated_by = actor.name
        row.save()
    audit.record(actor=actor, action="option.set", target=opt.key, detail=opt.display(value))


class OptionProblems(Invalid):
    """Several options refused at once: `problems` maps each key to its message."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@transaction.atomic
def set_many(
    *, values: dict[str, Any], actor: Actor, versions: dict[str, int] | None = None
) -> list[str]:
    """Store several options together (a console page): all or nothing. Options whose value
    does not change are left alone. With `versions` (each key's edit version when the form
    was shown), a key someone else changed meanwhile is a conflict, never overwritten.
    Returns the keys that changed; OptionProblems names every refused key."""
    problems: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        try:
            parsed[key] = _declared(key).parse(raw)
        except (options.OptionError, Invalid) as e:
            problems[key] = str(e)
    rows = {r.key: r for r in OptionValue.objects.select_for_update().filter(key__in=values)}
    for key, value in parsed.items():
        row = rows.get(key)
        current = _opened(_declared(key), row.value) if row else _declared(key).default
        stale = versions is not None and versions.get(key, 0) != (row.version if row else 0)
        if stale and value != current:
            problems[key] = (
                f"{key} was changed by {row.updated_by if row else 'someone else'} while you "
                "edited it; reload the page to see the new value, then make your change again"
            )
    merged = {
        k: (_opened(_declared(k), rows[k].value) if k in rows else _declared(k).default)
        for k in values
    }
    merged.update(parsed)
    if any(k in parsed for k in SIGN_IN):
        problem = _lockout({k: merged[k] if k in merged else get(k) for k in SIGN_IN})
        if problem:
            problems[next(k for k in SIGN_IN if k in parsed)] = problem
    for key in ("cards.pin.min-length", "cards.pin.max-length"):
        if key in parsed and key not in problems:
            lo = merged.get("cards.pin.min-length", get("cards.pin.min-length"))
            hi = merged.get("cards.pin.max-length", get("cards.pin.max-length"))
            if lo > hi:
                problems[key] = f"the PIN minimum length ({lo}) exceeds the maximum ({hi})"
    if problems:
        raise OptionProblems(problems)
    changed = []
    for key, value in parsed.items():
        row = rows.get(key)
        current = _opened(_declared(key), row.value) if row else _declared(key).default
        if value == current:
            continue
        _store(_declared(key), row, value, actor)
        changed.append(key)
    return changed


SIGN_IN = ("auth.local-login", "auth.oidc.portal", "auth.oidc.console")


def _lockout(values: dict[str, Any]) -> str:
    """Why these sign-in options would lock people out ("" when they would not)."""
    if values["auth.local-login"] or (values["auth.oidc.portal"] and values["auth.oidc.console"]):
        return ""
    return (
        "auth.local-login: password log-in can be turned off only once single sign-on is on "
        "for the portal and the console (auth.oidc.portal, auth.oidc.console)"
    )


def _check_pair(key: str, value: Any) -> None:
    if key in SIGN_IN:
        problem = _lockout({k: value if k == key else get(k) for k in SIGN_IN})
        if problem:
            raise Invalid(problem)
    if key in ("cards.pin.min-length", "cards.pin.max-length"):
        lo = value if key.endswith("min-length") else get("cards.pin.min-length")
        hi = value if key.endswith("max-length") else get("cards.pin.max-length")
        if lo > hi:
            raise Invalid(
                f"{key}: the PIN minimum length ({lo}) would exceed the maximum ({hi}); "
                "change the other bound first"
            )


def _declared(key: str) -> options.Option:
    try:
        return options.get(key)
    except options.OptionError as e:
        raise Invalid(str(e)) from None
