"""ISBNs and internal ids: what a title is keyed by. Pure; validation by isbnlib.

A title with an ISBN is keyed by its ISBN-13 (13 digits, no hyphens); an ISBN-10
is converted. Items without one (old books, discs, periodicals) get an internal
id, "SW" + 11 digits, allocated by the catalog's counter.
"""

from __future__ import annotations

import re
import unicodedata

import isbnlib

INTERNAL_ID_RE = re.compile(r"^SW\d{11}$")
INTERNAL_PREFIX = "SW"
INTERNAL_DIGITS = 11
# A book's barcode is its EAN-13; scanners may append the 2- or 5-digit price add-on.
_ADDON_LENGTHS = (15, 18)


class IsbnError(ValueError):
    """Why a string is not a usable ISBN (the message is for users, in Chinese)."""


def internal_id(seq: int) -> str:
    return f"{INTERNAL_PREFIX}{seq:0{INTERNAL_DIGITS}d}"


def is_internal_id(code: str) -> bool:
    return bool(INTERNAL_ID_RE.fullmatch(code))


def to_isbn13(raw: str) -> str:
    """The ISBN-13 (digits only) for an ISBN-10 or ISBN-13 written in any usual way:
    hyphens or spaces, an "ISBN" label, full-width digits, a scanned EAN-13 with a
    price add-on. Raises IsbnError saying what is wrong.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip().upper()
    text = re.sub(r"^ISBN(?:-1[03])?[\s:：]*", "", text)
    if not text:
        raise IsbnError("ISBN 为空")
    if not re.fullmatch(r"[0-9X][0-9X\s\-]*", text):
        raise IsbnError("ISBN 只能包含数字、X 和连字符")
    digits = re.sub(r"[\s\-]", "", text)
    if len(digits) in _ADDON_LENGTHS and digits.isdigit() and isbnlib.is_isbn13(digits[:13]):
        digits = digits[:13]
    if len(digits) == 13:
        if not digits.isdigit():
            raise IsbnError("ISBN-13 只能由数字组成")
        if not digits.startswith(("978", "979")):
            raise IsbnError("ISBN-13 应以 978 或 979 开头")
        if not isbnlib.is_isbn13(digits):
            raise IsbnError("ISBN 校验位不正确")
        return digits
    if len(digits) == 10:
        if not isbnlib.is_isbn10(digits):
            raise IsbnError("ISBN 校验位不正确")
        return str(isbnlib.to_isbn13(digits))
    raise IsbnError(f"ISBN 应为 10 位或 13 位（现为 {len(digits)} 位）")


def title_id_for_code(raw: str) -> str:
    """The title id a scanned or typed code denotes: an internal id (any case) or an
    ISBN in any form. Raises IsbnError if it is neither."""
    text = unicodedata.normalize("NFKC", raw or "").strip().upper()
    if is_internal_id(text):
        return text
    return to_isbn13(text)


def hyphenated(isbn13: str) -> str:
    """ISBN-13 with hyphens where the range is known (for display), else unchanged."""
    return isbnlib.mask(isbn13) or isbn13
