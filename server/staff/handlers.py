"""Staff API: log-in tokens, the current account, and account management."""

from __future__ import annotations

from server import sessions
from server.audit import repo as audit
from server.staff import service
from server.staff.models import (
    LoginIn,
    PasswordChange,
    StaffCreate,
    StaffOut,
    StaffPage,
    StaffQuery,
    StaffUpdate,
    TokenOut,
)
from server.staff.roles import ALL_STAFF, DISTRICT, Role
from server.web.api import ApiHandler, endpoint

ACCOUNT_ADMINS = frozenset({Role.DISTRICT_ADMIN})


class TokenHandler(ApiHandler):
    @endpoint(summary="登录，获取 API 令牌", roles=None, body=LoginIn, response=TokenOut, status=201,
              tags=["auth"], errors=(401, 429),
              description="Five wrong passwords lock the account for 15 minutes (settings).")
    async def post(self, *, body: LoginIn) -> TokenOut:
        doc = await service.authenticate(self.deps, body.username, body.password)
        token, expires = await sessions.issue(self.deps.redis, str(doc["_id"]), kind="api",
                                              ttl_secs=self.deps.settings.api_token_ttl_secs)
        actor = service.actor_for(doc, request_id=self.request_id, ip=self.request.remote_ip or "")
        await audit.record(self.deps.db, actor, "auth.login", target_type="staff", target_id=actor.staff_id)
        return TokenOut(token=token, expires_at=expires, staff=service.to_out(doc, self.deps))

    @endpoint(summary="注销当前令牌", roles=ALL_STAFF, tags=["auth"])
    async def delete(self) -> None:
        token = self.request.headers["Authorization"].partition(" ")[2].strip()
        await sessions.revoke(self.deps.redis, token)


class MeHandler(ApiHandler):
    @endpoint(summary="当前登录的账号", roles=ALL_STAFF, response=StaffOut, tags=["auth"])
    async def get(self) -> StaffOut:
        assert self.staff_doc is not None
        return service.to_out(self.staff_doc, self.deps)


class PasswordHandler(ApiHandler):
    @endpoint(summary="修改自己的密码（所有会话随之失效）", roles=ALL_STAFF, body=PasswordChange, tags=["auth"],
              errors=(422,))
    async def post(self, *, body: PasswordChange) -> None:
        await service.change_own_password(self.deps, self.me, body.current_password, body.new_password)


class StaffListHandler(ApiHandler):
    @endpoint(summary="工作人员列表", roles=DISTRICT, query=StaffQuery, response=StaffPage, tags=["staff"])
    async def get(self, *, query: StaffQuery) -> StaffPage:
        return await service.list_staff(self.deps, self.me, query)

    @endpoint(summary="新建工作人员账号", roles=ACCOUNT_ADMINS, body=StaffCreate, response=StaffOut, status=201,
              tags=["staff"], errors=(409, 422))
    async def post(self, *, body: StaffCreate) -> StaffOut:
        return await service.create_staff(self.deps, self.me, body)


class StaffHandler(ApiHandler):
    @endpoint(summary="一位工作人员", roles=ALL_STAFF, response=StaffOut, tags=["staff"], errors=(404, 422),
              description="District roles see anyone; everyone else sees only themselves.")
    async def get(self, staff_id: str) -> StaffOut:
        return await service.get_staff(self.deps, self.me, staff_id)

    @endpoint(summary="修改工作人员（角色、范围、停用、重置密码）", roles=ACCOUNT_ADMINS, body=StaffUpdate,
              response=StaffOut, tags=["staff"], errors=(404, 422))
    async def patch(self, staff_id: str, *, body: StaffUpdate) -> StaffOut:
        return await service.update_staff(self.deps, self.me, staff_id, body)


routes = [
    (r"/api/v1/auth/token", TokenHandler),
    (r"/api/v1/auth/me", MeHandler),
    (r"/api/v1/auth/password", PasswordHandler),
    (r"/api/v1/staff", StaffListHandler),
    (r"/api/v1/staff/(?P<staff_id>[^/]+)", StaffHandler),
]
