"""The console's Excel exports as tables: headers in Chinese, rows from ``figures``, a notes
sheet saying where the figures come from and which filters were used. No Tornado here.

Scope: district roles, inspectors and trainers see the whole district; a town coordinator
only the rooms of their towns (``Actor.room_filter``). Loans are counted from ``loan_stats``
only (per room, month, format, category and age group — no reader; Public Library Law art. 43),
so the figures survive the anonymisation of loan histories.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from distribution.shipments.models import STATUS_LABELS as SHIPMENT_LABELS
from server.catalog.classification import CATEGORIES
from server.circulation.rules import LOCAL_TZ
from server.district import RoomStandards
from server.errors import Forbidden
from server.rooms.models import check_standards
from server.staff.roles import DISTRICT, Actor
from server.stats.exports.figures import (
    MONTHS,
    ROOM_STATUS_LABELS,
    LoanCell,
    LoansFilter,
    RatingsFilter,
    RoomsFilter,
    ShipmentsFilter,
    StockFilter,
    StockRow,
    TrainingFilter,
    loan_rows_by_month,
)
from server.stats.exports.sheets import DATE, DEC1, DEC2, INT, PCT, Column, xlsx_table
from training.certificates import documents as cert_documents
from training.certificates import repo as cert_repo
from training.certificates import service as cert_service
from training.ratings import documents as ratings_documents
from training.ratings import repo as ratings_repo
from training.ratings.models import KIND_LABELS
from training.ratings.publicity import PUBLIC_STATUSES
from training.ratings.service import get_round_doc

if TYPE_CHECKING:
    from server.resources import Deps


# -- the exports' tables ------------------------------------------------------------------------------


@dataclass
class Table:
    """What one export writes: sheet title, columns, rows, notes and the download's file name."""

    title: str
    columns: list[Any]
    rows: list[list[Any]]
    notes: list[str]
    filename: str


def filters_note(**given: Any) -> str:
    used = "；".join(f"{k}={v}" for k, v in given.items() if v not in (None, "", False))
    return f"筛选条件：{used or '无（全部）'}"


def scope_note(actor: Actor) -> str:
    return "范围：全区" if actor.sees_whole_district else f"范围：{'、'.join(sorted(actor.towns))}"


def _c(header: str, width: int = 10, fmt: str | None = None) -> Column:
    return Column(header, width, fmt)


def rooms_table(actor: Actor, f: RoomsFilter, rooms: list[dict[str, Any]], admins: dict[str, list[str]],
                standards: RoomStandards) -> Table:
    columns = [_c("编号", 12), _c("名称", 24), _c("类型", 10), _c("镇街", 10), _c("村/社区", 14),
               _c("常住人口", 10, INT), _c("面积（平方米）", 10, DEC1), _c("座位", 7, INT), _c("每周开放天数", 8, INT),
               _c("每周开放小时", 9, DEC1), _c("未达标提示", 40), _c("管理员", 16), _c("状态", 7)]
    rows = []
    for r in rooms:
        check = check_standards(r["opening_hours"], r["area_m2"], standards)
        rows.append([r["code"], r["name"], r["kind"], r["town"], r["village"], r.get("residents"), r["area_m2"],
                     r["seats"], check.open_days, check.weekly_hours, "；".join(check.warnings),
                     "、".join(admins.get(r["code"], [])), ROOM_STATUS_LABELS.get(r["status"], r["status"])])
    notes = ["来源：书屋登记信息（rooms）；开放天数、时长按登记的每周开放时间计算；管理员只列姓名。",
             f"标准：面积 ≥ {standards.min_area_m2:g} 平方米，每周开放 ≥ {standards.min_open_days} 天，"
             f"每天 ≥ {standards.min_daily_hours:g} 小时。", scope_note(actor),
             filters_note(镇街=f.town, 类型=f.kind, 状态=f.status and ROOM_STATUS_LABELS[f.status], 关键词=f.q)]
    return Table("书屋名录", columns, rows, notes, "书屋名录.xlsx")


