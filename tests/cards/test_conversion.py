"""Conversion rules for card readers: steps, chains, known reader cases, deriving a rule."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardid.cards import conversion
from cardid.cards.conversion import ConversionError, apply, derive, parse
from tests.factories import give_number, make_user

hexes = st.text(alphabet="0123456789ABCDEF", min_size=2, max_size=16).filter(
    lambda s: len(s) % 2 == 0
)


@given(st.integers(min_value=0, max_value=10**30))
def test_hex2dec_undoes_dec2hex_on_canonical_values(n):
    assert apply("dec2hex,hex2dec", str(n)) == str(n)


@given(hexes)
def test_reverse_bytes_twice_is_the_identity(value):
    assert apply("reverse-bytes,reverse-bytes", value) == value


@given(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30)
)
def test_ascii2hex_then_hex2ascii_is_the_identity(text):
    assert apply("ascii2hex,hex2ascii", text) == text


def test_a_mifare_uid_read_lsb_first():
    # The reader sends the 4-byte UID least significant byte first, in hex; the card is
    # printed with the UID as a 10-digit decimal number.
    uid = 0x04A1B2C3
    reader = "C3B2A104"
    assert apply("reverse-bytes,hex2dec,pad:10", reader) == f"{uid:010d}"


def test_a_26_bit_wiegand_value_with_facility_code():
    # Facility 123, card 45678: the reader prints "123:45678"; the card shows 45678.
    assert apply(r"regex::(\d+)$", "123:45678") == "45678"
    # The same as one 24-bit decimal number (facility << 16 | card): the last 16 bits.
    wiegand = str((123 << 16) | 45678)
    assert apply("dec2hex,substr:-4:,hex2dec", wiegand) == "45678"


def test_an_ascii_encoded_number():
    assert apply("hex2ascii,strip-leading-zeros", "3030313233343536") == "123456"


def test_regex_may_contain_commas():
    steps = parse(r"regex:^(\d{2,4}),upper")
    assert [str(s) for s in steps] == [r"regex:^(\d{2,4})", "upper"]


@pytest.mark.parametrize(
    "chain,value,msg",
    [
        ("hex2dec", "XYZ", "not a hexadecimal value"),
        ("dec2hex", "12a", "not a decimal value"),
        ("frobnicate", "1", "unknown step 'frobnicate'"),
        ("regex:(", "1", "not a regular expression that runs in linear time"),
        ("regex:^9(\\d+)", "123", "no match"),
        ("pad:x", "1", "pad needs a length"),
        ("", "1", "chain is empty"),
        ("upper", "1" * 65, "at most 64"),
    ],
)
def test_bad_chains_and_values_are_named(chain, value, msg):
    with pytest.raises(ConversionError, match=msg):
        apply(chain, value)


def test_derive_finds_the_shortest_chain():
    uids = [0x04A1B2C3, 0x0011AA22, 0x7F000001]
    pairs = [(int.to_bytes(u, 4, "little").hex().upper(), f"{u:010d}") for u in uids]
    assert derive(pairs).chain == "reverse-bytes,hex2dec,pad:10"


def test_derive_says_which_pair_breaks_the_near_misses():
    pairs = [("0A", "10"), ("0B", "11"), ("0C", "99")]
    result = derive(pairs)
    assert result.chain is None
    assert "hex2dec maps 2 of 3; it breaks on 0C -> 99" in result.near_misses


def test_derive_needs_three_pairs():
    with pytest.raises(ConversionError, match="three or more"):
        derive([("0A", "10")])


def test_every_step_is_listed():
    assert set(conversion.SIMPLE) | {"pad", "regex", "substr"} == {
        n.split(":")[0] for n in conversion.NAMES
    }


# -- stored rules, the CLI and terminals ------------------------------------------------------


@pytest.mark.django_db
def test_rules_cli_set_list_convert_delete(cli):
    assert cli("cards", "rules", "set", "mifare", "reverse-bytes, hex2dec ,pad:10").code == 0
    assert cli("cards", "rules", "list").out.strip() == "mifare\treverse-bytes,hex2dec,pad:10"
    assert cli("cards", "convert", "mifare", "C3B2A104").out.strip() == "0077705923"
    assert cli("cards", "convert", "--chain", "ascii2hex", "AB").out.strip() == "4142"
    r = cli("cards", "convert", "mifare", "XYZ")
    assert r.code == 1 and "not a hexadecimal value" in r.err
    assert "unknown step 'nope'" in cli("cards", "rules", "set", "x", "nope").err
    assert cli("cards", "rules", "delete", "mifare").code == 0
    assert cli("cards", "rules", "delete", "mifare").code == 1


@pytest.mark.django_db
def test_derive_rule_cli(cli, tmp_path):
    f = tmp_path / "pairs.csv"
    f.write_text("C3B2A104,0077705923\n22AA1100,0001157666\n0100007F,2130706433\n")
    r = cli("cards", "derive-rule", str(f))
    assert r.code == 0 and r.out.strip().splitlines()[-1] == "reverse-bytes,hex2dec,pad:10"
    f.write_text("0A,10\n0B,11\n0C,99\n")
    r = cli("cards", "derive-rule", str(f))
    assert r.code == 1 and "near miss: hex2dec maps 2 of 3; it breaks on 0C -> 99" in r.err


@pytest.mark.django_db
def test_lookup_with_a_rule(cli):
    give_number(make_user(username="ann"), "0077705923")
    cli("cards", "rules", "set", "mifare", "reverse-bytes,hex2dec,pad:10")
    assert cli("lookup", "C3B2A104", "--rule", "mifare").out.strip() == "ann"
    assert "no rule named 'nope'" in cli("lookup", "1", "--rule", "nope").err


@pytest.mark.django_db
def test_a_terminal_token_converts_what_its_reader_sends(client, cli):
    give_number(make_user(username="ann", full_name="Ann"), "0077705923")
    cli("cards", "rules", "set", "mifare", "reverse-bytes,hex2dec,pad:10")
    key = cli("tokens", "create", "door", "--scope", "lookup", "--conversion", "mifare").out
    r = client.post(
        "/api/v1/lookup",
        json.dumps({"number": "C3B2A104"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.strip()}",
    )
    assert r.status_code == 200 and r.json()["username"] == "ann"
    r = client.post(
        "/api/v1/lookup",
        json.dumps({"number": "not-hex"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.strip()}",
    )
    assert r.status_code == 400 and "hexadecimal" in r.json()["detail"]
    assert "no rule named 'gone'" in cli("tokens", "create", "x", "--conversion", "gone").err
    assert "used by token(s) door" in cli("cards", "rules", "delete", "mifare").err
    # A changed rule applies to the very next look-up, through REST and XML-RPC alike.
    cli("cards", "rules", "set", "mifare", "hex2dec,pad:10")
    r = client.post(
        "/api/v1/lookup",
        json.dumps({"number": "04A1B2C3"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.strip()}",
    )
    assert r.status_code == 200 and r.json()["username"] == "ann"
    import xmlrpc.client

    body = xmlrpc.client.dumps((key.strip(), "04A1B2C3"), "api.lookUpUserNameByCardNo")
    r = client.post("/rpc/api/xmlrpc", body, content_type="text/xml")
    assert xmlrpc.client.loads(r.content)[0][0] == "ann"
