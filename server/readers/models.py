"""Readers (借阅证持有人): API schemas and the pure rules about age, ID numbers and masking.

Personal data never leaves in the clear: phones and ID numbers are masked in
every schema here (the service decrypts only to mask).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from server.crypto import normalise_phone
from server.idempotency import OP_ID_PATTERN
from server.staff.models import RoomCode

# PIPL: a child is under 14; a child's account needs a guardian's separate consent.
CHILD_AGE_YEARS = 14
CONSENT_CHANNEL_DESK = "desk"

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
OpId = Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
GuardianRelation = Literal["父亲", "母亲", "祖父", "祖母", "外祖父", "外祖母", "其他监护人"]
CARD_PATTERN = r"^[A-Z]{2,4}\d{8}$"


def _phone(value: object) -> object:
    return normalise_phone(value) if isinstance(value, str) else value


# "+86 138-0013-8000" and "13800138000" are the same number: normalised before the check,
# so the blind index of one equals the blind index of the other.
Phone = Annotated[str, BeforeValidator(_phone), StringConstraints(pattern=r"^1[3-9]\d{9}$")]
CardNo = Annotated[str, BeforeValidator(lambda v: v.strip().upper().replace(" ", "") if isinstance(v, str) else v),
                   StringConstraints(pattern=CARD_PATTERN)]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_birth_date(number: str) -> date:
    """The birth date encoded in an 18-character resident ID number (ValueError if none)."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def _id_number(value: str) -> str:
    # GB 11643: 17 digits and an ISO 7064 MOD 11-2 check character. Messages never echo the number.
    number = value.replace(" ", "").upper()
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise ValueError("身份证号应为 18 位（最后一位可以是 X）")
    if _ID_CHECK[sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True)) % 11] != number[17]:
        raise ValueError("身份证号校验位不正确，请核对")
    try:
        id_number_birth_date(number)
    except ValueError:
        raise ValueError("身份证号中的出生日期无效") from None
    return number


IdNumber = Annotated[str, StringConstraints(strip_whitespace=True, max_length=24), AfterValidator(_id_number)]


def mask_id_number(number: str) -> str:
    """1201**********1234: region prefix and last four stay, the birth date never shows."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:] if len(number) > 8 else "*" * len(number)


def youngest_possible_age(birth_year: int, birth_date: date | None, today: date) -> int:
    """Age in whole years on ``today``; with only a year, the youngest the person can be."""
    if birth_date is not None:
        return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    # Born some day in birth_year: until their birthday this year they are one younger.
    return today.year - birth_year - 1


def is_child(birth_year: int, birth_date: date | None, today: date) -> bool:
    """Under 14 (PIPL). With only a birth year, anyone who may still be 13 counts as a child."""
    return youngest_possible_age(birth_year, birth_date, today) < CHILD_AGE_YEARS


class GuardianIn(BaseModel):
    model_config = STRICT

    name: PersonName
    phone: Phone
    relation: GuardianRelation


class ConsentIn(BaseModel):
    """The guardian's separate consent, signed at the desk (paper form or the phone screen)."""

    model_config = STRICT

    version: Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,20}$")] = Field(
        description="version of the published children's privacy rules the guardian agreed to")
    agreed: Literal[True] = Field(description="must be true: the guardian agreed; a refusal means no account")
    signed_at: datetime | None = Field(None, description="when the guardian signed (default: now)")


class ReaderCreate(BaseModel):
    """A walk-in reader registered at a room's desk. A child (under 14) needs ``guardian`` and ``consent``."""

    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")
    name: PersonName
    phone: Phone | None = Field(None, description="required for readers 14 and over; a child may use the guardian's")
    birth_year: int | None = Field(None, ge=1900, le=2100)
    birth_date: date | None = None
    home_room: RoomCode = Field(description="the registering room")
    id_number: IdNumber | None = Field(None, description="resident ID, only when needed; stored encrypted")
    guardian: GuardianIn | None = None
    consent: ConsentIn | None = None

    @model_validator(mode="after")
    def _birth(self) -> ReaderCreate:
        check_birth(self.birth_year, self.birth_date, self.id_number, required=True)
        return self


