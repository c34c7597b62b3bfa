"""Conversion rules: what a card reader sends, turned into the number on the card (no Django
import). A rule is a chain of steps such as `reverse-bytes,hex2dec,pad:10`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

from cardid.patterns import PatternError, compile_pattern

MAX_VALUE = 64
MAX_PAIRS = 100  # samples a derivation takes: its work grows with them
# Card-number lengths a derivation considers (each is a pad:N step to try, and the work grows
# with the cube of the steps): one kind of card has one or two lengths.
MAX_LENGTHS = 4


class ConversionError(ValueError):
    """A chain that cannot be parsed, or a value a step cannot take."""


class TooMuchWork(ConversionError):
    """A derivation that would take too long to answer."""


def _hex(value: str, step: str) -> str:
    v = value.strip()
    if not v or not re.fullmatch(r"[0-9A-Fa-f]+", v):
        raise ConversionError(f"{step}: {value!r} is not a hexadecimal value")
    return v


def _dec(value: str, step: str) -> str:
    if not value or not value.isascii() or not value.isdigit():
        raise ConversionError(f"{step}: {value!r} is not a decimal value")
    return value


def hex2dec(value: str) -> str:
    return str(int(_hex(value, "hex2dec"), 16))


def dec2hex(value: str) -> str:
    return format(int(_dec(value, "dec2hex")), "X")


def reverse_bytes(value: str) -> str:
    v = _hex(value, "reverse-bytes")
    if len(v) % 2:
        v = "0" + v
    return "".join(reversed([v[i : i + 2] for i in range(0, len(v), 2)]))


def ascii2hex(value: str) -> str:
    if not value.isascii():
        raise ConversionError(f"ascii2hex: {value!r} is not ASCII")
    return value.encode("ascii").hex().upper()


def hex2ascii(value: str) -> str:
    v = _hex(value, "hex2ascii")
    if len(v) % 2:
        raise ConversionError(f"hex2ascii: {value!r} has an odd number of hex digits")
    text = bytes.fromhex(v).decode("ascii", "replace")
    if not text.isprintable() or "\ufffd" in text:
        raise ConversionError(f"hex2ascii: {value!r} does not decode to printable ASCII")
    return text


def strip_leading_zeros(value: str) -> str:
    return value.lstrip("0") or ("0" if value else value)


SIMPLE: dict[str, Callable[[str], str]] = {
    "hex2dec": hex2dec,
    "dec2hex": dec2hex,
    "reverse-bytes": reverse_bytes,
    "ascii2hex": ascii2hex,
    "hex2ascii": hex2ascii,
    "strip-leading-zeros": strip_leading_zeros,
    "lower": str.lower,
    "upper": str.upper,
}
NAMES = [*SIMPLE, "pad:N", "regex:EXPR", "substr:A:B"]


@dataclass(frozen=True)
class Step:
    text: str
    apply: Callable[[str], str]

    def __str__(self) -> str:
        return self.text


def _pad(n: int) -> Step:
    return Step(f"pad:{n}", lambda v: v.rjust(n, "0"))


def _substr(a: int, b: int | None) -> Step:
    return Step(f"substr:{a}:{'' if b is None else b}", lambda v: v[a:b])


def _regex(expr: str) -> Step:
    try:
        pattern = compile_pattern(expr)
    except PatternError as e:
        raise ConversionError(f"regex:{expr}: {e}") from None

    def apply(value: str) -> str:
        m = pattern.search(value)
        if not m:
            raise ConversionError(f"regex:{expr}: no match in {value!r}")
        return (m.group(1) if pattern.groups else m.group(0)) or ""

    return Step(f"regex:{expr}", apply)


def parse_step(text: str) -> Step:
    text = text.strip()
    if text in SIMPLE:
        return Step(text, SIMPLE[text])
    name, _, arg = text.partition(":")
    if name == "pad":
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_VALUE:
            raise ConversionError(f"{text}: pad needs a length from 1 to {MAX_VALUE}, as pad:10")
        return _pad(int(arg))
    if name == "substr":
        a, _, b = arg.partition(":")
        try:
            return _substr(int(a or 0), int(b) if b else None)
        except ValueError:
            raise ConversionError(f"{text}: substr needs positions, as substr:0:8") from None
    if name == "regex":
        if not arg:
            raise ConversionError("regex: needs an expression, as regex:^0*(\\d+)$")
        return _regex(arg)
    raise ConversionError(f"unknown step {text!r}; the steps are {', '.join(NAMES)}")


def parse(chain: str) -> list[Step]:
    """A chain of comma-separated steps; a regex step may itself contain commas."""
    parts: list[str] = []
    for piece in (chain or "").split(","):
        known = piece.strip().partition(":")[0] in {*SIMPLE, "pad", "regex", "substr"}
        if parts and parts[-1].lstrip().startswith("regex:") and not known:
            parts[-1] += "," + piece  # part of the regular expression
        else:
            parts.append(piece)
    steps = [parse_step(p) for p in parts if p.strip()]
    if not steps:
        raise ConversionError("the chain is empty; give steps such as reverse-bytes,hex2dec")
    return steps


def apply(steps: list[Step] | str, value: str) -> str:
    """Run `value` through the chain; ConversionError names the step that failed."""
    if isinstance(steps, str):
        steps = parse(steps)
    if len(value) > MAX_VALUE:
        raise ConversionError(
            f"the value is {len(value)} characters long; at most {MAX_VALUE} are read"
        )
    for step in steps:
        value = step.apply(value)
    if not value:
        raise ConversionError("the chain turned the value into nothing")
    return value


def chain_text(steps: list[Step]) -> str:
    return ",".join(str(s) for s in steps)


# -- deriving a rule from samples -------------------------------------------------------------


@dataclass
class Derivation:
    chain: str | None
    near_misses: list[str]


def derive(pairs: list[tuple[str, str]], max_depth: int = 3) -> Derivation:
    """The shortest chain that maps every (reader value, card number) pair, if any."""
    if len(pairs) < 3:
        raise ConversionError("give three or more pairs of reader value and card number")
    if len(pairs) > MAX_PAIRS:
        raise ConversionError(
            f"give at most {MAX_PAIRS} pairs ({len(pairs)} given); a few dozen tell as much"
        )
    targets = {len(card) for _, card in pairs}
    if len(targets) > MAX_LENGTHS:
        raise TooMuchWork(
            f"the card numbers come in {len(targets)} different lengths; a rule gives numbers "
            f"of one format, and a derivation considers at most {MAX_LENGTHS} lengths: give "
            "pairs from one kind of card"
        )
    candidates = [Step(n, f) for n, f in SIMPLE.items()] + [_pad(n) for n in sorted(targets)]
    best: list[tuple[int, str, str]] = []  # (pairs matched, chain, first failing pair)
    for depth in range(1, max_depth + 1):
        for combo in product(candidates, repeat=depth):
            matched, broken = 0, ""
            for reader, card in pairs:
                try:
                    ok = apply(list(combo), reader) == card
                except ConversionError:
                    ok = False
                if ok:
                    matched += 1
                elif not broken:
                    broken = f"{reader} -> {card}"
            if matched == len(pairs):
                return Derivation(chain_text(list(combo)), [])
            if matched:
                best.append((matched, chain_text(list(combo)), broken))
    best.sort(key=lambda t: (-t[0], len(t[1])))
    near = [f"{c} maps {m} of {len(pairs)}; it breaks on {b}" for m, c, b in best[:3]]
    return Derivation(None, near)
