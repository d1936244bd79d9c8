"""Excel exports of the console's lists (GET /api/v1/exports/<name>.xlsx) and the console's
藏书与流通 pages (/console/stock, /console/loans). The figures come from ``tables``; this module
only validates, scopes and answers."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

from distribution.plans.models import DEFAULT_TARGETS
from server.catalog.classification import CATEGORIES
from server.console.handlers import ConsolePage
from server.errors import NotFound
from server.readers.service import local_today
from server.staff.roles import CONSOLE
from server.stats.exports import figures, tables
from server.stats.exports.figures import (
    LoansFilter,
    LoansPageQuery,
    RatingsFilter,
    RoomsFilter,
    ShipmentsFilter,
    StockFilter,
    StockPageQuery,
    TrainingFilter,
)
from server.stats.exports.sheets import XLSX
from server.stats.exports.tables import Table
from server.stats.service import check_year
from server.web.api import ApiHandler, endpoint

TAGS = ("exports",)
TOP_ROOMS = 10
STOCK_COLUMNS = (("code", "书屋"), ("town", "镇街"), ("volumes", "图书册数"), ("titles", "图书种数"),
                 ("periodicals", "报刊种数"), ("audio_visual", "音像制品"), ("residents", "常住人口"),
                 ("per_resident", "人均藏书"))


def content_disposition(filename: str, fallback: str) -> str:
    """RFC 6266 / RFC 5987: an ASCII name for old clients, the Chinese one for the rest."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


class ExportHandler(ApiHandler):
    fallback = "export.xlsx"

    def attach(self, filename: str) -> None:
        self.set_header("Content-Disposition", content_disposition(filename, self.fallback))

    async def send_table(self, table: Table) -> bytes:
        self.attach(table.filename)
        return await asyncio.to_thread(tables.write, table)


async def stock_rows(deps: Any, actor: Any, f: StockFilter) -> tuple[int | None, list[figures.StockRow]]:
    """(the year the figures are for — None: now —, every room of the filter) for pages and exports."""
    today = local_today()
    year = check_year(f.year, today) if f.year else None
    rooms = await figures.scoped_rooms(deps.db, actor, town=f.town, q=f.q)
    held = await figures.folded_figures(deps, [r["code"] for r in rooms], year or today.year, today)
    return year, figures.stock_rows(rooms, held, deps.settings.district.standards)


class RoomsExport(ExportHandler):
    fallback = "rooms.xlsx"

    @endpoint(summary="书屋名录（Excel；筛选同书屋列表）", roles=CONSOLE, query=RoomsFilter, media_type=XLSX, tags=TAGS,
              errors=(422,))
    async def get(self, *, query: RoomsFilter) -> bytes:
        rooms = await figures.scoped_rooms(self.deps.db, self.me, town=query.town, kind=query.kind, status=query.status,
                                          q=query.q)
        admins = await figures.administrator_names(self.deps.db, [r["code"] for r in rooms])
        return await self.send_table(tables.rooms_table(self.me, query, rooms, admins,
                                                        self.deps.settings.district.standards))


class StockExport(ExportHandler):
    fallback = "stock.xlsx"

    @endpoint(summary="各书屋藏书（Excel：图书、报刊、音像，六大类册数与占比，未达标）", roles=CONSOLE, query=StockFilter,
              media_type=XLSX, tags=TAGS, errors=(422,))
    async def get(self, *, query: StockFilter) -> bytes:
        year, rows = await stock_rows(self.deps, self.me, query)
        if query.below:
            rows = [r for r in rows if r.below]
        return await self.send_table(tables.stock_table(self.me, query, year, rows,
                                                        self.deps.settings.district.standards))


class LoansExport(ExportHandler):
    fallback = "loans.xlsx"

    @endpoint(summary="借阅统计（Excel；按书屋、月份（及分类）汇总，不含读者信息）", roles=CONSOLE, query=LoansFilter,
              media_type=XLSX, tags=TAGS, errors=(404, 422))
    async def get(self, *, query: LoansFilter) -> bytes:
        today = local_today()
        year = check_year(query.year, today)
        rooms = await figures.scoped_rooms(self.deps.db, self.me, town=query.town)
        if query.room:
            rooms = [r for r in rooms if r["code"] == query.room]
            if not rooms:
                raise NotFound("没有这个书屋，或它不在您负责的范围内", code="room_not_found")
        cells = await figures.loan_cells(self.deps.db, [r["code"] for r in rooms], year)
        return await self.send_table(tables.loans_table(self.me, query, year, today, rooms, cells))


class ShipmentsExport(ExportHandler):
    fallback = "shipments.xlsx"

    @endpoint(summary="配送单（Excel；一个计划或一年的配送单）", roles=CONSOLE, query=ShipmentsFilter, media_type=XLSX,
              tags=TAGS, errors=(422,))
    async def get(self, *, query: ShipmentsFilter) -> bytes:
        year = check_year(query.year, local_today())
        codes = None
        if query.town or not self.me.sees_whole_district:
            codes = [r["code"] for r in await figures.scoped_rooms(self.deps.db, self.me, town=query.town)]
        docs = await tables.shipments_docs(self.deps.db, codes, plan_id=query.plan_id, year=year)
        return await self.send_table(tables.shipments_table(self.me, query, year, docs))


