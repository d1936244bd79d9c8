"""Console pages: log-in, the rooms list with a district map, a room's page, offline-sync conflicts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from urllib.parse import urlencode

from server.activities import service as activities_service
from server.activities.models import RoomActivityQuery
from server.circulation import offline
from server.circulation.offline_models import ConsoleConflictQuery, ResolveIn
from server.circulation.offline_plan import when
from server.console.maps import KIND_CLASSES, district_map
from server.district import ROOM_KINDS
from server.rooms import service as rooms_service
from server.rooms.models import WEEKDAY_LABELS, WEEKDAYS, RoomOut, RoomQuery
from server.staff.roles import CONSOLE, DISTRICT, PHONE, Role
from server.web.login import LoginPageBase, LogoutBase
from server.web.pages import PageHandler
from server.web.templating import LOCAL_TZ
from training.certificates.requirements import training_status

# The map shows every room matching the filters, up to this many (one query).
MAP_MAX_ROOMS = 200
STATUS_LABELS = {"active": "启用", "inactive": "停用"}
# Short labels for the table's warning tags, by how the warning text begins
# (server.rooms.models.check_standards); the full text is the tag's tooltip.
_WARNING_LABELS = (("面积", "面积不足"), ("每周", "开放天数不足"), ("最短", "开放时长不足"))


def warning_tags(room: RoomOut) -> list[tuple[str, str]]:
    """(short label, full warning) for each standard ``room`` falls short of."""
    return [(next((label for prefix, label in _WARNING_LABELS if w.startswith(prefix)), "未达标"), w)
            for w in room.standards.warnings]


def room_list_link(query: RoomQuery, **changes: str | None) -> str:
    """The rooms list URL for ``query`` with ``changes`` applied (None drops a parameter)."""
    params = {"town": query.town, "kind": query.kind, "status": query.status, "q": query.q} | changes
    encoded = urlencode({k: v for k, v in params.items() if v})
    return f"/console/rooms?{encoded}" if encoded else "/console/rooms"


class ConsolePage(PageHandler):
    roles: frozenset[Role] | None = CONSOLE
    area = "console"
    login_url = "/console/login"
    home_url = "/console/"


class LoginPage(ConsolePage, LoginPageBase):
    roles = None
    allowed = CONSOLE
    template = "console/login.html"
    wrong_place_message = "该账号是书屋管理员账号，请在手机上打开 /m/ 登录书屋管理员页面"


class LogoutPage(ConsolePage, LogoutBase):
    roles = None


class RoomsPage(ConsolePage):
    async def get(self) -> None:
        # The filter form sends every field; an empty one means "all", not an invalid value.
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if v and v[-1].strip()}
        query = self.parse_query(RoomQuery)
        page = await rooms_service.list_rooms(self.deps, self.me, query)
        # The map shows every room in scope, whatever page of the table is open.
        everything = await rooms_service.list_rooms(
            self.deps, self.me,
            RoomQuery(town=query.town, kind=query.kind, status=query.status, q=query.q, cursor=None, limit=MAP_MAX_ROOMS),
        )
        district = self.deps.settings.district
        by_town = Counter(r.town for r in everything.items)
        self.render_page(
            "console/rooms.html", page=page, query=query, kinds=ROOM_KINDS, kind_classes=KIND_CLASSES,
            status_labels=STATUS_LABELS, warning_tags=warning_tags,
            map=district_map(district, everything.items, width=468),
            map_capped=everything.total > len(everything.items),
            town_counts=[(t.name, by_town.get(t.name, 0)) for t in district.towns],
            town_max=max(by_town.values(), default=0),
            demo_count=sum(1 for r in everything.items if r.demo),
            filtered=any((query.town, query.kind, query.status, query.q)),
            link=lambda **changes: room_list_link(query, **changes),
            first_page=query.cursor is None,
        )


class RoomPage(ConsolePage):
    async def get(self, code: str) -> None:
        room = await rooms_service.get_room(self.deps, self.me, code)
        district = self.deps.settings.district
        today = datetime.now(LOCAL_TZ).date()
        training = await training_status(self.deps, [a.id for a in room.administrators], today.year)
        activities = await activities_service.room_activities(self.deps, self.me, code, RoomActivityQuery(
            since=today.replace(month=1, day=1), until=today, limit=5))
        self.render_page(
            "console/room.html", room=room, weekdays=WEEKDAYS, weekday_labels=WEEKDAY_LABELS, training=training,
            activities=activities, year=today.year, refresher_hours=self.deps.settings.training_refresher_hours,
            today=WEEKDAYS[datetime.now(LOCAL_TZ).weekday()], standards=district.standards,
            kind_classes=KIND_CLASSES, status_labels=STATUS_LABELS,
            map=district_map(district, [room], width=346, font_size=12, dot_radius=7, highlight_town=room.town),
        )


# Who sees offline-sync conflicts in the console: the console roles among those the API lets list them.
CONFLICT_VIEWERS: frozenset[Role] = CONSOLE & (PHONE | {Role.INSPECTOR})
CONFLICT_LABELS = {
    "copy_out_to_another": "书已借给他人", "copy_lent_later": "服务器记录更新", "no_copy_on_shelf": "无在架馆藏",
    "return_without_loan": "还书无借阅记录", "already_returned": "已在线归还", "returned_later": "已在线归还",
    "renew_without_loan": "续借无借阅记录", "unknown_card": "借阅证未登记", "reader_blocked": "读者已停借",
    "over_limit": "超过借阅上限", "periodical_in_room_only": "报刊外借", "held_for_another_reader": "预约保留的书",
    "reader_guessed": "未扫借阅证", "renewal_limit_reached": "续借次数已满", "overdue_cannot_renew": "逾期续借",
    "hold_waiting": "有人预约", "reader_has_overdue": "读者有逾期",
}
TYPE_LABELS = {"loan": "借出", "return": "归还", "renew": "续借", "in_room_use": "馆内阅览"}


def conflict_link(query: ConsoleConflictQuery, **changes: str | None) -> str:
    params = {"room": query.room, "resolved": "true" if query.resolved else None} | changes
    encoded = urlencode({k: v for k, v in params.items() if v})
    return f"/console/offline-conflicts?{encoded}" if encoded else "/console/offline-conflicts"


class OfflineConflictsPage(ConsolePage):
    """Offline-sync conflicts in the viewer's scope; district staff resolve them here."""

    roles = CONFLICT_VIEWERS

    async def get(self) -> None:
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if v and v[-1].strip()}
        query = self.parse_query(ConsoleConflictQuery)
        page = await offline.district_conflicts(self.deps, self.me, query)
        self.render_page(
            "console/conflicts.html", page=page, query=query, labels=CONFLICT_LABELS, type_labels=TYPE_LABELS,
            when=when, can_resolve=self.me.role in DISTRICT, first_page=query.cursor is None,
            link=lambda **changes: conflict_link(query, **changes),
        )


class OfflineConflictResolvePage(ConsolePage):
    roles = DISTRICT

    async def post(self, conflict_id: str) -> None:
        back = self.get_body_argument("back", "")
        # Empty optional fields of the form mean "not given"; "back" is where to return to.
        self.request.body_arguments = {k: v for k, v in self.request.body_arguments.items()
                                       if k != "back" and v and v[-1].strip()}
        data = self.parse_form(ResolveIn)
        await offline.resolve_conflict(self.deps, self.me, conflict_id, data)
        self.redirect(back if back.startswith("/console/offline-conflicts") and "//" not in back
                      else "/console/offline-conflicts")


routes = [
    (r"/console/login", LoginPage),
    (r"/console/logout", LogoutPage),
    (r"/console/rooms", RoomsPage),
    (r"/console/rooms/(?P<code>[^/]+)", RoomPage),
    (r"/console/offline-conflicts", OfflineConflictsPage),
    (r"/console/offline-conflicts/(?P<conflict_id>[^/]+)/resolve", OfflineConflictResolvePage),
]
