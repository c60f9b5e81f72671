"""Mobile numbers in E.164 (phonenumbers): Indonesian numbers in the ways members write them,
other countries with their code, and what is refused."""

from __future__ import annotations

import pytest

from idp.services.identifiers import is_mobile_number, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "typed",
    [
        "081234567890",
        "0812 3456 7890",
        "0812-3456-7890",
        "(0812) 3456.7890",
        "+62 812 3456 7890",
        "+6281234567890",
        "62812 3456 7890",
        "6281234567890",
        "006281234567890",
        "\uff10\uff18\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10",  # full-width digits
    ],
)
def test_indonesian_numbers_become_e164(typed):
    assert normalize_phone(typed) == "+6281234567890"


@pytest.mark.parametrize(
    ("typed", "e164"),
    [("+1 415 555 2671", "+14155552671"), ("+44 7400 123456", "+447400123456"), ("0044 7400 123456", "+447400123456")],
)
def test_other_countries_with_their_code(typed, e164):
    assert normalize_phone(typed) == e164


@pytest.mark.parametrize(
    "typed", ["", "12", "abc", "+62 12", "0800", "+999123456789", "0812345678901234567", "+62 812 x", "0021 1234 5678"]
)
def test_what_is_not_a_valid_number_is_refused(typed):
    with pytest.raises(ValueError):
        normalize_phone(typed)


def test_mobile_numbers_can_receive_texts_and_fixed_lines_cannot():
    assert is_mobile_number("+6281234567890")
    assert not is_mobile_number(normalize_phone("021 1234 5678"))  # a Jakarta fixed line
    assert not is_mobile_number(None) and not is_mobile_number("not a number")


def test_a_masked_number_shows_enough_to_recognise_it_and_not_to_copy_it():
    masked = mask_phone("+6281234567890")
    assert masked.startswith("+62 812") and masked.endswith("890")
    assert "3456" not in masked and "81234567890" not in masked.replace(" ", "")