class TrainingExport(ExportHandler):
    fallback = "training.xlsx"

    @endpoint(summary="培训记录（Excel：培训证书）", roles=CONSOLE, query=TrainingFilter, media_type=XLSX, tags=TAGS,
              errors=(422,))
    async def get(self, *, query: TrainingFilter) -> bytes:
        self.attach(f"培训记录{query.year or ''}.xlsx")
        return await tables.training_xlsx(self.deps, self.me, query)


class RatingsExport(ExportHandler):
    fallback = "ratings.xlsx"

    @endpoint(summary="评选结果（Excel；公示前只有区馆可导出）", roles=CONSOLE, query=RatingsFilter, media_type=XLSX,
              tags=TAGS, errors=(403, 404, 422))
    async def get(self, *, query: RatingsFilter) -> bytes:
        data, filename = await tables.ratings_xlsx(self.deps, self.me, query)
        self.attach(filename)
        return data


# -- the console pages -------------------------------------------------------------------------------


def _non_empty_query(handler: ConsolePage) -> None:
    """The filter forms send every field; an empty one means "all", not an invalid value."""
    handler.request.query_arguments = {k: v for k, v in handler.request.query_arguments.items()
                                       if v and v[-1].strip()}


def _url(path: str, params: dict[str, Any]) -> str:
    encoded = urlencode({k: ("1" if v is True else v) for k, v in params.items() if v not in (None, "", False)})
    return f"{path}?{encoded}" if encoded else path


class StockPage(ConsolePage):
    """藏书: each room's holdings against the standards, with the district's six-class mix."""

    async def get(self) -> None:
        _non_empty_query(self)
        query = self.parse_query(StockPageQuery)
        year, rows = await stock_rows(self.deps, self.me, query)
        mix = figures.category_mix(rows, DEFAULT_TARGETS)
        shown = figures.sort_stock([r for r in rows if r.below] if query.below else rows, query.sort, query.desc)
        filters = {"town": query.town, "year": query.year, "below": query.below, "q": query.q}

        def sort_link(key: str) -> str:
            desc = not query.desc if key == query.sort else key not in {"code", "town"}
            return _url("/console/stock", {**filters, "sort": key, "desc": desc})

        self.render_page(
            "console/stock/stock.html", query=query, year=year, rows=shown, totals=figures.stock_totals(shown),
            all_totals=figures.stock_totals(rows), mix=mix, columns=STOCK_COLUMNS, sort_link=sort_link,
            standards=self.deps.settings.district.standards, years=range(local_today().year, figures.FIRST_YEAR - 1, -1),
            export_url=_url("/api/v1/exports/stock.xlsx", filters), below_url=_url("/console/stock", {**filters, "below": True}),
            filtered=any(filters.values()),
            scope="全区" if self.me.sees_whole_district else "、".join(sorted(self.me.towns)), tab="stock",
        )


class LoansPage(ConsolePage):
    """流通: a year's loans per month and category, per town, and the rooms that lend most and least."""

    async def get(self) -> None:
        _non_empty_query(self)
        query = self.parse_query(LoansPageQuery)
        today = local_today()
        year = check_year(query.year, today)
        rooms = await figures.scoped_rooms(self.deps.db, self.me, town=query.town)
        cells = await figures.loan_cells(self.deps.db, [r["code"] for r in rooms], year)
        by_month = figures.loans_by_month_and_category(cells)
        by_room = figures.loans_by_room(cells, rooms)
        towns = figures.loans_by_town(cells, rooms, [t.name for t in self.deps.settings.district.towns], query.cols)
        total = sum(m["total"] for m in by_month)
        sums = {f: sum(getattr(c, f) for c in cells) for f in figures.LOAN_FIGURES}
        self.render_page(
            "console/stock/loans.html", query=query, year=year, categories=CATEGORIES, by_month=by_month,
            category_totals=[sum(m["values"][i] for m in by_month) for i in range(len(CATEGORIES))], total=total,
            figures=sums, towns=towns, period_labels=figures.period_labels(query.cols),
            period_totals=[sum(t["values"][i] for t in towns) for i in range(12 if query.cols == "month" else 4)],
            top=by_room[:TOP_ROOMS], bottom=list(reversed(by_room[-TOP_ROOMS:])) if len(by_room) > TOP_ROOMS else [],
            rooms=len(rooms), years=range(today.year, figures.FIRST_YEAR - 1, -1),
            months_counted=12 if year < today.year else today.month,
            link=lambda **changes: _url("/console/loans", {"year": year, "town": query.town, "cols": query.cols,
                                                           **changes}),
            export_url=_url("/api/v1/exports/loans.xlsx", {"year": year, "town": query.town}),
            scope="全区" if self.me.sees_whole_district else "、".join(sorted(self.me.towns)), tab="loans",
        )


routes = [
    (r"/api/v1/exports/rooms.xlsx", RoomsExport),
    (r"/api/v1/exports/stock.xlsx", StockExport),
    (r"/api/v1/exports/loans.xlsx", LoansExport),
    (r"/api/v1/exports/shipments.xlsx", ShipmentsExport),
    (r"/api/v1/exports/training.xlsx", TrainingExport),
    (r"/api/v1/exports/ratings.xlsx", RatingsExport),
]
pages = [
    (r"/console/stock", StockPage),
    (r"/console/loans", LoansPage),
]
