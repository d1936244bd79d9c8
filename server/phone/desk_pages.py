"""The desk pages of one room: 借书, 还书, 续借, 阅览登记, 今日借还, 逾期, 收货, 盘点, 本机记录.

The pages that write are a form and a script (``static/phone/desk.js`` and
``pages.js``): every write goes to the phone's own log first and then to
``/m/api/…`` (or waits there for ``/m/sync`` while offline). The two lists are
rendered here, so they open with one request on a slow line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.circulation import service as circulation
from server.circulation.models import RoomLoanQuery
from server.errors import FieldProblem, InvalidInput
from server.phone import desk
from server.phone.base import DeskPage
from server.phone.desk_handlers import STOCK_WRITERS
from server.staff.roles import PHONE, Role

OVERDUE_PAGE = 30


@dataclass(frozen=True)
class Tile:
    page: str
    label: str
    hint: str
    roles: frozenset[Role]


# The home page's tiles, in the order an administrator reaches for them.
TILES = (
    Tile("lend", "借书", "扫读者证和书", PHONE),
    Tile("return", "还书", "扫书即还", PHONE),
    Tile("renew", "续借", "延长借期", PHONE),
    Tile("inroom", "阅览登记", "馆内看书报", PHONE),
    Tile("today", "今日借还", "今天的记录", PHONE),
    Tile("overdue", "逾期", "到期未还", PHONE),
    Tile("receive", "收货", "新书到馆", STOCK_WRITERS),
    Tile("stocktake", "盘点", "清点藏书", STOCK_WRITERS),
)


class LendPage(DeskPage):
    template, page, heading = "phone/lend.html", "lend", "借书"


class ReturnPage(DeskPage):
    template, page, heading = "phone/return.html", "return", "还书"


class RenewPage(DeskPage):
    template, page, heading = "phone/renew.html", "renew", "续借"


class InRoomPage(DeskPage):
    template, page, heading = "phone/inroom.html", "inroom", "阅览登记"


class LogPage(DeskPage):
    template, page, heading = "phone/log.html", "log", "本机记录"


class ReceivePage(DeskPage):
    roles = STOCK_WRITERS
    template, page, heading = "phone/receive.html", "receive", "收货"


class StocktakePage(DeskPage):
    roles = STOCK_WRITERS
    template, page, heading = "phone/stocktake.html", "stocktake", "盘点"


class TodayPage(DeskPage):
    template, page, heading = "phone/today.html", "today", "今日借还"

    async def page_context(self, room: dict[str, Any]) -> dict[str, Any]:
        return {"today": await desk.today(self.deps, self.me, room["code"])}


class OverduePage(DeskPage):
    template, page, heading = "phone/overdue.html", "overdue", "逾期未还"

    async def page_context(self, room: dict[str, Any]) -> dict[str, Any]:
        cursor = self.get_query_argument("cursor", None)
        if cursor is not None and len(cursor) > 200:
            raise InvalidInput("翻页参数有误", code="bad_cursor", errors=[FieldProblem(("query", "cursor"), "太长")])
        loans = await circulation.room_loans(self.deps, self.me, room["code"],
                                             RoomLoanQuery(overdue=True, cursor=cursor, limit=OVERDUE_PAGE))
        return {"loans": loans, "first_page": cursor is None}


routes = [
    (rf"/m/rooms/(?P<code>[A-Za-z0-9-]+)/{cls.page}", cls)
    for cls in (LendPage, ReturnPage, RenewPage, InRoomPage, TodayPage, OverduePage, ReceivePage, StocktakePage,
                LogPage)
]
