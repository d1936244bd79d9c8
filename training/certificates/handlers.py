"""Certificates over HTTP: the staff API (``/api/v1/training/certificates…``, requirements,
history import), the console (``/console/training``, ``/console/training/certificates…``)
and the public verification page (``/public/training/certificates/<token>``)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from bson import ObjectId

from server.console.handlers import ConsolePage
from server.errors import FieldProblem, InvalidInput
from server.ratelimit import hit
from server.readers.service import local_today
from server.staff.roles import ADMIN_ONLY, ALL_STAFF, DISTRICT, Role
from server.web.api import ApiHandler, endpoint
from server.web.pages import PageHandler
from training.certificates import history, requirements, service
from training.certificates.documents import PDF, XLSX
from training.certificates.models import (
    KIND_LABELS,
    SOURCE_LABELS,
    CertificateOut,
    CertificatePage,
    CertificateQuery,
    ExportQuery,
    HistoryQuery,
    HistoryReport,
    IssueIn,
    IssueOut,
    RequirementsOut,
    RequirementsQuery,
    RevokeIn,
)
from training.quizzes.handlers import IMPORT_BODY_FACTOR

MANAGERS = DISTRICT | {Role.TRAINER}
TAGS = ["training"]
# Verification lookups per IP and minute: plenty for people scanning certificates, far too
# few to enumerate tokens (which are 144 random bits anyway).
VERIFY_PER_MINUTE = 30


def _filename(number: str, ext: str) -> str:
    return f"attachment; filename=\"certificate.{ext}\"; filename*=UTF-8''{quote(number)}.{ext}"


class CertificatesHandler(ApiHandler):
    @endpoint(summary="培训证书列表（区馆、培训师看全部；镇街看本镇街；其他人只看自己的）", roles=ALL_STAFF,
              query=CertificateQuery, response=CertificatePage, tags=TAGS, errors=(422,))
    async def get(self, *, query: CertificateQuery) -> CertificatePage:
        return await service.list_certificates(self.deps, self.me, query)


class CertificatesExportHandler(ApiHandler):
    @endpoint(summary="培训证书列表（Excel）", roles=MANAGERS, query=ExportQuery, media_type=XLSX, tags=TAGS,
              errors=(422,))
    async def get(self, *, query: ExportQuery) -> bytes:
        self.set_header("Content-Disposition", 'attachment; filename="training-certificates.xlsx"')
        return await service.export_xlsx(self.deps, self.me, query)


class IssueHandler(ApiHandler):
    @endpoint(summary="为已完成课程（出勤且测验通过）的人员颁发证书", roles=MANAGERS, body=IssueIn, response=IssueOut,
              tags=TAGS, errors=(404, 422))
    async def post(self, *, body: IssueIn) -> IssueOut:
        return IssueOut(issued=await service.issue_due(self.deps, self.me, course_id=body.course_id))


class CertificatePdfHandler(ApiHandler):
    @endpoint(summary="打印培训证书（PDF，带查验二维码）", roles=ALL_STAFF, media_type=PDF, tags=TAGS, errors=(404,))
    async def get(self, certificate_id: str) -> bytes:
        self.set_header("Content-Disposition", _filename(certificate_id, "pdf"))
        return await service.certificate_pdf(self.deps, self.me, certificate_id)


class CertificateHandler(ApiHandler):
    @endpoint(summary="一张培训证书（路径参数为证书编号）", roles=ALL_STAFF, response=CertificateOut, tags=TAGS,
              errors=(404,))
    async def get(self, certificate_id: str) -> CertificateOut:
        return await service.get_certificate(self.deps, self.me, certificate_id)


class RevokeHandler(ApiHandler):
    @endpoint(summary="作废培训证书（须写明原因）", roles=ADMIN_ONLY, body=RevokeIn, response=CertificateOut, tags=TAGS,
              errors=(404, 422))
    async def post(self, certificate_id: str, *, body: RevokeIn) -> CertificateOut:
        return await service.revoke_certificate(self.deps, self.me, certificate_id, body)


class RequirementsHandler(ApiHandler):
    @endpoint(summary="书屋管理员培训达标情况（岗前培训、年度学时）", roles=DISTRICT | {Role.TOWN_COORDINATOR},
              query=RequirementsQuery, response=RequirementsOut, tags=TAGS, errors=(422,))
    async def get(self, *, query: RequirementsQuery) -> RequirementsOut:
        return await requirements.requirements(self.deps, self.me, query.year or local_today().year)


class HistoryHandler(ApiHandler):
    def body_limit_bytes(self) -> int:
        return self.deps.settings.max_body_bytes * IMPORT_BODY_FACTOR

    @endpoint(summary="导入历史培训记录（Excel；可试运行；重复上传不会重复导入）", roles=ADMIN_ONLY, query=HistoryQuery,
              response=HistoryReport, tags=TAGS, errors=(409, 413, 415, 422),
              description="The .xlsx file is the raw body. Columns: 姓名, 书屋编码 (optional), 课程, 类别 "
                          "(岗前培训/年度轮训/专题培训), 级别 (区级/市级), 学时, 培训日期, 证书编号 (optional).")
    async def post(self, *, query: HistoryQuery) -> HistoryReport:
        return await history.import_history(self.deps, self.me, self.request.body or b"",
                                            self.request.headers.get("Content-Type"), dry_run=query.dry_run)


# -- the console -------------------------------------------------------------------------


class TrainingOverviewPage(ConsolePage):
    async def get(self) -> None:
        from training.certificates import overview

        context = await overview.overview(self.deps, self.me)
        self.render_page("console/training/index.html", **context)


class CertificatesPage(ConsolePage):
    async def get(self) -> None:
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if v and v[-1].strip()}
        query = self.parse_query(CertificateQuery)
        page = await service.list_certificates(self.deps, self.me, query)
        courses = await self.deps.db["training_courses"].find({}, {"code": 1, "title": 1}).sort("code", 1).to_list()
        filters = {k: v for k, v in query.model_dump().items() if v and k not in {"cursor", "limit"}}
        export = {k: v for k, v in filters.items() if k in ExportQuery.model_fields}
        self.render_page(
            "console/training/certificates.html", page=page, query=query, courses=courses,
            source_labels=SOURCE_LABELS, kind_labels=KIND_LABELS, years=range(local_today().year, 2013, -1),
            export_url="/console/training/certificates.xlsx" + (f"?{urlencode(export)}" if export else ""),
            next_url=f"/console/training/certificates?{urlencode({**filters, 'cursor': page.next_cursor})}"
            if page.next_cursor else None,
            can_issue=self.me.role in MANAGERS, can_revoke=self.me.role is Role.DISTRICT_ADMIN,
            can_export=self.me.role in MANAGERS, message=self.get_argument("done", ""),
            xsrf_token=self.xsrf_token.decode())


class CertificatesExportPage(ConsolePage):
    roles = MANAGERS

    async def get(self) -> None:
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if v and v[-1].strip()}
        data = await service.export_xlsx(self.deps, self.me, self.parse_query(ExportQuery))
        self.set_header("Content-Type", XLSX)
        self.set_header("Content-Disposition", 'attachment; filename="training-certificates.xlsx"')
        self.finish(data)


class CertificatePdfPage(ConsolePage):
    async def get(self, number: str) -> None:
        data = await service.certificate_pdf(self.deps, self.me, number)
        self.set_header("Content-Type", PDF)
        self.set_header("Content-Disposition", _filename(number, "pdf").replace("attachment", "inline"))
        self.finish(data)


class IssuePage(ConsolePage):
    roles = MANAGERS

    async def post(self) -> None:
        course_id = self.get_body_argument("course_id", "").strip() or None
        if course_id is not None and not ObjectId.is_valid(course_id):
            raise InvalidInput("请选择课程", code="validation_failed", errors=[FieldProblem(("body", "course_id"), "无效的课程")])
        issued = await service.issue_due(self.deps, self.me, course_id=course_id)
        self.redirect(f"/console/training/certificates?{urlencode({'done': f'新颁发证书 {len(issued)} 张'})}")


class RevokePage(ConsolePage):
    roles = ADMIN_ONLY

    async def post(self, number: str) -> None:
        reason = self.get_body_argument("reason", "").strip()
        if len(reason) < 2:
            raise InvalidInput("请写明作废原因（至少 2 个字）", code="validation_failed",
                               errors=[FieldProblem(("body", "reason"), "至少 2 个字")])
        await service.revoke_certificate(self.deps, self.me, number, RevokeIn(reason=reason[:200]))
        self.redirect(f"/console/training/certificates?{urlencode({'done': f'证书 {number} 已作废', 'q': number})}")


# -- the public verification page -----------------------------------------------------------


class VerifyPage(PageHandler):
    """Anyone who scans a certificate's QR code: number, name, course, hours, level, date and
    whether it is valid; nothing else about the person."""

    roles = None
    area = "public"

    async def get(self, token: str) -> None:
        self.set_header("X-Robots-Tag", "noindex, nofollow")
        await hit(self.deps.redis, f"cert-verify:{self.request.remote_ip}", limit=VERIFY_PER_MINUTE,
                  message="查询太频繁了，请一分钟后再试")
        cert = await service.public_certificate(self.deps, token)
        self.render_page("public/certificate.html", cert=cert, hours=f"{cert.hours:g}")

    def write_error(self, status_code: int, **kwargs: object) -> None:
        self.set_header("X-Robots-Tag", "noindex, nofollow")
        super().write_error(status_code, **kwargs)


NUMBER = r"(?P<certificate_id>[^/]+)"
routes = [
    (r"/api/v1/training/certificates", CertificatesHandler),
    (r"/api/v1/training/certificates.xlsx", CertificatesExportHandler),
    (r"/api/v1/training/certificates/issue", IssueHandler),
    (rf"/api/v1/training/certificates/{NUMBER}.pdf", CertificatePdfHandler),
    (rf"/api/v1/training/certificates/{NUMBER}/revoke", RevokeHandler),
    (rf"/api/v1/training/certificates/{NUMBER}", CertificateHandler),
    (r"/api/v1/training/requirements", RequirementsHandler),
    (r"/api/v1/training/history", HistoryHandler),
]
CONSOLE_NUMBER = r"(?P<number>[^/]{1,60})"
pages = [
    (r"/console/training", TrainingOverviewPage),
    (r"/console/training/certificates", CertificatesPage),
    (r"/console/training/certificates\.xlsx", CertificatesExportPage),
    (r"/console/training/certificates/issue", IssuePage),
    (rf"/console/training/certificates/{CONSOLE_NUMBER}\.pdf", CertificatePdfPage),
    (rf"/console/training/certificates/{CONSOLE_NUMBER}/revoke", RevokePage),
    (r"/public/training/certificates/(?P<token>[A-Za-z0-9_-]{1,100})", VerifyPage),
]
