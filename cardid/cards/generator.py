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
        values = [from_bytes(raw[i : i + width], "big") for i in range(0, len(raw), width)]
        out += [v % span for v in values if v < limit]
    del out[count:]
    return out


def draw(policy: Policy, count: int) -> list[str]:
    """Up to `count` distinct numbers the policy accepts (weak patterns removed, so a few
    may be missing: callers redraw the shortfall together with their other rejects)."""
    digits = policy.random_digits()
    values = _uniform_ints(count, 9 * 10 ** (digits - 1) if policy.no_leading_zero else 10**digits)
    if policy.no_leading_zero:
        base = 10 ** (digits - 1)
        drawn = [str(base + v) for v in values]  # `digits` digits, the first not 0
    else:
        drawn = [str(v).zfill(digits) for v in values]
    if policy.check_digit != "none":
        drawn = [policy.finish(n) for n in drawn]
    unique = dict.fromkeys(drawn)  # distinct, in the order drawn
    if policy.reject_weak_patterns:
        return [n for n in unique if not _is_weak_fast(n)]
    return list(unique)


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


# First three digits of every weak number: one digit three times, or two steps up or down.
_WEAK_STARTS = frozenset(
    f"{a}{(a + step) % 10}{(a + 2 * step) % 10}" for a in range(10) for step in (0, 1, 9)
)


def _is_weak_fast(number: str) -> bool:
    # 97 in 100 numbers are ruled out by their first three digits alone.
    return (len(number) < 3 or number[:3] in _WEAK_STARTS) and is_weak(number)
