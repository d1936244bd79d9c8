"""Training certificates (培训证书): API schemas and the public verification view."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from server.sheet_import import DryRunQuery, ImportReport

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
KIND_LABELS = {"induction": "岗前培训", "refresher": "年度轮训", "topic": "专题培训"}
LEVEL_LABELS = {"district": "区级", "city": "市级"}
SOURCE_LABELS = {"system": "系统颁发", "history": "历史记录"}
NUMBER_PREFIX = "JNPX"
NUMBER_PATTERN = r"^JNPX-\d{4}-\d{4,}$"

ObjectIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
Kind = Literal["induction", "refresher", "topic"]
Level = Literal["district", "city"]


def certificate_number(year: int, seq: int) -> str:
    """JNPX-2026-0001: the year it was issued and its place in that year (4 digits, more after 9999)."""
    return f"{NUMBER_PREFIX}-{year}-{seq:04d}"


class CertificateOut(BaseModel):
    number: str
    course_id: str | None
    course_code: str
    course_title: str
    hours: float
    level: Level
    level_label: str
    kind: Kind
    kind_label: str
    staff_id: str | None
    username: str | None
    name: str
    rooms: list[str]
    issued_on: date
    issued_at: datetime
    source: Literal["system", "history"]
    revoked: bool
    revoked_reason: str | None
    verify_url: str = Field(description="the public verification page printed as a QR code on the certificate")


class CertificateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: ObjectIdText | None = None
    course_id: ObjectIdText | None = None
    year: int | None = Field(None, ge=2000, le=2100, description="year of issue")
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = Field(
        None, description="part of the holder's name or the certificate number")
    source: Literal["system", "history"] | None = None
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class CertificatePage(BaseModel):
    items: list[CertificateOut]
    next_cursor: str | None


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course_id: ObjectIdText | None = None
    year: int | None = Field(None, ge=2000, le=2100)
    source: Literal["system", "history"] | None = None


class IssueIn(BaseModel):
    model_config = STRICT

    course_id: ObjectIdText | None = Field(None, description="only this course; all courses when left out")


class IssueOut(BaseModel):
    issued: list[CertificateOut]


class RevokeIn(BaseModel):
    model_config = STRICT

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]


class PublicCertificate(BaseModel):
    """Exactly what the public verification page shows: nothing about rooms, phones or accounts."""

    number: str
    name: str
    course_title: str
    hours: float
    level_label: str
    issued_on: date
    valid: bool
    revoked_reason: str | None


# -- requirements --------------------------------------------------------------------------


class RequirementsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(None, ge=2000, le=2100, description="the calendar year (default: this year)")


class AdministratorStatus(BaseModel):
    staff_id: str
    username: str
    name: str
    rooms: list[str]
    inducted: bool
    induction_number: str | None
    hours_in_year: float
    refresher_met: bool


class RoomAdministrator(BaseModel):
    staff_id: str
    name: str
    inducted: bool


class RoomWithoutInduction(BaseModel):
    room: str
    name: str
    town: str
    administrators: list[RoomAdministrator] = Field(description="empty: the room has no administrator at all")


class RequirementsOut(BaseModel):
    year: int
    refresher_hours: float = Field(description="hours each administrator must complete in the year (0: none)")
    administrators: list[AdministratorStatus]
    inducted: int
    refresher_met: int
    rooms_without_induction: list[RoomWithoutInduction] = Field(
        description="active rooms whose administrators have not all completed the induction course")
    rooms_without_administrator: list[RoomWithoutInduction]


# -- history import ---------------------------------------------------------------------------


HistoryQuery = DryRunQuery




class HistoryReport(ImportReport):
    created: int = 0
    already_there: int = Field(0, description="rows already imported before (same name, course and date)")
    matched_to_staff: int = 0
