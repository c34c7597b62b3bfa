"""The pure core at its edges: exact refusals (an administrator reads them), boundaries of
the room checks, and the rarer steps of conversion. Written against the mutants that
`./dev mutants` found surviving: each test here fails on at least one of them."""

import hashlib

import pytest

from cardid.cards import checkdigits, conversion, generator, numbers
from cardid.cards.policy import MAX_LENGTH, Policy, PolicyError, is_weak

# -- the policy's own settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"length": 3}, "a generated number has 4 to 20 digits, not 3"),
        ({"length": 21}, "a generated number has 4 to 20 digits, not 21"),
        ({"check_digit": "crc"}, "unknown check digit 'crc'; use none, luhn or damm"),
        ({"max_guess_probability": 0}, "the guess bound must be above 0 and at most 1"),
        ({"max_guess_probability": 1.5}, "the guess bound must be above 0 and at most 1"),
    ],
)
def test_a_policy_that_cannot_be_is_refused_in_words(kwargs, said):
    with pytest.raises(PolicyError) as e:
        Policy(**kwargs)
    assert str(e.value) == said


def test_a_guess_bound_of_one_is_allowed():
    assert Policy(max_guess_probability=1).capacity() == 45_000_000  # then half the space


def test_the_space_at_another_length_keeps_the_check_digit_and_the_leading_digit_rule():
    luhn = Policy(length=8, check_digit="luhn")
    assert luhn.space_size() == 9 * 10**6  # 7 random digits, the first not 0
    assert luhn.space_size(10) == 9 * 10**8  # 9 random digits at 10
    assert Policy(length=8, no_leading_zero=False).space_size() == 10**8
    assert Policy(length=8, no_leading_zero=False).space_size(6) == 10**6


# -- room for a batch ---------------------------------------------------------------------------


def test_nothing_to_issue_always_fits_and_one_more_than_the_room_does_not():
    p = Policy(length=4)  # 9,000 numbers, room for 0 at 1 in 10,000
    p.check_room(in_use={}, to_issue=0)
    with pytest.raises(PolicyError):
        p.check_room(in_use={}, to_issue=1)


def test_the_room_is_exact_at_its_boundaries():
    p = Policy(length=4, max_guess_probability=1)  # room for 4,500 (half the space)
    p.check_room(in_use={4: 4_000}, to_issue=500)  # exactly full: fits
    p.check_room(in_use={4: 0}, to_issue=100, unavailable=4_400)  # in use + retired = half
    with pytest.raises(PolicyError):
        p.check_room(in_use={4: 4_000}, to_issue=501)


def test_a_full_space_is_said_as_such_with_the_share_and_the_retired_numbers():
    p = Policy(length=4, max_guess_probability=1)
    with pytest.raises(PolicyError) as e:
        p.check_room(in_use={}, to_issue=4_500, unavailable=1)
    assert str(e.value) == (
        "cannot issue 4,500 numbers of 4 digits: the space of 9,000 numbers would be more "
        "than 50% taken (0 in use, 1 retired); set cards.length to 5 (or more) and run again"
    )


def test_a_guess_bound_refusal_gives_the_odds_the_bound_and_the_length_to_choose():
    p = Policy()  # 8 digits: 9,000 numbers at 1 in 10,000
    with pytest.raises(PolicyError) as e:
        p.check_room(in_use={8: 8_000}, to_issue=2_000)
    assert str(e.value) == (
        "cannot issue 2,000 numbers of 8 digits: with 8,000 already in use, one random keypad "
        "guess would hit some user's number with a chance of 1 in 9,000, above the bound of "
        "1 in 10,000 (at that bound, 8 digits allow at most 9,000 numbers in use); set "
        "cards.length to 9 (or more) and run again"
    )


