"""Evidence pages: the records behind each computed metric (console, ``/console/ratings/evidence/…``)
and their JSON twin (``/api/v1/ratings/evidence/<room>/<metric>``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.console.handlers import ConsolePage
from server.dates import IsoDate
from server.staff.roles import CONSOLE
from server.web.api import ApiHandler, endpoint
from training.ratings.metrics import evidence


class EvidenceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: IsoDate | None = Field(None, alias="from", description="first local day (default: 1 January)")
    to: IsoDate | None = Field(None, description="last local day (default: today or 31 December)")


class EvidenceApiQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: IsoDate | None = Field(None, description="first local day (default: 1 January)")
    until: IsoDate | None = Field(None, description="last local day (default: today or 31 December)")
    metric: str = Field("loans", pattern=r"^[a-z_]{2,40}$", description="a metric key, e.g. loans, opening_days_ratio")


class EvidenceOut(BaseModel):
    kind: str = Field(description="holdings, loans, opening, activities, stocktake, survey or training")
    key: str
    label: str
    room: dict[str, Any]
    period: dict[str, Any]
    metric: dict[str, Any] | None = Field(description="the figure as computed for the period")
    records: dict[str, Any] = Field(description="the records behind it (no reader identity)")


_HEAD = {"kind", "key", "label", "room", "period", "metric"}


class EvidenceHandler(ApiHandler):
    @endpoint(summary="评选指标的依据（借阅不含读者身份）", roles=CONSOLE, query=EvidenceApiQuery,
              response=EvidenceOut, tags=["ratings"], errors=(403, 404, 422))
    async def get(self, code: str, *, query: EvidenceApiQuery) -> EvidenceOut:
        data = await evidence.room_evidence(self.deps, self.me, code, query.metric, query.since, query.until,
                                            loc=("query", "metric"))
        return EvidenceOut(**{k: data.get(k) for k in _HEAD},
                           records={k: v for k, v in data.items() if k not in _HEAD})


def _clean_query(page: ConsolePage) -> EvidenceQuery:
    page.request.query_arguments = {k: v for k, v in page.request.query_arguments.items() if v and v[-1].strip()}
    return page.parse_query(EvidenceQuery)


class EvidencePage(ConsolePage):
    roles = CONSOLE

    async def get(self, code: str, key: str) -> None:
        query = _clean_query(self)
        data = await evidence.room_evidence(self.deps, self.me, code, key, query.from_, query.to)
        self.render_page("console/ratings/evidence.html", ev=data)


class FamilyEvidencePage(ConsolePage):
    roles = CONSOLE

    async def get(self, entry_id: str, key: str) -> None:
        query = _clean_query(self)
        data = await evidence.family_evidence(self.deps, self.me, entry_id, key, query.from_, query.to)
        self.render_page("console/ratings/evidence_family.html", ev=data)


KEY = r"(?P<key>[a-z_]+)"
routes = [
    (r"/api/v1/ratings/evidence/(?P<code>[A-Za-z0-9-]+)", EvidenceHandler),
]
pages = [
    (rf"/console/ratings/evidence/family/(?P<entry_id>[^/]+)/{KEY}", FamilyEvidencePage),
    (rf"/console/ratings/evidence/(?P<code>[A-Za-z0-9-]+)/{KEY}", EvidencePage),
]
