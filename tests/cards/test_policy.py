"""The generation policy: which numbers may be generated and how many fit."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cardid.cards.policy import Policy, PolicyError, is_weak


def test_default_policy_holds_9000_numbers():
    p = Policy()
    assert p.space_size() == 90_000_000
    assert p.capacity() == 9_000


def test_a_site_of_20000_users_is_told_to_choose_9_digits():
    with pytest.raises(PolicyError) as e:
        Policy().check_room(in_use={}, to_issue=20_000)
    assert "set cards.length to 9" in str(e.value)
    assert "1 in 10,000" in str(e.value)


def test_numbers_in_use_count_against_the_bound():
    Policy().check_room(in_use={8: 8_000}, to_issue=1_000)
    with pytest.raises(PolicyError, match="8,001 already in use|with 8,001"):
        Policy().check_room(in_use={8: 8_001}, to_issue=1_000)


def test_numbers_of_other_lengths_do_not_count_against_the_bound():
    Policy().check_room(in_use={10: 500_000, 6: 9_000}, to_issue=9_000)


def test_a_nearly_full_space_is_refused_even_with_no_guess_bound():
    p = Policy(length=4, max_guess_probability=1.0)
    assert p.capacity() == 4_500
    with pytest.raises(PolicyError, match="more than 50% taken"):
        p.check_room(in_use={4: 4_000}, to_issue=100, unavailable=500)


def test_when_no_length_is_enough_the_message_says_to_raise_the_bound():
    p = Policy(length=20, max_guess_probability=1e-20)
    with pytest.raises(PolicyError, match="raise cards.max-guess-probability"):
        p.check_room(in_use={}, to_issue=10)


def test_a_check_digit_shrinks_the_space_tenfold():
    assert Policy(check_digit="luhn").space_size() == 9_000_000


@pytest.mark.parametrize(
    "bad", [{"length": 3}, {"length": 21}, {"check_digit": "crc"}, {"max_guess_probability": 0}]
)
def test_impossible_policies_are_refused(bad):
    with pytest.raises(PolicyError):
        Policy(**bad)


@pytest.mark.parametrize("number", ["11111111", "12345678", "87654321", "89012345", "0000"])
def test_weak_patterns_are_recognised(number):
    assert is_weak(number)


@pytest.mark.parametrize("number", ["12345679", "11111112", "13579246"])
def test_ordinary_numbers_are_not_weak(number):
    assert not is_weak(number)


@given(st.text(alphabet="0123456789", min_size=4, max_size=20), st.sampled_from(["none", "damm"]))
@example("12345678", "none")
@example("77777777", "none")
@example("01234568", "none")
def test_accepts_enforces_every_rule(number, check):
    """Accepted exactly when every rule holds: each rule can refuse on its own."""
    p = Policy(length=len(number), check_digit=check)
    rules_hold = (
        number[0] != "0"
        and not is_weak(number)
        and (check == "none" or p.finish(number[:-1]) == number)
    )
    assert p.accepts(number) == rules_hold


@given(st.text(alphabet="0123456789", min_size=3, max_size=19))
def test_a_finished_number_is_accepted_unless_a_rule_refuses_it(payload):
    """Appending the check digit makes an acceptable number of any non-weak payload that
    does not start with 0 (so the property above is not satisfied by refusing everything)."""
    p = Policy(length=len(payload) + 1, check_digit="damm")
    number = p.finish(payload)
    assert p.accepts(number) == (payload[0] != "0" and not is_weak(number))
