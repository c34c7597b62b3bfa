"""What may be stored as a number, and how it is matched."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardid.cards import numbers


def test_number_keeps_its_letter_case_but_loses_surrounding_spaces():
    assert numbers.clean("  04A1B2C3  ") == "04A1B2C3"


def test_key_folds_letter_case_so_reader_and_keypad_input_match():
    assert numbers.key("04A1B2C3") == numbers.key("04a1b2c3")


@pytest.mark.parametrize("raw", ["12 34", "1234;", "12\n34", "１２３４", "12/34", "<script>"])
def test_characters_no_keypad_or_reader_sends_are_rejected_with_the_way_out(raw):
    with pytest.raises(numbers.NumberError, match="letters, digits and '-' only"):
        numbers.clean(raw)


def test_a_number_longer_than_64_characters_is_rejected():
    numbers.clean("9" * 64)
    with pytest.raises(numbers.NumberError, match="at most 64"):
        numbers.clean("9" * 65)


def test_empty_number_is_rejected_and_points_at_clearing():
    with pytest.raises(numbers.NumberError, match="clear the slot"):
        numbers.clean("   ")


def test_short_legacy_numbers_are_allowed_when_set_by_hand():
    assert numbers.clean("1234") == "1234"


@given(st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=64))
def test_every_clean_number_round_trips_and_its_key_is_case_free(raw):
    assert numbers.clean(raw) == raw
    assert numbers.key(raw) == numbers.key(raw.upper()) == numbers.key(raw.lower())


def test_keypad_length_is_set_for_digits_only():
    assert numbers.keypad_length("12345678") == 8
    assert numbers.keypad_length("1234ABCD") is None
