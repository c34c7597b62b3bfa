"""Drawing random Card/ID numbers from the operating system's CSPRNG (no Django import)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from cardid.cards.policy import Policy, is_weak


def _uniform_ints(count: int, span: int) -> list[int]:
    """`count` integers uniform in [0, span), from secrets.token_bytes by rejection sampling."""
    width = max(1, ((span - 1).bit_length() + 7) // 8)
    limit = (256**width // span) * span  # values at or above this would bias the modulo
    out: list[int] = []
    from_bytes = int.from_bytes
    while len(out) < count:
        need = count - len(out)
        # Ask for a little more than needed: at most half of the values are rejected.
        raw = secrets.token_bytes(width * (need + need // 4 + 8))
        for i in range(0, len(raw), width):
            v = from_bytes(raw[i : i + width], "big")
            if v < limit:
                out.append(v % span)
                if len(out) == count:
                    break
    return out


def draw(policy: Policy, count: int) -> list[str]:
    """Up to `count` distinct numbers the policy accepts (weak patterns removed, so a few
    may be missing: callers redraw the shortfall together with their other rejects)."""
    digits = policy.random_digits()
    if policy.no_leading_zero:
        base, span = 10 ** (digits - 1), 9 * 10 ** (digits - 1)
    else:
        base, span = 0, 10**digits
    seen: set[str] = set()
    out: list[str] = []
    finish = policy.finish
    weak = policy.reject_weak_patterns
    for v in _uniform_ints(count, span):
        number = finish(str(base + v).zfill(digits))
        if number in seen or (weak and _is_weak_fast(number)):
            continue
        seen.add(number)
        out.append(number)
    return out


def draw_exactly(
    policy: Policy, count: int, taken: Callable[[list[str]], set[str]], max_rounds: int = 50
) -> list[str]:
    """`count` distinct numbers none of which `taken` reports as taken; redraws the shortfall.

    `taken(candidates)` returns the subset already in use or quarantined (one query per call).
    """
    chosen: list[str] = []
    chosen_set: set[str] = set()
    for _ in range(max_rounds):
        need = count - len(chosen)
        if need <= 0:
            break
        fresh = [n for n in draw(policy, need) if n not in chosen_set]
        blocked = taken(fresh) if fresh else set()
        for n in fresh:
            if n not in blocked:
                chosen.append(n)
                chosen_set.add(n)
    if len(chosen) < count:
        raise RuntimeError(
            f"could draw only {len(chosen)} of {count} free numbers in {max_rounds} rounds; "
            "the number space is too full"
        )
    return chosen[:count]


# First two digits of every weak number: the same digit twice, or a step up or down.
_WEAK_STARTS = frozenset(
    f"{a}{b}" for a in range(10) for b in range(10) if (b - a) % 10 in (0, 1, 9)
)


def _is_weak_fast(number: str) -> bool:
    # Seven in ten numbers are ruled out by their first two digits alone.
    return number[:2] in _WEAK_STARTS and is_weak(number)
