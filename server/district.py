"""The district a deployment serves: its towns, their codes and its bounding box.

Plain data, no I/O. The default is Jinnan District, Tianjin (DOMAIN.md); another
district supplies its own through ``SHUWU_DISTRICT`` (JSON of the same shape).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

ROOM_KINDS = ("农家书屋", "社区书吧", "分馆", "流动服务点")


class Town(BaseModel):
    """A town (镇) or street (街道) of the district; ``code`` is the middle part of a room code."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Full Chinese name, e.g. 咸水沽镇")
    code: str = Field(pattern=r"^[A-Z]{2,4}$", description="Upper-case pinyin initials, e.g. XSG")
    kind: str = Field(default="镇", description="镇 or 街道")
    # Rough centre used by demo data and maps; not a validation boundary.
    lat: float
    lng: float


class BoundingBox(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float

    def contains(self, lat: float, lng: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lng <= lng <= self.max_lng


class RoomStandards(BaseModel):
    """District defaults a room is checked against (DOMAIN.md, "A room")."""

    model_config = ConfigDict(frozen=True)

    min_area_m2: float = 20
    min_open_days: int = 5
    min_daily_hours: float = 4
    min_volumes: int = Field(1500, ge=0, description="books held (册)")
    min_titles: int = Field(500, ge=0, description="book titles held (种)")
    min_periodicals: int = Field(30, ge=0, description="kinds of newspapers and periodicals (报刊)")
    min_audio_visual: int = Field(100, ge=0, description="audio-visual items (电子音像制品)")


class PlanTargets(BaseModel):
    """The district plan's indicators (DOMAIN.md, "The network") the console measures against."""

    model_config = ConfigDict(frozen=True)

    volumes_per_resident: float = Field(1.2, ge=0, description="books held per resident served")
    new_volumes_per_resident: float = Field(0.03, ge=0, description="new books per resident served per year")
    average_price_fen: int = Field(3500, ge=0, description="average price of a book, in fen")
    population: int = Field(930_000, ge=0, description="residents of the whole district (常住人口)")


class LendingRules(BaseModel):
    """District lending defaults (DOMAIN.md, "Lending")."""

    model_config = ConfigDict(frozen=True)

    max_books: int = Field(5, ge=0, description="books a reader may have out at once")
    max_audio_visual: int = Field(2, ge=0, description="audio-visual items a reader may have out at once")
    loan_days: int = Field(10, ge=1)
    max_renewals: int = Field(1, ge=0)
    periodicals_in_room_only: bool = True
    hold_pickup_days: int = Field(7, ge=1, description="days a held copy waits for its reader")
    block_when_overdue: bool = Field(True, description="no new loans while the reader has an overdue item")
    loan_record_retention_days: int = Field(
        365, ge=30, description="closed loans keep the reader's identity this long, then are anonymised"
    )


class Site(BaseModel):
    """A named place of the district (e.g. the library, the depot of book deliveries)."""

    model_config = ConfigDict(frozen=True)

    name: str
    lat: float
    lng: float


class District(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    code: str = Field(pattern=r"^[A-Z]{2,4}$", description="Prefix of every room code, e.g. JN")
    bbox: BoundingBox
    towns: tuple[Town, ...]
    standards: RoomStandards = RoomStandards()
    lending: LendingRules = LendingRules()
    plan: PlanTargets = PlanTargets()
    library: Site | None = Field(None, description="the district library: where delivery trucks start and end")

    @model_validator(mode="after")
    def _unique_towns(self) -> District:
        names = [t.name for t in self.towns]
        codes = [t.code for t in self.towns]
        if len(set(names)) != len(names) or len(set(codes)) != len(codes):
            raise ValueError("town names and codes must be unique")
        return self

    def town(self, name: str) -> Town | None:
        return next((t for t in self.towns if t.name == name), None)

    @property
    def room_code_pattern(self) -> str:
        return rf"^{self.code}-[A-Z]{{2,4}}-\d{{3}}$"


JINNAN = District(
    name="天津市津南区",
    code="JN",
    library=Site(name="津南区图书馆", lat=38.987, lng=117.383),
    bbox=BoundingBox(min_lat=38.78, max_lat=39.12, min_lng=117.18, max_lng=117.62),
    towns=(
        Town(name="咸水沽镇", code="XSG", lat=38.988, lng=117.380),
        Town(name="葛沽镇", code="GG", lat=38.893, lng=117.494),
        Town(name="小站镇", code="XZ", lat=38.853, lng=117.382),
        Town(name="双港镇", code="SG", lat=39.032, lng=117.297),
        Town(name="辛庄镇", code="XZZ", lat=39.018, lng=117.352),
        Town(name="双桥河镇", code="SQH", lat=38.955, lng=117.443),
        Town(name="八里台镇", code="BLT", lat=38.935, lng=117.300),
        Town(name="北闸口镇", code="BZK", lat=38.912, lng=117.415),
        Town(name="双林街道", code="SL", kind="街道", lat=39.058, lng=117.318),
        Town(name="海棠街道", code="HT", kind="街道", lat=38.975, lng=117.355),
    ),
)
