"""The console's Excel exports (GET /api/v1/exports/<name>.xlsx): Chinese headers, the right rows
for hand-built data, the scope of a town coordinator, no reader data in the loans export, bad
filters refused with 422 naming the field, room administrators refused."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

import httpx
import openpyxl
import pytest
from bson import ObjectId

from server.circulation import service as circulation_service
from server.circulation.models import LendIn, ReturnIn
from server.readers.service import local_today
from server.resources import Deps
from server.staff import service as staff_service
from server.stats.exports.sheets import Column, xlsx_table
from server.stock import repo as stock_repo
from server.stock.ledger import Move, MoveKind
from tests.circulation import add_reader, add_title, op, receive
from tests.conftest import Session

XSG1, XSG2, XSG3, GG1 = "JN-XSG-001", "JN-XSG-002", "JN-XSG-003", "JN-GG-001"
READER_NAME = "王晓明读者"
THIS_YEAR = local_today().year
EXPORTS = ("rooms", "stock", "loans", "shipments", "training", "ratings")


def workbook(response: httpx.Response) -> openpyxl.Workbook:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    return openpyxl.load_workbook(io.BytesIO(response.content))


def table(response: httpx.Response) -> tuple[list[str], list[dict[str, Any]]]:
    """The first sheet's headers and its rows as dicts."""
    sheet = workbook(response).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    headers = list(rows[0])
    return headers, [dict(zip(headers, r, strict=True)) for r in rows[1:]]


def every_cell(response: httpx.Response) -> str:
    book = workbook(response)
    return "\n".join(str(v) for s in book.worksheets for row in s.iter_rows(values_only=True) for v in row
                     if v is not None)


@pytest.fixture(scope="module")
async def data(seeded: Deps) -> dict[str, Any]:
    deps = seeded
    await deps.db.rooms.update_one({"code": XSG1}, {"$set": {"residents": 1000}})
    politics = await add_title(deps, category="政经")
    science = await add_title(deps, category="科技")
    paper = await add_title(deps, fmt="periodical", category="其他")
    disc = await add_title(deps, fmt="audio_visual", category="文化")
    await receive(deps, XSG1, politics, 3)
    await receive(deps, XSG1, science, 2)
    await receive(deps, XSG1, paper, 1)
    await receive(deps, XSG1, disc, 1)
    await receive(deps, GG1, science, 4)
    # Two copies arrived in JN-XSG-003 in June 2024, written the way the ledger writes them.
    async with deps.mongo.start_session() as session:
        await stock_repo.apply_moves(deps.db, session, [Move(XSG3, science, MoveKind.RECEIVE, 2)], op_id=op(),
                                     actor="system", at=datetime(2024, 6, 1, 2, tzinfo=UTC))
    reader = await add_reader(deps, XSG1, name=READER_NAME)
    await circulation_service.lend(deps, staff_service.SYSTEM, XSG1, LendIn(op_id=op(), card_no=reader["card_no"],
                                                                            title_id=politics))
    await circulation_service.return_item(deps, staff_service.SYSTEM, XSG1, ReturnIn(
        op_id=op(), title_id=politics, card_no=reader["card_no"]))
    await circulation_service.lend(deps, staff_service.SYSTEM, XSG1, LendIn(op_id=op(), card_no=reader["card_no"],
                                                                            title_id=science))
    raw = await deps.db.readers.find_one({"card_no": reader["card_no"]})
    await deps.db.loan_stats.insert_many([
        {"_id": f"{XSG2}|2024-03|book|文化|adult", "room": XSG2, "month": "2024-03", "format": "book",
         "category": "文化", "age_group": "adult", "loans": 7, "returns": 5},
        {"_id": f"{GG1}|2024-03|book|少儿|child", "room": GG1, "month": "2024-03", "format": "book",
         "category": "少儿", "age_group": "child", "loans": 4, "renewals": 1},
    ])
    return {"reader": reader, "raw_reader": raw, "titles": [politics, science, paper, disc]}


async def get(client: httpx.AsyncClient, who: Session, name: str, **params: Any) -> httpx.Response:
    return await client.get(f"/api/v1/exports/{name}.xlsx", params=params, headers=who.headers)


# -- the writer ------------------------------------------------------------------------------------


