"""Luhn and Damm check digits catch a single mistyped digit."""

from hypothesis import given
from hypothesis import strategies as st

from cardid.cards import checkdigits

digits = st.text(alphabet="0123456789", min_size=3, max_size=19)


def test_luhn_known_value():
    assert checkdigits.luhn_digit("7992739871") == "3"
    assert checkdigits.luhn_valid("79927398713")
    assert not checkdigits.luhn_valid("79927398710")


def test_damm_known_value():
    assert checkdigits.damm_digit("572") == "4"
    assert checkdigits.damm_valid("5724")
    assert not checkdigits.damm_valid("5727")


@given(digits, st.data())
def test_a_single_mistyped_digit_fails_both_checks(payload, data):
    for algo in ("luhn", "damm"):
        number = payload + checkdigits.DIGIT[algo](payload)
        assert checkdigits.VALID[algo](number)
        pos = data.draw(st.integers(0, len(number) - 1))
        wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[pos]]))
        typo = number[:pos] + wrong + number[pos + 1 :]
        assert not checkdigits.VALID[algo](typo), (algo, number, typo)


@given(digits, st.data())
def test_damm_catches_every_swap_of_neighbouring_digits(payload, data):
    number = payload + checkdigits.damm_digit(payload)
    pos = data.draw(st.integers(0, len(number) - 2))
    swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
    if swapped != number:
        assert not checkdigits.damm_valid(swapped)
