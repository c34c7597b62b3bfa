"""Named conversion rules: stored, audited, applied to what a reader sends."""

import functools

from django.db import transaction
from django.db.models import ProtectedError

from cardid import db
from cardid.access import tokens
from cardid.audit import services as audit
from cardid.audit.actor import Actor
from cardid.cards import conversion
from cardid.cards.models import ConversionRule
from cardid.config import services as config
from cardid.errors import Invalid, NotFound, TooLarge

RESERVED = ("convert", "derive")  # paths of the API beside /rules/{name}


class RuleInUse(Invalid):
    """A rule that a token or the sync source uses cannot be deleted."""


def _steps(chain: str) -> list[conversion.Step]:
    if "\x00" in chain:
        raise Invalid("a chain of steps cannot contain NUL characters", field="chain")
    try:
        return conversion.parse(chain)
    except conversion.ConversionError as e:
        raise Invalid(str(e), field="chain") from None


@transaction.atomic
def set_rule(*, name: str, chain: str, actor: Actor) -> ConversionRule:
    name = (name or "").strip()
    if not name or len(name) > 100 or "," in name or not name.isprintable():
        raise Invalid("a rule name has 1 to 100 printable characters and no comma", field="name")
    if name.lower() in RESERVED:
        raise Invalid(
            f"{name!r} names an action of the API (/rules/{name}); choose another name",
            field="name",
        )
    steps = _steps(chain)
    rule, _ = ConversionRule.objects.update_or_create(
        name=name, defaults={"chain": conversion.chain_text(steps), "updated_by": str(actor)}
    )
    tokens.forget_recent()  # the terminals' tokens carry their rule's chain
    audit.record(actor=actor, action="rule.set", target=name, detail=rule.chain)
    return rule


def _unknown(name: str) -> NotFound:
    return NotFound(f"no rule named {name!r}; `cardid cards rules list` shows them")


def get_rule(name: str) -> ConversionRule:
    """The rule named `name`, or NotFound."""
    rule = ConversionRule.objects.filter(name=name).first() if name.isprintable() else None
    if rule is None:
        raise _unknown(name)
    return rule


@transaction.atomic
def delete_rule(*, name: str, actor: Actor) -> None:
    """Delete a rule that nothing uses: active tokens hold it by a protected key, the sync
    source by its option."""
    rule = get_rule(name)
    if config.get("sync.card-conversion") == rule.name:
        raise RuleInUse(
            f"rule {name!r} converts the sync source's card numbers; choose another rule "
            "for the sync source first"
        )
    # A revoked token no longer converts anything: it lets go of the rule.
    rule.tokens.filter(revoked_at__isnull=False).update(conversion_rule=None)
    try:
        rule.delete()
    except ProtectedError as e:
        users = sorted(t.name for t in e.protected_objects)
        raise RuleInUse(
            f"rule {name!r} is used by token(s) {', '.join(users)}; revoke them or "
            "give them another rule first"
        ) from None
    audit.record(actor=actor, action="rule.deleted", target=name)


RULE_CHAIN = f"SELECT chain FROM {ConversionRule._meta.db_table} WHERE name = %s"


def get_steps(name: str) -> list[conversion.Step]:
    """The steps of a named rule, read afresh (a changed rule applies at once); a terminal's
    look-up runs this, so it skips the ORM and parses each distinct chain once."""
    row = db.fetch_one(RULE_CHAIN, [name]) if name.isprintable() else None
    if row is None:
        raise _unknown(name)
    return list(_parsed(row[0]))


@functools.lru_cache(maxsize=256)
def _parsed(chain: str) -> tuple[conversion.Step, ...]:
    return tuple(_steps(chain))


def convert(value: str, *, rule: str | None = None, chain: str | None = None) -> str:
    """`value` through a named rule or a chain (or unchanged when neither is given)."""
    if not rule and not chain:
        return value
    return apply(get_steps(rule) if rule else list(_parsed(chain or "")), value)


def steps_of(text: str) -> list[conversion.Step]:
    """The steps a person typed: a rule's name, or a chain of steps."""
    text = (text or "").strip()
    if text.isprintable() and ConversionRule.objects.filter(name=text).exists():
        return get_steps(text)
    return _steps(text)


def apply(steps: list[conversion.Step], value: str) -> str:
    try:
        return conversion.apply(steps, value)
    except conversion.ConversionError as e:
        raise Invalid(str(e)) from None


def derive(text: str, *, source: str = "the pairs") -> conversion.Derivation:
    """The shortest chain for "reader-value,card-number" lines (commas or tabs; no header)."""
    pairs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.replace("\t", ",").split(",")]
        if len(cells) != 2 or not all(cells):
            raise Invalid(f"{source}, line {lineno}: expected 'reader-value,card-number'")
        pairs.append((cells[0], cells[1]))
    try:
        return conversion.derive(pairs)
    except conversion.TooMuchWork as e:
        raise TooLarge(str(e), field="pairs") from None
    except conversion.ConversionError as e:
        raise Invalid(str(e)) from None


NO_CHAIN = (
    "no chain of up to 3 steps maps every pair; a regex: or substr: step may be needed "
    "(try one on a value first)"
)