def test_a_room_of_one_number_is_said_in_the_singular():
    p = Policy(length=4, max_guess_probability=1 / 9_000)
    with pytest.raises(PolicyError) as e:
        p.check_room(in_use={}, to_issue=2)
    assert "4 digits allow at most 1 number in use)" in str(e.value)


def test_the_length_to_choose_is_longer_never_shorter_and_counts_what_it_holds():
    p = Policy()
    with pytest.raises(PolicyError) as e:  # 5 shorter lengths would hold one more number
        p.check_room(in_use={8: 9_000}, to_issue=1)
    assert str(e.value).endswith("set cards.length to 9 (or more) and run again")
    with pytest.raises(PolicyError) as e:  # 9 digits are full already: 10
        p.check_room(in_use={8: 9_000, 9: 90_000}, to_issue=1)
    assert str(e.value).endswith("set cards.length to 10 (or more) and run again")


def test_when_even_the_longest_numbers_are_not_enough_it_says_so():
    p = Policy(max_guess_probability=1e-19)  # 20 digits hold 9 numbers at this bound
    with pytest.raises(PolicyError) as e:
        p.check_room(in_use={}, to_issue=10)
    assert str(e.value).endswith(
        f"even {MAX_LENGTH} digits are not enough: raise cards.max-guess-probability or "
        "issue fewer numbers"
    )
    with pytest.raises(PolicyError) as e:  # the longest length is offered when it fits
        Policy(length=19, max_guess_probability=1e-19).check_room(in_use={}, to_issue=9)
    assert str(e.value).endswith(f"set cards.length to {MAX_LENGTH} (or more) and run again")


# -- single numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "accepted"),
    [
        ("48213957", True),
        ("4821395", False),  # too short
        ("482139570", False),  # too long
        ("4821395x", False),  # not a digit
        ("４８２１３９５７", False),  # digits, but not ASCII ones
        ("08213957", False),  # a leading zero
        ("12345678", False),  # a weak run
    ],
)
def test_a_policy_accepts_exactly_the_numbers_it_could_have_generated(number, accepted):
    assert Policy().accepts(number) is accepted


def test_without_a_check_digit_the_drawn_digits_are_the_number():
    assert Policy().finish("4821395") == "4821395"
    assert Policy(check_digit="luhn").finish("7992739871") == "79927398713"


@pytest.mark.parametrize(
    ("number", "weak"),
    [("7", True), ("19", False), ("99", True), ("123456", True), ("8901234", True)],
)
def test_weak_patterns_at_every_length(number, weak):
    assert is_weak(number) is weak


def test_the_fast_weak_check_only_looks_further_when_the_start_is_weak():
    assert generator._is_weak_fast("12398765") is False  # a weak start, not a weak number
    assert generator._is_weak_fast("123") is True
    assert generator._is_weak_fast("987") is True


# -- check digits --------------------------------------------------------------------------------


def test_luhn_on_the_published_example_and_at_its_shortest():
    assert checkdigits.luhn_digit("7992739871") == "3"  # doubles a 5 (10 -> 1) and a 9
    assert checkdigits.luhn_digit("5") == "9"  # 5 doubled is 10: 1, so 9 completes it
    assert checkdigits.luhn_valid("18") is True
    assert checkdigits.luhn_valid("0") is False  # a check digit alone checks nothing


def test_damm_at_its_shortest():
    assert checkdigits.damm_valid("00") is True
    assert checkdigits.damm_valid("0") is False


# -- numbers and slots ---------------------------------------------------------------------------


def test_slots_are_named_in_any_case_and_a_wrong_one_is_said():
    assert numbers.slot(" Primary ") == "primary"
    assert numbers.slot("SECONDARY") == "secondary"
    for raw in ("tertiary", None, ""):
        with pytest.raises(numbers.NumberError) as e:
            numbers.slot(raw)
        assert str(e.value) == f"unknown slot {raw!r}; use primary or secondary"


