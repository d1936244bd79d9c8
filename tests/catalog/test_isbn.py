"""ISBN validation and conversion, internal ids, and the 中图法 → six-class mapping (pure)."""

from __future__ import annotations

import isbnlib
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from server.catalog.classification import CATEGORIES, category_for, normalize_clc
from server.catalog.isbn import IsbnError, internal_id, is_internal_id, title_id_for_code, to_isbn13


@pytest.mark.parametrize("raw", [
    "9787020008735", "978-7-02-000873-5", "ISBN 978-7-02-000873-5", "ISBN-13: 978 7 02 000873 5",
    "７-０２-０００８７３-９", "7020008739", "7-02-000873-9", "978702000873590000", "978702000873512",
])
def test_every_usual_form_of_one_isbn_gives_the_same_isbn13(raw):
    assert to_isbn13(raw) == "9787020008735"


def test_isbn10_with_x_check_digit():
    assert to_isbn13("0-8044-2957-X") == "9780804429573"


@pytest.mark.parametrize(("raw", "why"), [
    ("9787020008736", "校验位"), ("7020008735", "校验位"), ("1234567890123", "978 或 979"),
    ("97870200087", "10 位或 13 位"), ("abc", "只能包含"), ("", "为空"), ("978-7-02-00087X-5", "只能由数字"),
])
def test_bad_isbns_say_why(raw, why):
    with pytest.raises(IsbnError, match=why):
        to_isbn13(raw)


def test_internal_ids():
    assert internal_id(12) == "SW00000000012"
    assert is_internal_id("SW00000000012") and not is_internal_id("SW0000000001")
    assert title_id_for_code(" sw00000000012 ") == "SW00000000012"
    assert title_id_for_code("7-02-000873-9") == "9787020008735"


isbn10_bodies = st.text(alphabet="0123456789", min_size=9, max_size=9)


@given(isbn10_bodies)
def test_isbn10_to_13_keeps_validity_and_is_idempotent(body):
    isbn10 = body + isbnlib.check_digit10(body)
    assume(isbnlib.is_isbn10(isbn10))  # isbnlib refuses degenerate ones such as 0000000000
    isbn13 = to_isbn13(isbn10)
    assert isbnlib.is_isbn13(isbn13) and isbn13.startswith("978") and isbn13[3:12] == body
    assert to_isbn13(isbn13) == isbn13
    hyphenated = "-".join((isbn10[:1], isbn10[1:4], isbn10[4:9], isbn10[9:]))
    assert to_isbn13(hyphenated) == isbn13


@given(isbn10_bodies, st.integers(0, 9))
def test_a_changed_digit_is_refused(body, wrong):
    assume(isbnlib.is_isbn10(body + isbnlib.check_digit10(body)))
    isbn13 = to_isbn13(body + isbnlib.check_digit10(body))
    if str(wrong) != isbn13[-1]:
        with pytest.raises(IsbnError):
            to_isbn13(isbn13[:-1] + str(wrong))


@pytest.mark.parametrize(("clc", "category"), [
    ("D92", "政经"), ("F32", "政经"), ("A81", "政经"), ("B2", "政经"),
    ("S66", "科技"), ("TP311", "科技"), ("R4", "科技"), ("X1", "科技"), ("T-0", "科技"), ("S-49", "科技"),
    ("R151.4", "生活"), ("TS972.12", "生活"), ("G78", "生活"), ("R212", "生活"),
    ("I247.5", "文化"), ("K2", "文化"), ("J2", "文化"), ("G624", "文化"), ("H1", "文化"),
    ("I287.7", "少儿"), ("I712.8", "少儿"), ("Z228.1", "少儿"),
    ("Z2", "其他"), (None, "其他"),
])
def test_clc_to_six_classes(clc, category):
    assert category_for(normalize_clc(clc)) == category


def test_children_flag_wins_and_codes_are_normalised():
    assert category_for("S66", children=True) == "少儿"
    assert normalize_clc(" i247.5/123 ") == "I247.5"
    assert normalize_clc("K2; I2") == "K2"
    assert normalize_clc("") is None
    for bad in ("W12", "12", "TA1", "-1"):
        with pytest.raises(ValueError, match="中图法"):
            normalize_clc(bad)


@given(st.from_regex(r"[A-KNOPQRSUVXZ][0-9]{1,3}(\.[0-9]{1,2})?", fullmatch=True))
def test_every_valid_code_maps_to_one_of_the_six(code):
    assert category_for(normalize_clc(code)) in CATEGORIES
