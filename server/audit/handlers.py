"""Audit log API: read-only, for the district administrator and inspectors."""

from __future__ import annotations

from server.audit import repo
from server.audit.models import AuditPage, AuditQuery
from server.staff.roles import Role
from server.web.api import ApiHandler, endpoint

AUDIT_READERS = frozenset({Role.DISTRICT_ADMIN, Role.INSPECTOR})


class AuditHandler(ApiHandler):
    @endpoint(summary="操作日志（最新在前）", roles=AUDIT_READERS, query=AuditQuery, response=AuditPage, tags=["audit"])
    async def get(self, *, query: AuditQuery) -> AuditPage:
        return await repo.list_entries(self.deps.db, query)


routes = [(r"/api/v1/audit", AuditHandler)]
