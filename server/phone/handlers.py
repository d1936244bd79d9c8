"""Phone pages: log-in, the administrator's home page for their rooms, and (from
``desk_pages`` and ``desk_handlers``) the desk pages and the JSON their scripts call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.phone import desk_handlers, desk_pages
from server.phone.base import PhonePage
from server.phone.desk_pages import TILES
from server.rooms import service as rooms_service
from server.rooms.models import WEEKDAY_LABELS, WEEKDAYS, RoomQuery, parse_spans
from server.staff.roles import PHONE, Role
from server.web.login import LoginPageBase, LogoutBase
from server.web.templating import LOCAL_TZ

# A room administrator has one or two rooms; a town coordinator a town's worth.
HOME_MAX_ROOMS = 50


@dataclass(frozen=True)
class OpenNow:
    """Whether a room is open at a moment, said the way a villager would say it."""

    is_open: bool
    headline: str  # 正在开放 / 现在闭馆
    detail: str  # e.g. 开放到 11:30 / 今天 14:00 开门 / 下次开放：周三 09:00


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def open_now(opening_hours: dict[str, list[str]], now: datetime) -> OpenNow:
    """Open or closed at ``now`` (local time), and when that changes."""
    minute = now.hour * 60 + now.minute
    today = now.weekday()
    for start, end in parse_spans(opening_hours.get(WEEKDAYS[today], [])):
        if start <= minute < end:
            return OpenNow(True, "正在开放", f"开放到 {_hhmm(end)}")
        if minute < start:
            return OpenNow(False, "现在闭馆", f"今天 {_hhmm(start)} 开门")
    for ahead in range(1, 8):
        spans = parse_spans(opening_hours.get(WEEKDAYS[(today + ahead) % 7], []))
        if spans:
            day = "明天" if ahead == 1 else WEEKDAY_LABELS[WEEKDAYS[(today + ahead) % 7]]
            return OpenNow(False, "现在闭馆", f"下次开放：{day} {_hhmm(spans[0][0])}")
    return OpenNow(False, "现在闭馆", "还没有登记开放时间")


# Trainers and inspectors work on their phones too, but not at a desk: each has a page of their own.
FIELD_HOMES = {Role.TRAINER: "/m/training", Role.INSPECTOR: "/m/inspect"}


class LoginPage(PhonePage, LoginPageBase):
    roles = None
    allowed = PHONE | frozenset(FIELD_HOMES)
    template = "phone/login.html"
    wrong_place_message = "该账号是区馆后台账号，请在电脑上打开 /console/ 登录"

    def home_for(self, role: Role) -> str:
        return FIELD_HOMES.get(role, self.home_url)


class LogoutPage(PhonePage, LogoutBase):
    roles = None


class HomePage(PhonePage):
    roles = PHONE | frozenset(FIELD_HOMES)

    async def get(self) -> None:
        if self.me.role in FIELD_HOMES:
            self.redirect(FIELD_HOMES[self.me.role])
            return
        page = await rooms_service.list_rooms(self.deps, self.me, RoomQuery.model_validate({"limit": HOME_MAX_ROOMS}))
        now = datetime.now(LOCAL_TZ)
        today = WEEKDAYS[now.weekday()]
        # The desk works for one room at a time: the one asked for, else the first open for business.
        active = [r for r in page.items if r.status == "active"]
        wanted = self.get_query_argument("room", "")
        desk_room = next((r for r in active if r.code == wanted), active[0] if active else None)
        self.render_page(
            "phone/home.html", rooms=page.items, total=page.total, today=today, now=now,
            status={r.code: open_now(r.opening_hours, now) for r in page.items},
            weekdays=WEEKDAYS, weekday_labels=WEEKDAY_LABELS, desk_room=desk_room, active_rooms=active,
            tiles=[t for t in TILES if self.me.role in t.roles], xsrf_token=self.xsrf_token.decode(),
        )


routes = [
    (r"/m/?", HomePage),
    (r"/m/login", LoginPage),
    (r"/m/logout", LogoutPage),
    *desk_pages.routes,
    *desk_handlers.routes,
]
