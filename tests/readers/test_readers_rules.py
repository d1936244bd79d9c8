"""The pure reader rules: ID numbers, masking, who counts as a child, query shapes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from server.readers.models import (
    IdNumber,
    Phone,
    ReaderCreate,
    ReaderQuery,
    is_child,
    mask_id_number,
    youngest_possible_age,
)

ID_ADAPTER = TypeAdapter(IdNumber)
PHONE_ADAPTER = TypeAdapter(Phone)


def with_check(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]


def test_valid_id_numbers_are_accepted_and_normalised() -> None:
    assert ID_ADAPTER.validate_python("120112199003071234") == "120112199003071234"
    number = with_check("11010519491231002")
    assert number.endswith("X")
    assert ID_ADAPTER.validate_python(number.lower()) == number


@pytest.mark.parametrize("bad", ["120112199003071235", "12011219900307123", "1201121990030712345",
                                 "12011219901301123X", "A20112199003071234", "120112199002301236"])
def test_invalid_id_numbers_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        ID_ADAPTER.validate_python(bad)
    assert bad not in str(err.value.errors(include_input=False, include_url=False))


def test_masks() -> None:
    assert mask_id_number("120112199003071234") == "1201**********1234"
    assert PHONE_ADAPTER.validate_python("+86 138-1234-5678") == "13812345678"
    with pytest.raises(ValidationError):
        PHONE_ADAPTER.validate_python("12812345678")


@pytest.mark.parametrize(("birth_year", "birth_date", "today", "child"), [
    (2012, date(2012, 5, 1), date(2026, 4, 30), True),    # 13 the day before the birthday
    (2012, date(2012, 5, 1), date(2026, 5, 1), False),    # 14 on the birthday
    (2012, None, date(2026, 12, 31), True),               # a year alone: may still be 13 all year
    (2011, None, date(2026, 1, 1), False),                # at least 14
    (1950, None, date(2026, 1, 1), False),
])
def test_who_is_a_child(birth_year: int, birth_date: date | None, today: date, child: bool) -> None:
    assert is_child(birth_year, birth_date, today) is child


@given(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)),
       st.dates(min_value=date(2026, 1, 1), max_value=date(2040, 12, 31)))
def test_a_year_alone_never_says_older_than_the_real_date(born: date, today: date) -> None:
    # Conservative for PIPL: knowing only the year, we never treat a real child as an adult.
    assert youngest_possible_age(born.year, None, today) <= youngest_possible_age(born.year, born, today)


def test_registration_needs_a_birth_and_a_consistent_one() -> None:
    base = {"op_id": "abcdefgh1", "name": "张三", "phone": "13812345678", "home_room": "JN-XSG-001"}
    with pytest.raises(ValidationError, match="出生年份"):
        ReaderCreate.model_validate(base)
    with pytest.raises(ValidationError, match="不一致"):
        ReaderCreate.model_validate({**base, "birth_year": 1991, "birth_date": "1990-03-07"})
    with pytest.raises(ValidationError, match="身份证号不一致"):
        ReaderCreate.model_validate({**base, "birth_year": 1991, "id_number": "120112199003071234"})
    assert ReaderCreate.model_validate({**base, "id_number": "120112199003071234"}).birth_year is None


def test_find_one_way_at_a_time() -> None:
    assert ReaderQuery.model_validate({"card": " jn00000001 "}).card == "JN00000001"
    for bad in ({"card": "JN00000001", "phone": "13812345678"}, {"card": "JN00000001", "name": "张"},
                {"phone": "13812345678", "room": "JN-XSG-001"}):
        with pytest.raises(ValidationError):
            ReaderQuery.model_validate(bad)
