"""Catalog: API schemas and the validated input of one title.

``TitleInput`` is the one validator of a title's fields, used by the JSON API
(create) and by every import row, so a value the API refuses is refused by an
import with the same message.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from server.catalog.classification import Category, normalize_clc
from server.catalog.isbn import IsbnError, to_isbn13
from server.staff.models import RoomCode

TitleFormat = Literal["book", "periodical", "audio_visual"]
FORMAT_LABELS: Final[dict[str, str]] = {"book": "图书", "periodical": "报刊", "audio_visual": "音像制品"}
MatchKind = Literal["code", "exact", "prefix", "anywhere", "author", "author_anywhere", "list"]

# Provincial-level divisions, short names (a publisher's seat, for the ≤30% own-province rule).
PROVINCES: Final[tuple[str, ...]] = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州",
    "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆", "香港", "澳门", "台湾",
)
_PROVINCE_SUFFIX = re.compile(r"(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)$")

TitleText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
MAX_PRICE_CENTS = 10_000_00  # ¥10,000: more than any reading-room item costs
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


def parse_price_cents(value: Any) -> int | None:
    """Cents from 35, 35.5, "35.00", "￥35.00", "CNY35.00", "35元" (the first amount in the text)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("价格应为金额，如 35.00")
    if isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
    else:
        text = str(value).strip().upper().replace("，", "").replace(",", "")
        if re.search(r"-\s*\d", text):
            raise ValueError("价格不能为负数")
        match = re.search(r"\d+(?:\.\d+)?", text)
        if not match:
            raise ValueError(f"“{text[:20]}” 不是金额，应如 35.00")
        amount = Decimal(match.group())
    try:
        cents = (amount * 100).quantize(Decimal(1))
    except InvalidOperation:
        raise ValueError("价格不是有效的金额") from None
    if amount != amount or cents < 0:
        raise ValueError("价格不能为负数")
    if cents > MAX_PRICE_CENTS:
        raise ValueError(f"价格超过 {MAX_PRICE_CENTS // 100} 元，请核对")
    return int(cents)


def normalize_province(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    short = _PROVINCE_SUFFIX.sub("", value.strip())
    if short not in PROVINCES:
        raise ValueError(f"“{value.strip()[:10]}” 不是省级行政区名称")
    return short


class TitleFields(BaseModel):
    """The editable fields of a title, shared by create, update and import."""

    model_config = STRICT

    title: TitleText | None = None
    author: OptionalText | None = Field(None, description="责任者, e.g. 吴承恩 著")
    publisher: OptionalText | None = None
    year: int | None = Field(None, ge=1800, le=2100, description="publication year")
    clc: str | None = Field(None, max_length=40, description="中图法 class code, e.g. I242.4")
    category: Category | None = Field(None, description="six-class category; derived from clc when absent")
    children: bool | None = Field(None, description="a children's title (category 少儿 whatever its class)")
    format: TitleFormat | None = None
    price_cents: int | None = Field(None, ge=0, le=MAX_PRICE_CENTS, description="list price in fen (yuan × 100)")
    list_year: int | None = Field(None, ge=2000, le=2100, description="year of the 推荐目录 the title is on")
    publisher_province: str | None = Field(None, max_length=12, description="short name, e.g. 天津")

    @field_validator("clc", mode="before")
    @classmethod
    def _clc(cls, value: Any) -> str | None:
        return normalize_clc(str(value)) if value is not None else None

    @field_validator("publisher_province", mode="before")
    @classmethod
    def _province(cls, value: Any) -> str | None:
        return normalize_province(str(value)) if value is not None else None

    @field_validator("author", "publisher", mode="after")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class TitleInput(TitleFields):
    """A new title (JSON create, or one import row after parsing)."""

    isbn: str | None = Field(None, max_length=40, description="ISBN-10 or ISBN-13 in any usual form; stored as ISBN-13")
    title: TitleText
    format: TitleFormat = "book"
    children: bool = False

    @field_validator("isbn", mode="before")
    @classmethod
    def _isbn(cls, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError("ISBN 应为文本")
        try:
            return to_isbn13(value)
        except IsbnError as exc:
            raise ValueError(str(exc)) from None


class TitleUpdate(TitleFields):
    """Fields to change; absent fields stay, null clears an optional one. The ISBN and
    the title id never change (they are the title's identity)."""


class TitleOut(BaseModel):
    title_id: str = Field(description="ISBN-13, or SW + 11 digits for items without an ISBN")
    isbn: str | None = None
    title: str
    author: str | None = None
    publisher: str | None = None
    year: int | None = None
    clc: str | None = None
    category: Category
    children: bool = False
    format: TitleFormat
    price_cents: int | None = None
    list_year: int | None = None
    publisher_province: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class TitleHit(TitleOut):
    match: MatchKind = Field(description="why it was found: code, exact, prefix, anywhere (title), author, list")
    on_shelf_here: int | None = Field(None, description="copies on the shelf in the requested room")
    rooms_on_shelf: int = Field(description="rooms with at least one copy on the shelf")


class TitlePage(BaseModel):
    items: list[TitleHit]
    next_cursor: str | None = None
    room: str | None = None


class TitleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = Field(
        None, description="汉字 from the title or author, full pinyin, pinyin initials, an ISBN or its last 4+ digits")
    room: RoomCode | None = Field(None, description="report copies on the shelf in this room")
    format: TitleFormat | None = None
    category: Category | None = None
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200)


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, description="check and report only; write nothing")


class RejectedRow(BaseModel):
    row: int = Field(description="spreadsheet row number (header = 1), or record number for MARC")
    reason: str = Field(description="every problem with the row, in Chinese")
    fields: dict[str, str] = Field(default_factory=dict, description="field → problem")
    title: str | None = Field(None, description="the row's title, if it had one, to find it")


class MergedDuplicate(BaseModel):
    title_id: str | None = Field(None, description="the ISBN-13 or internal id (None for a new item without ISBN)")
    title: str
    rows: list[int] = Field(description="rows folded into one title, in file order")
    existing: bool = Field(description="the title was already in the catalog (its record is updated)")


class ImportReport(BaseModel):
    dry_run: bool
    file_format: Literal["csv", "xlsx", "marc"]
    rows: int = Field(description="data rows (or records) read")
    accepted: int = Field(description="rows that will be / were applied")
    rejected: list[RejectedRow]
    created: int = Field(description="new titles")
    updated: int = Field(description="existing titles changed")
    unchanged: int = Field(description="existing titles the file did not change")
    merged: list[MergedDuplicate] = Field(description="rows that named a title twice or a title already catalogued")
    ignored_columns: list[str] = Field(default_factory=list, description="column headers not recognised")
