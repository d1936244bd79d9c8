"""/mp/v1: log-in, my account and family, children's consent, library cards, my data, rooms."""

from __future__ import annotations

from miniprogram_api.accounts import privacy, service
from miniprogram_api.accounts.models import (
    AccountOut,
    CardIn,
    CardOut,
    ChildIn,
    ChildRules,
    ErasedOut,
    ExportOut,
    LoginIn,
    MemberOut,
    MemberUpdate,
    ProfileIn,
    RoomList,
    RoomQuery,
    SessionOut,
    WithdrawIn,
)
from server.web.api import endpoint
from server.web.mp import MpHandler

MEMBER = r"(?P<member_id>[^/]+)"
TAGS = ["mp-accounts"]


class SessionHandler(MpHandler):
    @endpoint(summary="小程序登录（wx.login 的 code 换取会话令牌）", roles=None, body=LoginIn, response=SessionOut,
              status=201, tags=TAGS, errors=(403, 429, 503),
              description="The code is one-time: a refused code is never retried; call wx.login again.")
    async def post(self, *, body: LoginIn) -> SessionOut:
        return await service.login(self.deps, body.code, ip=self.request.remote_ip or "")

    @endpoint(summary="退出登录", roles=None, reader=True, tags=TAGS)
    async def delete(self) -> None:
        await service.logout(self.deps, self.bearer_token())


class MeHandler(MpHandler):
    @endpoint(summary="我的账号和家庭成员", roles=None, reader=True, response=AccountOut, tags=TAGS)
    async def get(self) -> AccountOut:
        return await service.get_account(self.deps, self.reader)

    @endpoint(summary="注销账号（删除本人及孩子在小程序中的全部信息）", roles=None, reader=True, response=ErasedOut,
              tags=TAGS, errors=(409,))
    async def delete(self) -> ErasedOut:
        return await privacy.delete_account(self.deps, self.reader)


class ProfileHandler(MpHandler):
    @endpoint(summary="填写或修改本人信息", roles=None, reader=True, body=ProfileIn, response=MemberOut, tags=TAGS,
              errors=(422,))
    async def put(self, *, body: ProfileIn) -> MemberOut:
        return await service.set_profile(self.deps, self.reader, body)


class ChildrenHandler(MpHandler):
    @endpoint(summary="添加孩子（须监护人同意《儿童个人信息保护规则》）", roles=None, reader=True, body=ChildIn,
              response=MemberOut, status=201, tags=TAGS, errors=(409, 422))
    async def post(self, *, body: ChildIn) -> MemberOut:
        return await service.add_child(self.deps, self.reader, body)


class MemberHandler(MpHandler):
    @endpoint(summary="修改家庭成员信息与隐私设置", roles=None, reader=True, body=MemberUpdate, response=MemberOut,
              tags=TAGS, errors=(422,))
    async def patch(self, member_id: str, *, body: MemberUpdate) -> MemberOut:
        return await service.update_member(self.deps, self.reader, member_id, body)


class WithdrawHandler(MpHandler):
    @endpoint(summary="撤回对孩子个人信息处理的同意", roles=None, reader=True, body=WithdrawIn, response=MemberOut,
              tags=TAGS, errors=(422,))
    async def post(self, member_id: str, *, body: WithdrawIn) -> MemberOut:
        return await service.withdraw_consent(self.deps, self.reader, member_id, body)


class CardHandler(MpHandler):
    @endpoint(summary="办理或关联借阅证（用微信手机号验证）", roles=None, reader=True, body=CardIn, response=CardOut,
              tags=TAGS, errors=(409, 422, 503))
    async def post(self, member_id: str, *, body: CardIn) -> CardOut:
        return await service.issue_card(self.deps, self.reader, member_id, body)


class ExportHandler(MpHandler):
    @endpoint(summary="导出我和孩子的全部信息", roles=None, reader=True, response=ExportOut, tags=TAGS)
    async def get(self) -> ExportOut:
        return await privacy.export(self.deps, self.reader)


class ChildRulesHandler(MpHandler):
    @endpoint(summary="儿童个人信息保护规则（同意前展示）", roles=None, response=ChildRules, tags=TAGS)
    async def get(self) -> ChildRules:
        return service.child_rules()


class RoomsHandler(MpHandler):
    @endpoint(summary="可选择的书屋（按镇街、名称或离我最近）", roles=None, query=RoomQuery, response=RoomList,
              tags=TAGS)
    async def get(self, *, query: RoomQuery) -> RoomList:
        return await service.list_rooms(self.deps, query)


routes = [
    (r"/mp/v1/session", SessionHandler),
    (r"/mp/v1/me", MeHandler),
    (r"/mp/v1/me/profile", ProfileHandler),
    (r"/mp/v1/me/children", ChildrenHandler),
    (r"/mp/v1/me/export", ExportHandler),
    (rf"/mp/v1/members/{MEMBER}", MemberHandler),
    (rf"/mp/v1/members/{MEMBER}/consent/withdraw", WithdrawHandler),
    (rf"/mp/v1/members/{MEMBER}/card", CardHandler),
    (r"/mp/v1/privacy/children", ChildRulesHandler),
    (r"/mp/v1/rooms", RoomsHandler),
]