def test_xlsx_table_header_formats_dates_and_notes() -> None:
    data = xlsx_table("测试表", [Column("名称", 20), Column("册数", 8, "#,##0"), Column("占比", 8, "0.0%"),
                                  Column("日期", 12)],
                      [["甲", 1200, 0.25, date(2025, 3, 1)], ["乙", 3, None, datetime(2025, 3, 1, 16, tzinfo=UTC)]],
                      notes=["来源：测试"])
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["测试表"]
    assert [c.value for c in sheet[1]] == ["名称", "册数", "占比", "日期"]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:D3"
    assert sheet["B2"].number_format == "#,##0" and sheet["C2"].number_format == "0.0%"
    assert sheet["D2"].value == datetime(2025, 3, 1) and sheet["D2"].is_date
    assert sheet["D3"].value == datetime(2025, 3, 2, 0, 0)  # 16:00 UTC is midnight in Shanghai
    assert sheet.column_dimensions["A"].width == 20
    notes = [r[0] for r in book["说明"].iter_rows(values_only=True)]
    assert notes[0] == "测试表" and "来源：测试" in notes and notes[-1].startswith("导出时间：")


def test_xlsx_table_keeps_text_as_text() -> None:
    data = xlsx_table("文本", [Column("名称")], [['=HYPERLINK("http://x","点我")'], ["控制\x08字符"]], notes=["=1+1"])
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book["文本"]["A2"].data_type == "s" and book["文本"]["A2"].value.startswith("=HYPERLINK")
    assert book["文本"]["A3"].value == "控制字符"
    assert book["说明"]["A2"].data_type == "s"


# -- rooms -------------------------------------------------------------------------------------------


async def test_rooms_export_has_the_list_with_names_only(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                         data: dict[str, Any], seeded: Deps) -> None:
    response = await get(client, as_role["district_admin"], "rooms")
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert unquote(response.headers["Content-Disposition"].split("''")[1]) == "书屋名录.xlsx"
    headers, rows = table(response)
    assert headers == ["编号", "名称", "类型", "镇街", "村/社区", "常住人口", "面积（平方米）", "座位", "每周开放天数",
                       "每周开放小时", "未达标提示", "管理员", "状态"]
    assert len(rows) == await seeded.db.rooms.count_documents({})
    first = next(r for r in rows if r["编号"] == XSG1)
    admin = await seeded.db.staff.find_one({"role": "room_admin", "rooms": XSG1})
    assert admin["name"] in first["管理员"] and first["常住人口"] == 1000 and first["状态"] == "启用"
    assert not re.search(r"1\d{10}|\*{4}", every_cell(response)), "no phone number, even masked"

    filtered = await get(client, as_role["district_admin"], "rooms", town="葛沽镇", q="001")
    _, rows = table(filtered)
    assert [r["编号"] for r in rows] == [GG1]


async def test_town_coordinator_gets_their_towns_only(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                      data: dict[str, Any], seeded: Deps) -> None:
    coordinator = as_role["town_coordinator"]
    _, rooms = table(await get(client, coordinator, "rooms"))
    assert {r["镇街"] for r in rooms} == {"咸水沽镇"}
    assert len(rooms) == await seeded.db.rooms.count_documents({"town": "咸水沽镇"})
    _, stock = table(await get(client, coordinator, "stock", town="葛沽镇"))
    assert stock == []
    _, loans = table(await get(client, coordinator, "loans", year=2024))
    assert {r["编号"] for r in loans} <= {r["编号"] for r in rooms} and GG1 not in {r["编号"] for r in loans}
    refused = await get(client, coordinator, "loans", room=GG1)
    assert refused.status_code == 404 and refused.json()["code"] == "room_not_found"


# -- stock -------------------------------------------------------------------------------------------


async def test_stock_export_counts_formats_categories_and_standards(
        client: httpx.AsyncClient, as_role: dict[str, Session], data: dict[str, Any]) -> None:
    headers, rows = table(await get(client, as_role["district_staff"], "stock", town="咸水沽镇"))
    assert headers[:9] == ["编号", "名称", "镇街", "常住人口", "图书册数", "图书种数", "报刊种数", "音像制品件数",
                           "人均藏书（册/人）"]
    assert headers[9:13] == ["政经册数", "政经占比", "科技册数", "科技占比"] and headers[-1] == "未达标"
    row = next(r for r in rows if r["编号"] == XSG1)
    assert (row["图书册数"], row["图书种数"], row["报刊种数"], row["音像制品件数"]) == (5, 2, 1, 1)
    assert row["政经册数"] == 3 and row["政经占比"] == pytest.approx(0.6) and row["科技册数"] == 2
    assert row["人均藏书（册/人）"] == pytest.approx(0.005)
    assert "图书册数 5 册，低于 1,500 册的标准" in row["未达标"]
    # One copy of each is on loan or back on the shelf: still held.
    assert next(r for r in rows if r["编号"] == XSG3)["图书册数"] == 2

    _, below = table(await get(client, as_role["district_staff"], "stock", town="咸水沽镇", below="true", q="001"))
    assert [r["编号"] for r in below] == [XSG1]


