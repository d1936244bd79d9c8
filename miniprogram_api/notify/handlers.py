"""/mp/v1: subscribe-message consents and the family's message list."""

from __future__ import annotations

from miniprogram_api.notify import credits, service
from miniprogram_api.notify.models import (
    NotificationPage,
    NotificationQuery,
    SubscriptionsIn,
    SubscriptionsOut,
)
from server.web.api import endpoint
from server.web.mp import MpHandler

TAGS = ["mp-notifications"]


class SubscriptionsHandler(MpHandler):
    @endpoint(summary="订阅消息模板及我的剩余次数", roles=None, reader=True, response=SubscriptionsOut, tags=TAGS,
              description="The template ids to pass to wx.requestSubscribeMessage, by event, with the credits "
                          "(consents not yet used) of the calling account.")
    async def get(self) -> SubscriptionsOut:
        return await credits.subscriptions(self.deps, self.reader)

    @endpoint(summary="上报订阅消息授权结果（每次“允许”可收一条消息）", roles=None, reader=True, body=SubscriptionsIn,
              response=SubscriptionsOut, tags=TAGS, errors=(409, 422),
              description="Send what wx.requestSubscribeMessage answered (template id → accept/reject/ban/filter), "
                          "without its errMsg key. Each accept adds one credit; unknown template ids are refused.")
    async def post(self, *, body: SubscriptionsIn) -> SubscriptionsOut:
        return await credits.record_consents(self.deps, self.reader, body)


class NotificationsHandler(MpHandler):
    @endpoint(summary="我家的消息（到书、到期、逾期、荐购、挑战、比赛）", roles=None, reader=True,
              query=NotificationQuery, response=NotificationPage, tags=TAGS, errors=(422,))
    async def get(self, *, query: NotificationQuery) -> NotificationPage:
        return await service.list_notifications(self.deps, self.reader, query)


routes = [
    (r"/mp/v1/subscriptions", SubscriptionsHandler),
    (r"/mp/v1/notifications", NotificationsHandler),
]