def stock_table(actor: Actor, f: StockFilter, year: int | None, rows: list[StockRow],
                standards: RoomStandards) -> Table:
    columns = [_c("编号", 12), _c("名称", 24), _c("镇街", 10), _c("常住人口", 10, INT), _c("图书册数", 10, INT),
               _c("图书种数", 10, INT), _c("报刊种数", 9, INT), _c("音像制品件数", 11, INT), _c("人均藏书（册/人）", 12, DEC2)]
    for c in CATEGORIES:
        columns += [_c(f"{c}册数", 9, INT), _c(f"{c}占比", 8, PCT)]
    columns.append(_c("未达标", 40))
    data = [[r.code, r.name, r.town, r.residents, r.volumes, r.titles, r.periodicals, r.audio_visual, r.per_resident,
             *[v for c in CATEGORIES for v in (r.by_category[c], r.share(c))], "；".join(t for _, t in r.below)]
            for r in rows]
    when = f"{year} 年 12 月 31 日（按库存流水累计）" if year else "导出时（按现有馆藏）"
    notes = [f"藏书截至：{when}。册数 = 在架 + 借出 + 在途，不含丢失和损坏。", "报刊按种数计，音像制品按件数计，六大类占比按图书册数计。",
             f"标准：图书 ≥ {standards.min_volumes:,} 册且 ≥ {standards.min_titles:,} 种，报刊 ≥ "
             f"{standards.min_periodicals} 种，音像制品 ≥ {standards.min_audio_visual} 件。", scope_note(actor),
             filters_note(镇街=f.town, 年份=f.year, 只看未达标="是" if f.below else None, 关键词=f.q)]
    return Table(f"藏书统计{year or ''}", columns, data, notes, f"藏书统计{year or ''}.xlsx")


def loans_table(actor: Actor, f: LoansFilter, year: int, today: date, rooms: list[dict[str, Any]],
                cells: list[LoanCell]) -> Table:
    last = 12 if year < today.year else today.month
    figures = [_c("借出", 8, INT), _c("续借", 8, INT), _c("归还", 8, INT), _c("馆内阅览", 9, INT)]
    head = [_c("编号", 12), _c("名称", 24), _c("镇街", 10), _c("月份", 9)]
    if f.by == "category":
        names = {r["code"]: r for r in rooms}
        data = [[c.room, names[c.room]["name"], names[c.room]["town"], c.month, c.category, c.loans, c.renewals,
                 c.returns, c.in_room_uses] for c in cells]
        columns = [*head, _c("分类", 8), *figures]
    else:
        months = [f"{year}-{m}" for m in MONTHS[:last]]
        data = [[r["code"], r["name"], r["town"], m, *v] for r, m, v in loan_rows_by_month(cells, rooms, months)]
        columns = [*head, *figures]
    notes = ["来源：各书屋按月的借阅统计（loan_stats），只有次数，不含任何读者信息（《公共图书馆法》第四十三条）。",
             "借出、续借、归还计在办理的书屋；通借通还时归还计在收书的书屋。",
             f"年份：{year}" + ("（按分类分行，只列有数据的行）" if f.by == "category" else "（每个书屋每月一行，含 0）"),
             scope_note(actor), filters_note(镇街=f.town, 书屋=f.room, 分行=f.by)]
    return Table(f"{year}年借阅统计", columns, data, notes, f"{year}年借阅统计.xlsx")


async def shipments_docs(db: AsyncDatabase, codes: list[str] | None, *, plan_id: str | None, year: int
                         ) -> list[dict[str, Any]]:
    """Shipments of a plan (or a year) of ``codes`` (None: every room), by room; lines not loaded."""
    flt: dict[str, Any] = {"plan_id": ObjectId(plan_id)} if plan_id else {"year": year}
    if codes is not None:
        flt["room"] = {"$in": codes}
    projection = {"lines": 0, "boxes.lines": 0, "history": 0, "claims": 0, "wrong_items": 0, "receipts": 0}
    return await db["dist_shipments"].find(flt, projection).sort([("room", 1), ("_id", 1)]).to_list()