async def test_stock_export_for_a_past_year_folds_the_ledger(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                              data: dict[str, Any]) -> None:
    _, rows = table(await get(client, as_role["district_admin"], "stock", town="咸水沽镇", year=2024))
    by_code = {r["编号"]: r for r in rows}
    assert by_code[XSG3]["图书册数"] == 2 and by_code[XSG3]["科技册数"] == 2
    assert by_code[XSG1]["图书册数"] == 0  # received this year
    _, rows = table(await get(client, as_role["district_admin"], "stock", town="咸水沽镇", year=2023))
    assert all(r["图书册数"] == 0 for r in rows)


# -- loans -------------------------------------------------------------------------------------------


async def test_loans_export_is_aggregated_and_holds_no_reader(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                              data: dict[str, Any]) -> None:
    response = await get(client, as_role["district_admin"], "loans", room=XSG1)
    headers, rows = table(response)
    assert headers == ["编号", "名称", "镇街", "月份", "借出", "续借", "归还", "馆内阅览"]
    month = local_today().strftime("%Y-%m")
    assert len(rows) == local_today().month  # every month so far, zeros included
    now = next(r for r in rows if r["月份"] == month)
    assert (now["借出"], now["归还"], now["续借"]) == (2, 1, 0)

    detailed = await get(client, as_role["district_admin"], "loans", room=XSG1, by="category")
    headers, rows = table(detailed)
    assert headers == ["编号", "名称", "镇街", "月份", "分类", "借出", "续借", "归还", "馆内阅览"]
    assert {(r["分类"], r["借出"], r["归还"]) for r in rows} == {("政经", 1, 1), ("科技", 1, 0)}

    reader, raw = data["reader"], data["raw_reader"]
    secrets = [READER_NAME, reader["card_no"], str(raw["_id"]), *(reader.get(k) or "" for k in ("phone",))]
    for text in (every_cell(response), every_cell(detailed)):
        for secret in filter(None, secrets):
            assert secret not in text, f"reader data in the loans export: {secret}"


async def test_loans_export_of_a_past_year(client: httpx.AsyncClient, as_role: dict[str, Session],
                                           data: dict[str, Any]) -> None:
    response = await get(client, as_role["inspector"], "loans", year=2024, by="category")
    _, rows = table(response)
    assert {(r["编号"], r["月份"], r["分类"], r["借出"], r["续借"], r["归还"]) for r in rows} == {
        (XSG2, "2024-03", "文化", 7, 0, 5), (GG1, "2024-03", "少儿", 4, 1, 0)}
    _, rows = table(await get(client, as_role["inspector"], "loans", year=2024, town="咸水沽镇"))
    assert len(rows) == 12 * len({r["编号"] for r in rows})
    assert sum(r["借出"] for r in rows) == 7


# -- shipments, training, ratings ---------------------------------------------------------------------


