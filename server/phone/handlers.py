"""Phone pages: log-in and the administrator's home page for their rooms."""

from __future__ import annotations

from datetime import datetime

from server.rooms import service as rooms_service
from server.rooms.models import WEEKDAY_LABELS, WEEKDAYS, RoomQuery
from server.staff.roles import PHONE
from server.web.login import LoginPageBase, LogoutBase
from server.web.pages import PageHandler
from server.web.templating import LOCAL_TZ


class PhonePage(PageHandler):
    roles = PHONE
    area = "phone"
    login_url = "/m/login"
    home_url = "/m/"


class LoginPage(PhonePage, LoginPageBase):
    roles = None
    allowed = PHONE
    template = "phone/login.html"
    wrong_place_message = "该账号请使用电脑登录区馆后台：/console/"


class LogoutPage(PhonePage, LogoutBase):
    roles = None


class HomePage(PhonePage):
    async def get(self) -> None:
        page = await rooms_service.list_rooms(self.deps, self.me, RoomQuery(status="active", limit=20))
        today = WEEKDAYS[datetime.now(LOCAL_TZ).weekday()]
        self.render_page("phone/home.html", rooms=page.items, total=page.total, today=today,
                         weekdays=WEEKDAYS, weekday_labels=WEEKDAY_LABELS)


routes = [
    (r"/m/?", HomePage),
    (r"/m/login", LoginPage),
    (r"/m/logout", LogoutPage),
]