def shipments_table(actor: Actor, f: ShipmentsFilter, year: int, docs: list[dict[str, Any]]) -> Table:
    columns = [_c("编号", 12), _c("书屋", 24), _c("镇街", 10), _c("年度", 7), _c("供货商", 16), _c("状态", 8),
               _c("箱数", 7, INT), _c("已收箱数", 8, INT), _c("种数", 7, INT), _c("册数", 8, INT), _c("金额（元）", 11, DEC2),
               _c("建单日期", 11, DATE), _c("发货日期", 11, DATE), _c("收货日期", 11, DATE), _c("关闭日期", 11, DATE)]

    def day(doc: dict[str, Any], state: str) -> date | None:
        at = (doc.get("timestamps") or {}).get(state)
        return at.replace(tzinfo=at.tzinfo or UTC).astimezone(LOCAL_TZ).date() if at else None

    rows = [[d["room"], d.get("room_name", ""), d.get("town", ""), d["year"], d["supplier"],
             SHIPMENT_LABELS.get(d["status"], d["status"]), len(d.get("boxes") or []), len(d.get("received_boxes") or []),
             d["totals"]["titles"], d["totals"]["copies"], d["totals"]["fen"] / 100, day(d, "planned"),
             day(d, "dispatched"), day(d, "received") or day(d, "discrepancy"), day(d, "closed")] for d in docs]
    which = f"计划 {f.plan_id}" if f.plan_id else f"{year} 年"
    notes = [f"来源：年度配送单（{which}），每个书屋一行；金额按订购册数 × 单价计。", scope_note(actor),
             filters_note(计划=f.plan_id, 年份=f.year, 镇街=f.town)]
    return Table(f"{'' if f.plan_id else year}配送单", columns, rows, notes, f"配送单{'' if f.plan_id else year}.xlsx")


async def training_xlsx(deps: Deps, actor: Actor, f: TrainingFilter) -> bytes:
    """The training certificates (the certificates module's own Excel writer), in ``actor``'s scope:
    the whole district, or a town coordinator's towns' rooms (and their own)."""
    clauses: list[dict[str, Any]] = [] if actor.sees_whole_district else [await cert_service.scope_filter(deps, actor)]
    if f.course:
        clauses.append({"course_id": ObjectId(f.course)})
    if f.year:
        clauses.append({"issued_on": {"$gte": f"{f.year}-01-01", "$lte": f"{f.year}-12-31"}})
    docs = await cert_repo.page(deps.db, {"$and": clauses} if clauses else {}, limit=cert_service.EXPORT_MAX_ROWS)
    certs = [cert_service.certificate_out(deps, d) for d in docs]
    return await asyncio.to_thread(cert_documents.certificates_xlsx, certs)


# Results are public from the 公示 on; before, only the district sees totals (inspectors score blind).
async def ratings_xlsx(deps: Deps, actor: Actor, f: RatingsFilter) -> tuple[bytes, str]:
    """A round's results (the ratings module's own Excel writer): the given round or the newest
    one the actor may see; a town coordinator gets their towns' entries only. Forbidden for a
    round whose results are not public yet, unless the actor is district staff."""
    district = actor.role in DISTRICT
    doc: dict[str, Any] | None
    if f.round:
        doc = await get_round_doc(deps, f.round)
        if not district and doc["status"] not in PUBLIC_STATUSES:
            raise Forbidden("评选结果公示后才能导出", code="results_not_public")
    else:
        found = await ratings_repo.rounds(deps.db, None if district else {"status": {"$in": list(PUBLIC_STATUSES)}})
        doc = found[0] if found else None
    if doc is None:
        table = Table("评选结果", [_c("名次", 6), _c("申报对象", 22)], [], ["还没有可导出的评选。"], "评选结果.xlsx")
        return await asyncio.to_thread(write, table), table.filename
    entries = await ratings_repo.entries(deps.db, doc["_id"])
    if not actor.sees_whole_district:
        entries = [e for e in entries if e.get("town") in actor.towns]
    rooms = await ratings_repo.rooms_by_code(deps.db, sorted({e["subject"]["room"] for e in entries}))
    data = await asyncio.to_thread(ratings_documents.results_xlsx, doc, entries, rooms)
    return data, f"{doc['year']}{KIND_LABELS.get(doc['kind'], '')}评选结果.xlsx"


def write(table: Table) -> bytes:
    return xlsx_table(table.title, table.columns, table.rows, notes=table.notes)