async def test_shipments_export(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    now = datetime.now(UTC)
    plan = ObjectId()
    docs = [{"_id": ObjectId(), "plan_id": plan, "year": THIS_YEAR, "room": room, "room_name": name, "town": town,
             "supplier": "新华书店", "status": status, "box_size": 40, "lines": [],
             "boxes": [{"code": f"SHP-{THIS_YEAR}-{room}-0{i}", "lines": []} for i in range(1, boxes + 1)],
             "received_boxes": [], "totals": {"titles": 60, "copies": 71, "fen": 190_050},
             "timestamps": {"planned": now, "dispatched": now} if status == "dispatched" else {"planned": now},
             "history": [], "created_at": now, "updated_at": now}
            for room, name, town, status, boxes in ((XSG1, "一号书屋", "咸水沽镇", "dispatched", 2),
                                                    (GG1, "葛沽书屋", "葛沽镇", "planned", 3))]
    await seeded.db.dist_shipments.insert_many(docs)
    headers, rows = table(await get(client, as_role["district_admin"], "shipments"))
    assert headers[:11] == ["编号", "书屋", "镇街", "年度", "供货商", "状态", "箱数", "已收箱数", "种数", "册数", "金额（元）"]
    first = next(r for r in rows if r["编号"] == XSG1)
    assert (first["状态"], first["箱数"], first["册数"], first["金额（元）"]) == ("已发货", 2, 71, 1900.5)
    assert first["发货日期"] is not None and first["收货日期"] is None
    _, rows = table(await get(client, as_role["town_coordinator"], "shipments", plan_id=str(plan)))
    assert [r["编号"] for r in rows] == [XSG1]
    _, rows = table(await get(client, as_role["district_admin"], "shipments", year=2020))
    assert rows == []


async def test_training_export_reuses_the_certificates_table(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                             seeded: Deps) -> None:
    course = ObjectId()
    now = datetime.now(UTC)
    await seeded.db.training_certificates.insert_many([
        {"number": f"JNPX-{THIS_YEAR}-{n:04d}", "course_id": course, "course_code": "PX-01", "course_title": "分类与上架",
         "hours": 8.0, "level": "district", "kind": "induction", "staff_id": None, "username": None, "name": name,
         "rooms": [room], "issued_on": f"{THIS_YEAR}-03-01", "issued_at": now, "source": "history", "revoked": False,
         "verify_token": uuid.uuid4().hex}
        for n, name, room in ((9001, "张管理", XSG1), (9002, "李管理", GG1))])
    headers, rows = table(await get(client, as_role["inspector"], "training", course=str(course)))
    assert headers[:3] == ["证书编号", "姓名", "书屋"]
    assert {(r["姓名"], r["书屋"]) for r in rows} == {("张管理", XSG1), ("李管理", GG1)}
    _, rows = table(await get(client, as_role["town_coordinator"], "training", course=str(course), year=THIS_YEAR))
    assert [r["姓名"] for r in rows] == ["张管理"]
    _, rows = table(await get(client, as_role["district_admin"], "training", course=str(course), year=2020))
    assert rows == []


async def test_ratings_export_only_public_results_for_others(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                             seeded: Deps) -> None:
    empty = await get(client, as_role["inspector"], "ratings")
    assert "还没有可导出的评选。" in every_cell(empty)
    missing = await get(client, as_role["district_admin"], "ratings", round="0" * 24)
    assert missing.status_code == 404 and missing.json()["code"] == "round_not_found"
    round_id = ObjectId()
    await seeded.db.rating_rounds.insert_one({"_id": round_id, "year": 2031, "kind": "model_room", "level": "district",
                                              "title": "2031年度示范农家书屋评选", "status": "district_review",
                                              "rubric": {"criteria": []}})
    refused = await get(client, as_role["inspector"], "ratings", round=str(round_id))
    assert refused.status_code == 403 and refused.json()["code"] == "results_not_public"
    headers, _ = table(await get(client, as_role["district_admin"], "ratings", round=str(round_id)))
    assert headers[:4] == ["名次", "申报对象", "镇街", "书屋"]


# -- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXPORTS)
async def test_room_admin_has_no_exports(client: httpx.AsyncClient, as_role: dict[str, Session], name: str) -> None:
    response = await get(client, as_role["room_admin"], name)
    assert response.status_code == 403 and response.json()["code"] == "role_forbidden"


@pytest.mark.parametrize(("name", "params", "field"), [
    ("loans", {"year": "abc"}, "year"), ("loans", {"year": "1800"}, "year"), ("loans", {"year": THIS_YEAR + 1}, "year"),
    ("loans", {"by": "reader"}, "by"), ("loans", {"room": "x"}, "room"), ("loans", {"reader": "1"}, "reader"),
    ("stock", {"year": "2012.5"}, "year"), ("stock", {"below": "maybe"}, "below"), ("stock", {"year": THIS_YEAR + 1}, "year"),
    ("rooms", {"kind": "图书馆"}, "kind"), ("rooms", {"q": "x" * 41}, "q"), ("shipments", {"plan_id": "nope"}, "plan_id"),
    ("training", {"course": "1"}, "course"), ("ratings", {"round": "zz"}, "round"),
])
async def test_bad_filters_are_422_naming_the_field(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                    name: str, params: dict[str, Any], field: str) -> None:
    response = await get(client, as_role["district_admin"], name, **params)
    assert response.status_code == 422, response.text
    assert ["query", field] in [e["loc"] for e in response.json()["errors"]]


async def test_exports_do_not_query_per_room(client: httpx.AsyncClient, as_role: dict[str, Session],
                                             data: dict[str, Any], command_counter: Any) -> None:
    counts = {}
    for town, q in (("咸水沽镇", "001"), ("咸水沽镇", None)):  # 1 room, then every room of the town
        for name in ("rooms", "stock", "loans"):
            command_counter.reset()
            params = {"town": town, **({"q": q} if q and name != "loans" else {})}
            if name == "loans" and q:
                params["room"] = XSG1
            assert (await get(client, as_role["district_admin"], name, **params)).status_code == 200
            counts[(name, q)] = list(command_counter.commands)
    for name in ("rooms", "stock", "loans"):
        assert counts[(name, "001")] == counts[(name, None)], counts
    # Besides the log-in's look-up of the staff member: rooms, then one query per collection read.
    assert counts[("rooms", None)].count("find:staff") == 2
    assert "find:room_stats" in counts[("stock", None)] and "find:loan_stats" in counts[("loans", None)]
