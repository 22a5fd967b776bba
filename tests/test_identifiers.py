"""GB 11643 citizen IDs, GB 32100 USCCs, GB/T 36904 e-certificate identifiers."""

from __future__ import annotations

import random
from datetime import date

import pytest

from hutong.errors import InvalidArgument
from hutong.identifiers import (
    USCC_ALPHABET,
    build_certificate_id,
    citizen_id_check_character,
    mask,
    mod37_36_check_character,
    normalise_citizen_id,
    parse_certificate_id,
    parse_citizen_id,
    parse_uscc,
    uscc_check_character,
)

CITIZEN_IDS = ["11010519491231002X", "110102199101010078", "44011320141005001X"]
USCCS = ["91350100M000100Y43", "91110000600037341L", "121200004013590816"]
CERT_ID = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"


def _reason(value: str, parse=parse_citizen_id) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument) as info:
        parse(value)
    return info.value.reason


@pytest.mark.parametrize("number", CITIZEN_IDS)
def test_design_citizen_ids_are_valid(number: str) -> None:
    assert parse_citizen_id(number).number == number


def test_lower_case_x_normalises() -> None:
    assert normalise_citizen_id(" 11010519491231002x ") == "11010519491231002X"


def test_citizen_id_parts() -> None:
    cid = parse_citizen_id("11010519491231002X")
    assert (cid.region_code, cid.birth_date, cid.sequence, cid.gender) == ("110105", date(1949, 12, 31), "002",
                                                                          "female")
    assert parse_citizen_id("110102199101010078").gender == "male"
    assert "11010519491231002X" not in str(cid)  # printing never reveals the number


@pytest.mark.parametrize(("value", "reason"), [
    ("1101051949123100", "CITIZEN_ID_INVALID_FORMAT"),
    ("11010519491231002Y", "CITIZEN_ID_INVALID_FORMAT"),
    ("1101051949123100X2", "CITIZEN_ID_INVALID_FORMAT"),
    ("", "CITIZEN_ID_INVALID_FORMAT"),
    ("11010519491231002０", "CITIZEN_ID_INVALID_FORMAT"),  # full-width digit
    ("11010519491231002", "CITIZEN_ID_INVALID_FORMAT"),
    ("110105194912310021", "CHECK_CHARACTER_MISMATCH"),
    ("990105194912310023", "INVALID_REGION_CODE"),
    ("110000194912310023", "INVALID_REGION_CODE"),
    ("110105194902300021", "INVALID_BIRTH_DATE"),  # 30 February
    ("110105194913010021", "INVALID_BIRTH_DATE"),
])
def test_citizen_id_failures_have_their_own_reason(value: str, reason: str) -> None:
    assert _reason(value) == reason


def test_birth_date_in_the_future_is_refused() -> None:
    first17 = "11010520990101001"
    with pytest.raises(InvalidArgument) as info:
        parse_citizen_id(first17 + citizen_id_check_character(first17), today=date(2030, 1, 1))
    assert info.value.reason == "INVALID_BIRTH_DATE"


def test_every_wrong_check_character_is_caught() -> None:
    rng = random.Random(11643)
    for _ in range(300):
        born = date(1900, 1, 1).toordinal() + rng.randrange(40000)
        first17 = "440113" + date.fromordinal(born).strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
        good = citizen_id_check_character(first17)
        assert parse_citizen_id(first17 + good).number.endswith(good)
        for wrong in set("0123456789X") - {good}:
            assert _reason(first17 + wrong) == "CHECK_CHARACTER_MISMATCH"


def test_single_digit_changes_are_caught() -> None:
    for number in CITIZEN_IDS:
        for pos in range(17):
            for digit in "0123456789":
                changed = number[:pos] + digit + number[pos + 1:]
                if changed != number:
                    with pytest.raises(InvalidArgument):
                        parse_citizen_id(changed)


@pytest.mark.parametrize("code", USCCS)
def test_design_usccs_are_valid(code: str) -> None:
    assert parse_uscc(code.lower()).code == code


def test_uscc_parts() -> None:
    u = parse_uscc("91350100M000100Y43")
    assert (u.registration_authority, u.entity_category, u.region_code, u.organisation_code) == (
        "9", "1", "350100", "M000100Y4")


@pytest.mark.parametrize(("value", "reason"), [
    ("91110000600037341N", "CHECK_CHARACTER_MISMATCH"),
    ("91110000600037341", "USCC_INVALID_FORMAT"),
    ("9111000060003734IL", "USCC_INVALID_FORMAT"),  # I is not in the alphabet
    ("91A10000600037341L", "INVALID_REGION_CODE"),
    ("91990000600037341L", "INVALID_REGION_CODE"),
])
def test_uscc_failures_have_their_own_reason(value: str, reason: str) -> None:
    assert _reason(value, parse_uscc) == reason


def test_every_wrong_uscc_check_character_is_caught() -> None:
    rng = random.Random(32100)
    for _ in range(200):
        first17 = "91" + "3501" + f"{rng.randrange(100):02d}" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
        good = uscc_check_character(first17)
        assert parse_uscc(first17 + good).code.endswith(good)
        wrong = rng.choice([c for c in USCC_ALPHABET if c != good])
        assert _reason(first17 + wrong, parse_uscc) == "CHECK_CHARACTER_MISMATCH"


def test_certificate_identifier_example_from_the_design() -> None:
    cid = parse_certificate_id(CERT_ID)
    assert (cid.type_code, cid.issuer_uscc, cid.serial, cid.version, cid.check) == (
        "11100000000013338W011", "11430000006122244L", "20230000403", "001", "U")
    assert str(cid) == CERT_ID
    assert str(build_certificate_id("11100000000013338W011", "11430000006122244L", "20230000403", 1)) == CERT_ID


def test_certificate_identifier_check_catches_every_single_change() -> None:
    data = "11100000000013338W01111430000006122244L20230000403001"
    assert mod37_36_check_character(data) == "U"
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for pos in range(len(data)):
        for ch in alphabet:
            if ch != data[pos]:
                assert mod37_36_check_character(data[:pos] + ch + data[pos + 1:]) != "U"
    for pos in range(len(data) - 1):  # adjacent transpositions
        swapped = data[:pos] + data[pos + 1] + data[pos] + data[pos + 2:]
        if swapped != data:
            assert mod37_36_check_character(swapped) != "U"


@pytest.mark.parametrize(("value", "reason"), [
    (CERT_ID[:-1] + "V", "CHECK_CHARACTER_MISMATCH"),
    (CERT_ID.replace("1.2.156.3005.2", "1.2.156.3005.3"), "CERT_ID_INVALID_FORMAT"),
    (CERT_ID.replace(".001.", ".01."), "CERT_ID_INVALID_FORMAT"),
    (CERT_ID.replace("20230000403", "202300"), "CERT_ID_INVALID_FORMAT"),
    (CERT_ID.replace("11430000006122244L", "11430000006122244M"), "CHECK_CHARACTER_MISMATCH"),  # issuer USCC
    (CERT_ID + ".X", "CERT_ID_INVALID_FORMAT"),
])
def test_certificate_identifier_failures(value: str, reason: str) -> None:
    assert _reason(value, parse_certificate_id) == reason


def test_built_identifiers_round_trip() -> None:
    rng = random.Random(36904)
    for _ in range(100):
        serial = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(7, 32)))
        built = build_certificate_id("11100000000013338W011", USCCS[rng.randrange(3)], serial, rng.randint(1, 999))
        assert parse_certificate_id(str(built).lower()) == built


def test_mask_keeps_only_the_ends() -> None:
    assert mask("11010519491231002X") == "1101************2X"
