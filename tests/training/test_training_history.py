"""Past training records from Excel: dry run with per-row problems, all or nothing,
matching to staff accounts by name + room, idempotent re-upload."""

from __future__ import annotations

import io
from typing import Any

import httpx
from openpyxl import Workbook

from server.resources import Deps
from tests.conftest import Session
from training.quizzes.sheets import XLSX

HEADER = ["姓名", "书屋编码", "课程", "类别", "级别", "学时", "培训日期", "证书编号"]


def sheet(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["津南区农家书屋管理员培训记录（2014—2015）"])  # a title line above the header
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_history_import(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    admin = await seeded.db["staff"].find_one({"username": "jn-xsg-001"})
    assert admin is not None
    headers = {**as_role["district_admin"].headers, "Content-Type": XLSX}
    good_rows = [
        [admin["name"], "JN-XSG-001", "农家书屋管理员岗前培训班", "岗前培训", "区级", 8, "2015-04-18", None],
        ["李建国", None, "天津市农家书屋管理员业务培训", "专题培训", "市级", 4.5, "2014年9月12日", "津图培2014-031"],
        [admin["name"], "JN-GG-001", "农家书屋管理员岗前培训班", "岗前培训", "区级", 8, "2014/5/6", None],
    ]
    bad_rows = good_rows + [
        ["王", "JN-XSG-001", "课", "培训", "省级", -1, "明天", None],
        ["张三丰", "JN-NOPE-999", "某培训", "年度轮训", "区级", 2, "2015-06-01", "津图培2014-031"],
        ["李建国", None, "天津市农家书屋管理员业务培训", "专题培训", "市级", 4.5, "2014-09-12", None],
    ]
    before = await seeded.db["training_certificates"].count_documents({})
    dry = await client.post("/api/v1/training/history", params={"dry_run": "true"}, headers=headers,
                            content=sheet(bad_rows))
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["rows"] == 6 and not report["imported"]
    where = {(p["row"], p["column"]) for p in report["problems"]}
    assert {(6, "姓名"), (6, "课程"), (6, "类别"), (6, "级别"), (6, "学时"), (6, "培训日期")} <= where
    assert {(7, "书屋编码"), (7, "证书编号"), (8, "姓名")} <= where
    real = await client.post("/api/v1/training/history", headers=headers, content=sheet(bad_rows))
    assert real.status_code == 422 and real.json()["code"] == "history_rows_invalid"
    assert ["body", 7, "书屋编码"] in [e["loc"] for e in real.json()["errors"]]
    assert await seeded.db["training_certificates"].count_documents({}) == before
    missing = await client.post("/api/v1/training/history", headers=headers,
                                content=sheet(good_rows, header=["姓名", "课程"]))
    assert missing.status_code == 422 and missing.json()["code"] == "header_missing"
    ok = await client.post("/api/v1/training/history", headers=headers, content=sheet(good_rows))
    assert ok.status_code == 200, ok.text
    assert ok.json()["created"] == 3 and ok.json()["matched_to_staff"] == 1 and ok.json()["imported"]
    docs = {d["issued_on"]: d for d in await seeded.db["training_certificates"].find({"source": "history"}).to_list()}
    matched = docs["2015-04-18"]
    assert matched["staff_id"] == str(admin["_id"]) and matched["kind"] == "induction" and matched["course_id"] is None
    assert matched["number"].startswith("JNPX-2015-")
    assert docs["2014-09-12"]["number"] == "津图培2014-031" and docs["2014-09-12"]["staff_id"] is None
    assert docs["2014-09-12"]["level"] == "city" and docs["2014-09-12"]["hours"] == 4.5
    assert docs["2014-05-06"]["staff_id"] is None  # same name, but not that room's administrator
    # Re-uploading the same file adds nothing.
    again = await client.post("/api/v1/training/history", headers=headers, content=sheet(good_rows))
    assert again.json()["created"] == 0 and again.json()["already_there"] == 3
    assert await seeded.db["training_certificates"].count_documents({}) == before + 3
    assert await seeded.db["audit"].count_documents({"action": "training_certificate.history_import"}) == 1
    # The history counts for the requirements: jn-xsg-001 is inducted now.
    req = (await client.get("/api/v1/training/requirements", headers=as_role["district_admin"].headers)).json()
    assert "JN-XSG-001" not in {r["room"] for r in req["rooms_without_induction"]}
    # Only the district admin loads history; other files are refused.
    assert (await client.post("/api/v1/training/history", headers={**as_role["district_staff"].headers,
                                                                   "Content-Type": XLSX},
                              content=sheet(good_rows))).status_code == 403
    assert (await client.post("/api/v1/training/history", headers={**headers, "Content-Type": "text/csv"},
                              content=b"x")).status_code == 415
    assert (await client.post("/api/v1/training/history", headers=headers, content=b"")).status_code == 422
