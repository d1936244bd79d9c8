"""Catalog API: search and read titles (every staff role), create, edit and import
them (district roles)."""

from __future__ import annotations

from server.catalog import service
from server.catalog.models import (
    ImportQuery,
    ImportReport,
    TitleInput,
    TitleOut,
    TitlePage,
    TitleQuery,
    TitleUpdate,
)
from server.staff.roles import ALL_STAFF, DISTRICT
from server.web.api import ApiHandler, endpoint

TITLE_ID = r"(?P<title_id>[^/]+)"
# An import upload may be larger than a JSON body; the HTTP server accepts up to
# max_body_bytes × 4, and this stays below it so an oversize file still gets a 413
# problem+json instead of a dropped connection.
IMPORT_BODY_FACTOR = 3


class TitlesHandler(ApiHandler):
    @endpoint(summary="检索书目（汉字、全拼、首字母、ISBN 或其末几位）", roles=ALL_STAFF, query=TitleQuery,
              response=TitlePage, tags=["catalog"],
              description="Best matches first; with `room`, copies on the shelf there and the number of rooms "
                          "with one on the shelf. Without `q`, the catalog in id order.")
    async def get(self, *, query: TitleQuery) -> TitlePage:
        return await service.search_titles(self.deps, query)

    @endpoint(summary="登记一种书目", roles=DISTRICT, body=TitleInput, response=TitleOut, status=201,
              tags=["catalog"], errors=(409, 422))
    async def post(self, *, body: TitleInput) -> TitleOut:
        return await service.create_title(self.deps, self.me, body)


class TitleHandler(ApiHandler):
    @endpoint(summary="一种书目（ISBN-13、ISBN-10 或馆内编号）", roles=ALL_STAFF, response=TitleOut,
              tags=["catalog"], errors=(404, 422))
    async def get(self, title_id: str) -> TitleOut:
        return await service.get_title(self.deps, title_id)

    @endpoint(summary="修改书目", roles=DISTRICT, body=TitleUpdate, response=TitleOut, tags=["catalog"],
              errors=(404, 422))
    async def patch(self, title_id: str, *, body: TitleUpdate) -> TitleOut:
        return await service.update_title(self.deps, self.me, title_id, body)


class ImportsHandler(ApiHandler):
    def body_limit_bytes(self) -> int:
        return self.deps.settings.max_body_bytes * IMPORT_BODY_FACTOR

    @endpoint(summary="导入书目（CSV、Excel、ISO 2709 MARC；可试运行）", roles=DISTRICT, query=ImportQuery,
              response=ImportReport, tags=["catalog"], errors=(413, 415, 422),
              description="The file is the raw request body, with Content-Type text/csv, "
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet or application/marc. "
                          "`dry_run=true` reports without writing.")
    async def post(self, *, query: ImportQuery) -> ImportReport:
        return await service.import_titles(self.deps, self.me, self.request.body or b"",
                                           self.request.headers.get("Content-Type"), dry_run=query.dry_run)


routes = [
    (r"/api/v1/catalog/titles", TitlesHandler),
    (r"/api/v1/catalog/imports", ImportsHandler),
    (rf"/api/v1/catalog/titles/{TITLE_ID}", TitleHandler),
]