def test_the_key_folds_letters_down_and_the_digest_is_of_the_key():
    assert numbers.key(" 04A1b2C3 ") == "04a1b2c3"
    assert numbers.digest("04a1b2c3") == hashlib.sha256(b"04a1b2c3").hexdigest()


def test_a_number_with_bad_characters_names_them():
    with pytest.raises(numbers.NumberError) as e:
        numbers.clean("12 3$4")
    assert "' '" in str(e.value) and "'$'" in str(e.value)


# -- conversion ----------------------------------------------------------------------------------


def test_hex_steps_take_lower_case_and_name_themselves_when_refusing():
    assert conversion.hex2dec("ff") == "255"
    with pytest.raises(conversion.ConversionError) as e:
        conversion.reverse_bytes("zz")
    assert str(e.value) == "reverse-bytes: 'zz' is not a hexadecimal value"
    with pytest.raises(conversion.ConversionError) as e:
        conversion.dec2hex("x1")
    assert str(e.value) == "dec2hex: 'x1' is not a decimal value"


def test_stripping_zeros_leaves_one_zero_of_a_zero():
    assert conversion.strip_leading_zeros("000") == "0"
    assert conversion.strip_leading_zeros("") == ""


@pytest.mark.parametrize(
    ("chain", "value", "result"),
    [
        ("regex:\\d+", "ab123cd", "123"),  # no group: the whole match
        ("regex:(x*)", "abc", None),  # an empty first group: nothing is left
        ("substr:1:3", "abcdef", "bc"),
        ("substr:2:", "abcdef", "cdef"),
        ("upper, regex:(a{1,2})", "bAAc", None),
        ("lower, regex:(a{1,2})", "bAAc", "aa"),
    ],
)
def test_rarer_steps(chain, value, result):
    steps = conversion.parse(chain)
    if result is None:
        with pytest.raises(conversion.ConversionError):
            conversion.apply(steps, value)
    else:
        assert conversion.apply(steps, value) == result


def test_a_regex_with_a_comma_stays_one_step_and_the_next_regex_is_its_own():
    steps = conversion.parse("regex:(a{1,2}),regex:(a)")
    assert conversion.chain_text(steps) == "regex:(a{1,2}),regex:(a)"
    assert len(steps) == 2
    assert conversion.chain_text(conversion.parse("substr:1:3")) == "substr:1:3"
    assert conversion.chain_text(conversion.parse("substr:2:")) == "substr:2:"


@pytest.mark.parametrize(
    ("chain", "said"),
    [
        ("", "the chain is empty; give steps such as reverse-bytes,hex2dec"),
        ("regex:", "regex: needs an expression, as regex:^0*(\\d+)$"),
    ],
)
def test_chains_that_cannot_be_are_said(chain, said):
    with pytest.raises(conversion.ConversionError) as e:
        conversion.parse(chain)
    assert str(e.value) == said


def test_a_chain_that_leaves_nothing_says_so():
    with pytest.raises(conversion.ConversionError) as e:
        conversion.apply(conversion.parse("strip-leading-zeros,substr:5:"), "0012")
    assert str(e.value) == "the chain turned the value into nothing"


def test_derivation_needs_three_pairs_searches_three_steps_and_ranks_near_misses():
    with pytest.raises(conversion.ConversionError) as e:
        conversion.derive([("1", "1"), ("2", "2")])
    assert str(e.value) == "give three or more pairs of reader value and card number"
    # A mapping only four steps make (text to hex, bytes reversed, to decimal, padded): the
    # search stops at three and finds none.
    four = conversion.parse("ascii2hex,reverse-bytes,hex2dec,pad:8")
    pairs = [(v, conversion.apply(four, v)) for v in ("xy", "zq", "pq")]
    found = conversion.derive(pairs)
    assert found.chain is None
    near = conversion.derive([("10", "A"), ("11", "B"), ("12", "nope")]).near_misses
    assert near[0].startswith("dec2hex maps 2 of 3")
