"""Random numbers: every rule of the policy holds, digits are uniform, randomness is the OS's."""

import collections
import io
import secrets
from statistics import NormalDist

from hypothesis import given, settings
from hypothesis import strategies as st

from cardid.cards import generator
from cardid.cards.policy import Policy, is_weak

policies = st.builds(
    Policy,
    length=st.integers(4, 20),
    no_leading_zero=st.booleans(),
    check_digit=st.sampled_from(["none", "luhn", "damm"]),
    reject_weak_patterns=st.booleans(),
)


@settings(max_examples=200)
@given(policies, st.integers(1, 300))
def test_every_drawn_number_obeys_the_policy(policy, count):
    drawn = generator.draw_exactly(policy, count, lambda candidates: set())
    assert len(drawn) == count == len(set(drawn))
    for n in drawn:
        assert len(n) == policy.length and n.isdigit()
        if policy.no_leading_zero:
            assert n[0] != "0"
        if policy.reject_weak_patterns:
            assert not is_weak(n)
        assert policy.accepts(n)


def test_draw_exactly_skips_taken_numbers_and_redraws_the_shortfall():
    policy = Policy(length=4, max_guess_probability=1.0)
    taken_calls = []

    def taken(candidates):
        taken_calls.append(len(candidates))
        return {c for c in candidates if int(c) % 2 == 0}  # half the space is taken

    drawn = generator.draw_exactly(policy, 1000, taken)
    assert len(drawn) == 1000 == len(set(drawn))
    assert all(int(n) % 2 == 1 for n in drawn)
    assert len(taken_calls) > 1


def _chi_square(counts, expected):
    return sum((c - expected) ** 2 / expected for c in counts)


def _chi_square_limit(dof: int, p: float = 1 - 1e-6) -> float:
    """The p-quantile of chi-square (Wilson-Hilferty): a fair generator exceeds it once in a
    million runs; a biased one (modulo bias, a stuck digit) exceeds it by far at 50,000."""
    z = NormalDist().inv_cdf(p)
    return dof * (1 - 2 / (9 * dof) + z * (2 / (9 * dof)) ** 0.5) ** 3


def test_digits_are_uniform_in_every_position():
    policy = Policy(length=10, no_leading_zero=False, reject_weak_patterns=False)
    drawn = generator.draw(policy, 50_000)
    for pos in range(10):
        counts = collections.Counter(n[pos] for n in drawn)
        stat = _chi_square([counts[d] for d in "0123456789"], len(drawn) / 10)
        assert stat < _chi_square_limit(9), (pos, counts)


def test_leading_digit_is_uniform_over_1_to_9_without_leading_zero():
    drawn = generator.draw(Policy(length=8, reject_weak_patterns=False), 45_000)
    counts = collections.Counter(n[0] for n in drawn)
    assert "0" not in counts
    assert _chi_square([counts[d] for d in "123456789"], len(drawn) / 9) < _chi_square_limit(8)


def test_numbers_come_from_the_secrets_module(monkeypatch):
    calls = []

    def fake(n):
        calls.append(n)
        return bytes(n)  # all zeros: the smallest value every time

    monkeypatch.setattr(secrets, "token_bytes", fake)
    drawn = generator.draw(Policy(length=6, reject_weak_patterns=False), 1)
    assert calls and drawn == ["100000"]


def test_uniform_ints_reject_rather_than_bias(monkeypatch):
    """Bytes that would bias a modulo are thrown away, not folded onto small values."""
    # One byte covers a span of 200; the bytes 200..255 must be rejected. Fed every byte
    # value in turn, an unbiased draw gives each of 0..199 equally often; taking the bytes
    # modulo 200 would give 0..55 twice as often as the rest.
    stream = io.BytesIO(bytes(range(256)) * 64)

    monkeypatch.setattr(secrets, "token_bytes", stream.read)
    counts = collections.Counter(generator._uniform_ints(200 * 50, 200))
    assert set(counts) == set(range(200)) and set(counts.values()) == {50}


def test_uniform_ints_are_uniform_from_the_real_source():
    # Chi-square over 100 cells of a span that one byte cannot divide evenly: a modulo
    # fold would overload the first 56 cells by a factor of two.
    span, n = 200, 100_000
    counts = collections.Counter(v // 2 for v in generator._uniform_ints(n, span))
    expected = n / 100
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in range(100))
    assert chi2 < 160  # 99 degrees of freedom: p < 0.0001 above this
