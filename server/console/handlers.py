"""Console pages: log-in, the rooms list with a district map, a room's page."""

from __future__ import annotations

from server.district import ROOM_KINDS
from server.rooms import service as rooms_service
from server.rooms.models import WEEKDAY_LABELS, WEEKDAYS, RoomQuery
from server.staff.roles import CONSOLE
from server.web.login import LoginPageBase, LogoutBase
from server.web.pages import PageHandler


class ConsolePage(PageHandler):
    roles = CONSOLE
    area = "console"
    login_url = "/console/login"
    home_url = "/console/rooms"


class LoginPage(ConsolePage, LoginPageBase):
    roles = None
    allowed = CONSOLE
    template = "console/login.html"
    wrong_place_message = "书屋管理员请使用手机页面登录：/m/"


class LogoutPage(ConsolePage, LogoutBase):
    roles = None


class HomePage(ConsolePage):
    async def get(self) -> None:
        self.redirect(self.home_url)


class RoomsPage(ConsolePage):
    async def get(self) -> None:
        query = self.parse_query(RoomQuery)
        page = await rooms_service.list_rooms(self.deps, self.me, query)
        # The map shows every room in scope, whatever page of the table is open.
        everything = await rooms_service.list_rooms(
            self.deps, self.me, RoomQuery(town=query.town, kind=query.kind, status=query.status, q=query.q, limit=200)
        )
        self.render_page("console/rooms.html", page=page, query=query, kinds=ROOM_KINDS,
                         map_rooms=everything.items)


class RoomPage(ConsolePage):
    async def get(self, code: str) -> None:
        room = await rooms_service.get_room(self.deps, self.me, code)
        self.render_page("console/room.html", room=room, weekdays=WEEKDAYS, weekday_labels=WEEKDAY_LABELS)


routes = [
    (r"/console/?", HomePage),
    (r"/console/login", LoginPage),
    (r"/console/logout", LogoutPage),
    (r"/console/rooms", RoomsPage),
    (r"/console/rooms/(?P<code>[^/]+)", RoomPage),
]
