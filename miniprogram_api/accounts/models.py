"""Mini-program accounts and the family members they speak for: API schemas.

An *account* is one WeChat user (one openid). A *member* is a person the account
acts for: the account holder ("self") and the children a guardian adds ("child").
A member may be linked to a library card (``readers``) once they ask for one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.readers.models import GuardianRelation, OpId, PersonName
from server.staff.models import RoomCode

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

# The published rules for children's personal information (PIPL art. 31). A guardian
# consents to one version; when the text changes, the version changes.
CHILD_RULES_VERSION = "2026.1"
CONSENT_CHANNEL_MINIPROGRAM = "miniprogram"

WxCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                          pattern=r"^[A-Za-z0-9_\-]+$")]
SchoolName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
ClassName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Relation = Literal["self", "child"]


class LoginIn(BaseModel):
    """The code from ``wx.login()``: one-time, valid for five minutes."""

    model_config = STRICT

    code: WxCode


class ConsentOut(BaseModel):
    version: str
    signed_at: datetime
    channel: str = Field(description='"miniprogram" (the guardian\'s own WeChat) or "desk"')
    withdrawn_at: datetime | None = None


class MemberOut(BaseModel):
    """A person the account acts for. The account holder sees their own family in full."""

    id: str
    relation: Relation
    name: str
    birth_year: int
    birth_date: date | None = None
    child: bool = Field(description="under 14 today (PIPL)")
    home_room: str
    home_room_name: str | None = None
    school: str | None = None
    class_name: str | None = None
    guardian_relation: str | None = Field(None, description="the account holder's relation to a child")
    consent: ConsentOut | None = None
    card_no: str | None = Field(None, description="借阅证号 once the member has a library card")
    public_board: bool = Field(description="shown (masked) on public leaderboards")
    history_enabled: bool = Field(description="keep my reading history")
    status: Literal["active", "withdrawn"] = Field(
        description="withdrawn: the guardian withdrew consent; the data is erased after the retention period")
    erase_after: datetime | None = None


class AccountOut(BaseModel):
    id: str
    has_unionid: bool
    created_at: datetime
    members: list[MemberOut]


class SessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; keep it, never the code")
    expires_at: datetime
    new_account: bool
    account: AccountOut


class ProfileIn(BaseModel):
    """The account holder's own profile (14 or older: a child is added by a guardian)."""

    model_config = STRICT

    name: PersonName
    birth_year: int = Field(ge=1900, le=2100)
    home_room: RoomCode = Field(description="my reading room (from its QR code or chosen from the list)")
    school: SchoolName | None = None
    class_name: ClassName | None = None


class ChildConsentIn(BaseModel):
    """The guardian's separate consent, given on the consent screen of the mini-program."""

    model_config = STRICT

    version: Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,20}$")] = Field(
        description=f"the version of the children's rules shown (current: {CHILD_RULES_VERSION})")
    agreed: Literal[True] = Field(description="true: the guardian agreed; refusing means no child profile")


class ChildIn(BaseModel):
    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")
    name: PersonName
    birth_year: int = Field(ge=1900, le=2100)
    birth_date: date | None = None
    home_room: RoomCode
    school: SchoolName | None = None
    class_name: ClassName | None = None
    relation: GuardianRelation = Field(description="the account holder's relation to the child")
    consent: ChildConsentIn


class MemberUpdate(BaseModel):
    """Absent fields stay; ``null`` clears school or class."""

    model_config = STRICT

    name: PersonName | None = None
    home_room: RoomCode | None = None
    school: SchoolName | None = None
    class_name: ClassName | None = None
    public_board: bool | None = None
    history_enabled: bool | None = None


class WithdrawIn(BaseModel):
    model_config = STRICT

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class CardIn(BaseModel):
    """The code from the phone-number button (``getPhoneNumber``); for a child, the guardian's number."""

    model_config = STRICT

    phone_code: WxCode


class CardOut(BaseModel):
    member_id: str
    card_no: str
    qr_text: str = Field(description="what the card's QR code encodes (the administrator's phone scans it)")
    linked_existing: bool = Field(description="true when an existing desk card with this phone was linked")
    phone: str = Field(description="masked")


class RulesSection(BaseModel):
    heading: str
    text: str


class ChildRules(BaseModel):
    """The children's personal information rules shown before a guardian consents."""

    version: str
    title: str
    sections: list[RulesSection] = Field(description="in plain Chinese")
    retention_days: int
    contact: str


class ExportOut(BaseModel):
    """Everything shuwu keeps about this account and its family (PIPL art. 45)."""

    exported_at: datetime
    account: dict[str, object]
    members: list[dict[str, object]]
    data: dict[str, object] = Field(description="by part: loans, holds, suggestions, challenges, contest, notifications")


class ErasedOut(BaseModel):
    erased_members: int
    detail: str


class RoomBrief(BaseModel):
    code: str
    name: str
    kind: str
    town: str
    town_name: str | None = None
    village: str | None = None
    address: str | None = None
    lat: float | None = None
    lng: float | None = None
    distance_km: float | None = None


class RoomList(BaseModel):
    items: list[RoomBrief]


class RoomQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    town: Annotated[str, StringConstraints(max_length=10)] | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = Field(
        None, description="part of the room's name or village")
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    limit: int = Field(30, ge=1, le=200)