def check_birth(birth_year: int | None, birth_date: date | None, id_number: str | None, *, required: bool) -> None:
    if birth_date is not None and birth_year is not None and birth_date.year != birth_year:
        raise ValueError("出生年份与出生日期不一致")
    if id_number is not None:
        born = id_number_birth_date(id_number)
        if (birth_date is not None and birth_date != born) or (birth_year is not None and birth_year != born.year):
            raise ValueError("出生日期与身份证号不一致")
    if required and birth_year is None and birth_date is None and id_number is None:
        raise ValueError("请填写出生年份（birth_year）或出生日期（birth_date）")


class ReaderUpdate(BaseModel):
    """Fields to change; absent fields stay. ``null`` clears phone, ID number or guardian.

    A new ``consent`` replaces the old record. ``home_room`` moves the reader (within the caller's scope).
    """

    model_config = STRICT

    name: PersonName | None = None
    phone: Phone | None = None
    birth_year: int | None = Field(None, ge=1900, le=2100)
    birth_date: date | None = None
    id_number: IdNumber | None = None
    guardian: GuardianIn | None = None
    consent: ConsentIn | None = None
    home_room: RoomCode | None = None


class BlockIn(BaseModel):
    model_config = STRICT

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]


class UnblockIn(BaseModel):
    model_config = STRICT

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class GuardianOut(BaseModel):
    name: str
    phone: str = Field(description="masked, e.g. 138****5678")
    relation: str


class ConsentOut(BaseModel):
    version: str
    signed_at: datetime
    recorded_at: datetime
    channel: str = Field(description='"desk" for consent taken at a room\'s desk')
    recorded_by: str = Field(description="username of the staff member who recorded it")
    room: str


class OpenLoans(BaseModel):
    book: int = 0
    audio_visual: int = 0


class ReaderOut(BaseModel):
    id: str
    card_no: str = Field(description="借阅证号, encoded in the card's QR code")
    name: str
    phone: str | None = Field(None, description="masked")
    id_number: str | None = Field(None, description="masked, e.g. 1201**********1234")
    birth_year: int
    birth_date: date | None = None
    child: bool = Field(description="under 14 today (PIPL)")
    home_room: str
    guardian: GuardianOut | None = None
    consent: ConsentOut | None = None
    blocked: bool
    blocked_reason: str | None = None
    open_loans: OpenLoans
    created_at: datetime


class ReaderRegistered(BaseModel):
    op_id: str
    replayed: bool = Field(description="true when this op_id had already been applied; nothing changed")
    reader: ReaderOut


class ReaderPage(BaseModel):
    items: list[ReaderOut]
    next_cursor: str | None = None


class ReaderQuery(BaseModel):
    """Find readers. ``card`` or ``phone`` finds anyone in the district (one card for the
    whole district); browsing by ``name`` prefix or ``room`` stays within the caller's rooms."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    card: CardNo | None = None
    phone: Phone | None = Field(None, description="the full number; also finds children by a guardian's phone")
    name: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        None, description="beginning of the name")
    room: RoomCode | None = Field(None, description="home room")
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)

    @model_validator(mode="after")
    def _one_way(self) -> ReaderQuery:
        exact = [n for n in ("card", "phone") if getattr(self, n) is not None]
        browse = [n for n in ("name", "room", "cursor") if getattr(self, n) is not None]
        if len(exact) > 1 or (exact and browse):
            raise ValueError("借阅证号、手机号、姓名只能选一种方式查找")
        return self


class ReaderBrief(BaseModel):
    """Who a loan or hold belongs to, as lists show it: card number and masked name."""

    id: str
    card_no: str
    name: str = Field(description="masked, e.g. 张**")
