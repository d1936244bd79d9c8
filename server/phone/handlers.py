"""Phone pages: log-in and the administrator's home page for their rooms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.rooms import service as rooms_service
from server.rooms.models import WEEKDAY_LABELS, WEEKDAYS, RoomQuery, parse_spans
from server.staff.roles import PHONE, Role
from server.web.login import LoginPageBase, LogoutBase
from server.web.pages import PageHandler
from server.web.templating import LOCAL_TZ

# A room administrator has one or two rooms; a town coordinator a town's worth.
HOME_MAX_ROOMS = 50
# What the phone will do once later issues build it; shown, disabled, so nobody looks for it elsewhere.
COMING_SOON = (("lend", "借书"), ("return", "还书"), ("receive", "收货"), ("stocktake", "盘点"))


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


class PhonePage(PageHandler):
    roles: frozenset[Role] | None = PHONE
    area = "phone"
    login_url = "/m/login"
    home_url = "/m/"


class LoginPage(PhonePage, LoginPageBase):
    roles = None
    allowed = PHONE
    template = "phone/login.html"
    wrong_place_message = "该账号是区馆后台账号，请在电脑上打开 /console/ 登录"


class LogoutPage(PhonePage, LogoutBase):
    roles = None


class HomePage(PhonePage):
    async def get(self) -> None:
        page = await rooms_service.list_rooms(self.deps, self.me, RoomQuery.model_validate({"limit": HOME_MAX_ROOMS}))
        now = datetime.now(LOCAL_TZ)
        today = WEEKDAYS[now.weekday()]
        self.render_page(
            "phone/home.html", rooms=page.items, total=page.total, today=today, now=now,
            status={r.code: open_now(r.opening_hours, now) for r in page.items},
            weekdays=WEEKDAYS, weekday_labels=WEEKDAY_LABELS, coming_soon=COMING_SOON,
        )


routes = [
    (r"/m/?", HomePage),
    (r"/m/login", LoginPage),
    (r"/m/logout", LogoutPage),
]
