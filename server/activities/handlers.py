"""The activity register and opening check-ins over HTTP: the staff API
(``/api/v1/rooms/<code>/activities``, ``/api/v1/activities``, ``/api/v1/rooms/<code>/openings``),
the phone page ``/m/rooms/<code>/activities`` and the JSON its script posts (``/m/api/rooms/…``)."""

from __future__ import annotations

from datetime import timedelta

from server.activities import service
from server.activities.models import (
    ACTIVITY_KINDS,
    RECORD_WINDOW_DAYS,
    ActivityIn,
    ActivityOut,
    ActivityPage,
    ActivityQuery,
    ActivityRecorded,
    ActivityUpdate,
    OpeningIn,
    OpeningOut,
    RoomActivityQuery,
)
from server.phone.base import PhoneApiHandler, PhonePage
from server.readers.service import local_today
from server.rooms.service import authorize_room
from server.staff.roles import ALL_STAFF, DISTRICT, PHONE, Role
from server.web.api import ApiHandler, endpoint

TAGS = ["activities"]
# Who keeps a room's register: its administrator, the town coordinator, district staff.
RECORDERS = PHONE
OVERVIEW = DISTRICT | {Role.TOWN_COORDINATOR}
_ERRORS = (403, 404, 409, 422)


class RoomActivitiesHandler(ApiHandler):
    @endpoint(summary="登记一次阅读活动（op_id 幂等）", roles=RECORDERS, body=ActivityIn, response=ActivityRecorded,
              status=201, tags=TAGS, errors=_ERRORS)
    async def post(self, code: str, *, body: ActivityIn) -> ActivityRecorded:
        return await service.record_activity(self.deps, self.me, code, body)

    @endpoint(summary="书屋的活动记录（新的在前）", roles=ALL_STAFF, query=RoomActivityQuery, response=ActivityPage,
              tags=TAGS, errors=(403, 404, 422))
    async def get(self, code: str, *, query: RoomActivityQuery) -> ActivityPage:
        return await service.room_activities(self.deps, self.me, code, query)


class RoomActivityHandler(ApiHandler):
    @endpoint(summary="更正活动记录（登记后 30 天内）", roles=RECORDERS, body=ActivityUpdate, response=ActivityOut,
              tags=TAGS, errors=_ERRORS)
    async def patch(self, code: str, activity_id: str, *, body: ActivityUpdate) -> ActivityOut:
        return await service.update_activity(self.deps, self.me, code, activity_id, body)


class ActivitiesHandler(ApiHandler):
    @endpoint(summary="全区（或本镇街）的阅读活动", roles=OVERVIEW, query=ActivityQuery, response=ActivityPage,
              tags=TAGS, errors=(403, 422))
    async def get(self, *, query: ActivityQuery) -> ActivityPage:
        return await service.district_activities(self.deps, self.me, query)


class OpeningsHandler(ApiHandler):
    @endpoint(summary="今日开馆打卡（每个书屋每天一次，op_id 幂等）", roles=RECORDERS, body=OpeningIn,
              response=OpeningOut, status=201, tags=TAGS, errors=_ERRORS)
    async def post(self, code: str, *, body: OpeningIn) -> OpeningOut:
        return await service.record_opening(self.deps, self.me, code, body)


# -- the phone -----------------------------------------------------------------------------------


class PhoneActivitiesHandler(PhoneApiHandler):
    @endpoint(summary="登记阅读活动（手机页面）", roles=RECORDERS, body=ActivityIn, response=ActivityRecorded, status=201)
    async def post(self, code: str, *, body: ActivityIn) -> ActivityRecorded:
        return await service.record_activity(self.deps, self.me, code, body)


class PhoneOpeningsHandler(PhoneApiHandler):
    @endpoint(summary="今日开馆打卡（手机页面）", roles=RECORDERS, body=OpeningIn, response=OpeningOut, status=201)
    async def post(self, code: str, *, body: OpeningIn) -> OpeningOut:
        return await service.record_opening(self.deps, self.me, code, body)


class ActivitiesPage(PhonePage):
    roles = RECORDERS

    async def get(self, code: str) -> None:
        room = await authorize_room(self.deps, self.me, code)
        today = local_today()
        page = await service.room_activities(
            self.deps, self.me, code, RoomActivityQuery.model_validate(
                {"since": today.replace(month=1, day=1).isoformat(), "limit": 100}))
        opened = await service.opened_today(self.deps, code)
        self.render_page("phone/activities.html", room=room, page=page, opened=opened, kinds=ACTIVITY_KINDS,
                         today=today.isoformat(), earliest=(today - timedelta(days=RECORD_WINDOW_DAYS)).isoformat(),
                         heading="阅读活动与开馆", xsrf_token=self.xsrf_token.decode())


ROOM = r"(?P<code>[^/]+)"
routes = [
    (rf"/api/v1/rooms/{ROOM}/activities", RoomActivitiesHandler),
    (rf"/api/v1/rooms/{ROOM}/activities/(?P<activity_id>[^/]+)", RoomActivityHandler),
    (r"/api/v1/activities", ActivitiesHandler),
    (rf"/api/v1/rooms/{ROOM}/openings", OpeningsHandler),
]
pages = [
    (rf"/m/api/rooms/{ROOM}/activities", PhoneActivitiesHandler),
    (rf"/m/api/rooms/{ROOM}/openings", PhoneOpeningsHandler),
    (rf"/m/rooms/{ROOM}/activities", ActivitiesPage),
]
