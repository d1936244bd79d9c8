"""Imports: CSV, Excel and CNMARC files; dry run vs real; bad rows; duplicates merged."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from pymarc import Field, Record, Subfield

from server.catalog import imports, service
from server.catalog.models import TitleInput
from server.errors import InvalidInput, UnsupportedMediaType
from server.staff.roles import Actor, Role

DATA = Path(__file__).parent / "data"
ACTOR = Actor(staff_id="000000000000000000000002", username="importer", name="导入员", role=Role.DISTRICT_STAFF)
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MARC = "application/marc"


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def marc_record(fields: dict[str, dict[str, str]], *, leader7: str = "m") -> Record:
    record = Record(force_utf8=True)
    record.leader = record.leader[:6] + "a" + leader7 + record.leader[8:]
    for tag, subs in fields.items():
        record.add_field(Field(tag=tag, indicators=[" ", " "],
                               subfields=[Subfield(code=c, value=v) for c, v in subs.items()]))
    return record


def marc_bytes(*records: Record) -> bytes:
    return b"".join(r.as_marc() for r in records)


async def count(deps, collection: str, flt: dict | None = None) -> int:
    return await deps.db[collection].count_documents(flt or {})


async def test_csv_dry_run_reports_and_writes_nothing(deps):
    data = (DATA / "sample.csv").read_bytes()
    before = await count(deps, "audit")
    report = await service.import_titles(deps, ACTOR, data, CSV, dry_run=True)
    assert report.dry_run and report.file_format == "csv"
    assert (report.rows, report.accepted, report.created, report.updated) == (6, 4, 3, 0)
    assert [r.row for r in report.rejected] == [4, 7]
    assert "ISBN：ISBN 校验位不正确" in report.rejected[0].reason and report.rejected[0].title == "校验位错误的书"
    assert "题名：不能为空" in report.rejected[1].reason
    assert [(m.title_id, m.rows, m.existing) for m in report.merged] == [("9787020008735", [2, 6], False)]
    assert await count(deps, "titles") == 0 and await count(deps, "audit") == before

    real = await service.import_titles(deps, ACTOR, data, CSV, dry_run=False)
    assert real.model_dump(exclude={"dry_run"}) == report.model_dump(exclude={"dry_run"})
    assert await count(deps, "titles") == 3
    xyj = await deps.db.titles.find_one({"_id": "9787020008735"})
    assert xyj["title"] == "西游记（重复行）"  # a later non-empty cell wins
    assert (xyj["author"], xyj["price_cents"], xyj["list_year"], xyj["publisher_province"]) == ("吴承恩 著", 4720, 2023, "北京")
    fruit = await deps.db.titles.find_one({"title": "果树栽培技术"})
    assert fruit["_id"] == "9787544220033" and fruit["year"] == 2019 and fruit["category"] == "科技"
    old = await deps.db.titles.find_one({"title": "老版本农业手册"})
    assert old["_id"].startswith("SW") and old["isbn"] is None and old["price_cents"] == 550
    entries = await deps.db.audit.find({"action": "catalog.import"}).to_list()
    assert len(entries) == 1 and entries[0]["changes"]["created"] == 3 and entries[0]["changes"]["rejected"] == 2


async def test_importing_the_same_file_again_changes_nothing(deps):
    data = (DATA / "sample.csv").read_bytes()
    await service.import_titles(deps, ACTOR, data, CSV, dry_run=False)
    before = await count(deps, "titles")
    again = await service.import_titles(deps, ACTOR, data, CSV, dry_run=False)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert sorted(m.existing for m in again.merged) == [True, True, True]
    assert await count(deps, "titles") == before


async def test_a_row_naming_a_catalogued_title_merges_into_it(deps):
    await service.create_title(deps, ACTOR, TitleInput(isbn="9787109000056", title="葡萄栽培", price_cents=1200))
    data = "ISBN,书名,分类号,定价\n978-7-109-00005-6,葡萄栽培,S663.1,\n".encode()
    report = await service.import_titles(deps, ACTOR, data, CSV, dry_run=False)
    assert (report.created, report.updated) == (0, 1)
    assert report.merged[0].existing and report.merged[0].title_id == "9787109000056"
    doc = await deps.db.titles.find_one({"_id": "9787109000056"})
    assert doc["clc"] == "S663.1" and doc["category"] == "科技" and doc["price_cents"] == 1200  # empty cell kept


async def test_gbk_csv_and_english_headers(deps):
    data = "isbn;title;author;price;format\n9787109000063;养猪技术;赵六;12.5元;图书\n".encode("gb18030")
    report = await service.import_titles(deps, ACTOR, data, "text/csv; charset=gbk", dry_run=True)
    assert report.accepted == 1 and not report.rejected


async def test_xlsx_with_a_caption_row_numbers_and_dates(deps):
    data = xlsx_bytes([
        ["2024年农家书屋补充书目"],
        ["ISBN", "书名", "作者", "出版社", "出版时间", "中图法分类号", "价格", "载体", "少儿", "备注"],
        [9787109000070, "小猪佩奇", "英国某公司", "少儿出版社", datetime(2018, 6, 1), "J238.2", 19.8, "图书", "是", "x"],
        [9787109000087, "光盘教程", None, None, 2020, "S-49", "CNY-5", "光盘", None, None],
        [None, None, None, None, None, None, None, None, None, None],
        [9787109000094, "期刊合订本", None, None, "二〇二〇", None, None, "杂志", "maybe", None],
    ])
    report = await service.import_titles(deps, ACTOR, data, XLSX, dry_run=True)
    assert report.file_format == "xlsx" and report.rows == 3 and report.accepted == 1
    assert report.ignored_columns == ["备注"]
    rejected = {r.row: r for r in report.rejected}
    assert set(rejected) == {4, 6}
    assert rejected[4].reason.startswith("价格：") and "负数" in rejected[4].fields["price_cents"]
    assert set(rejected[6].fields) == {"year", "children"}
    real = await service.import_titles(deps, ACTOR, data, XLSX, dry_run=False)
    assert real.created == 1
    peppa = await deps.db.titles.find_one({"_id": "9787109000070"})
    assert (peppa["year"], peppa["price_cents"], peppa["children"], peppa["category"]) == (2018, 1980, True, "少儿")


async def test_cnmarc_round_trip(deps):
    good = marc_record({
        "010": {"a": "978-7-109-00010-0", "d": "CNY35.00"},
        "200": {"a": "玉米高产栽培", "f": "孙七著"},
        "210": {"a": "北京", "c": "中国农业出版社", "d": "2021.3"},
        "690": {"a": "S513", "v": "5"},
        "701": {"a": "孙七"},
    })
    no_f = marc_record({"010": {"a": "9787109000117"}, "200": {"a": "养蜂技术"}, "701": {"a": "周八"},
                        "690": {"a": "S89"}})
    bad = marc_record({"010": {"a": "9787109000118"}, "200": {"a": "校验位错误"}})
    serial = marc_record({"200": {"a": "农村百事通"}, "210": {"c": "农村百事通杂志社", "d": "2023"}}, leader7="s")
    report = await service.import_titles(deps, ACTOR, marc_bytes(good, no_f, bad, serial), MARC, dry_run=False)
    assert report.file_format == "marc" and (report.rows, report.accepted, report.created) == (4, 3, 3)
    assert [(r.row, r.title) for r in report.rejected] == [(3, "校验位错误")]
    corn = await deps.db.titles.find_one({"_id": "9787109000100"})
    assert (corn["title"], corn["author"], corn["publisher"], corn["year"], corn["clc"], corn["price_cents"]) == (
        "玉米高产栽培", "孙七", "中国农业出版社", 2021, "S513", 3500)
    bees = await deps.db.titles.find_one({"_id": "9787109000117"})
    assert bees["author"] == "周八" and bees["category"] == "科技"
    paper = await deps.db.titles.find_one({"title": "农村百事通"})
    assert paper["format"] == "periodical" and paper["_id"].startswith("SW")


async def test_a_truncated_marc_file_keeps_the_good_records(deps):
    first = marc_record({"010": {"a": "9787109000124"}, "200": {"a": "草莓种植"}})
    second = marc_record({"010": {"a": "9787109000131"}, "200": {"a": "西瓜种植"}})
    data = marc_bytes(first, second)[:-40]
    report = await service.import_titles(deps, ACTOR, data, MARC, dry_run=True)
    assert report.accepted == 1 and report.rejected[0].row == 2 and "损坏" in report.rejected[0].reason


@pytest.mark.parametrize(("data", "ctype", "code"), [
    (b"", CSV, "empty_file"),
    (b"  \n ", CSV, "empty_file"),
    (b"\x00\x01\x02garbage", CSV, "unreadable_file"),
    ("作者,出版社\n张三,某社\n".encode(), CSV, "no_title_column"),
    (b"PK\x03\x04 not really a zip", XLSX, "unreadable_file"),
    (b"hello, this is not marc", MARC, "unreadable_file"),
])
async def test_unreadable_files_are_refused_whole(deps, data, ctype, code):
    titles, audits = await count(deps, "titles"), await count(deps, "audit")
    with pytest.raises(InvalidInput) as caught:
        await service.import_titles(deps, ACTOR, data, ctype, dry_run=False)
    assert caught.value.code == code and caught.value.errors
    assert (await count(deps, "titles"), await count(deps, "audit")) == (titles, audits)


async def test_unknown_content_type(deps):
    with pytest.raises(UnsupportedMediaType):
        await service.import_titles(deps, ACTOR, b"{}", "application/json", dry_run=True)


async def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_ROWS", 3)
    data = ("书名\n" + "".join(f"书{i}\n" for i in range(5))).encode()
    with pytest.raises(InvalidInput) as caught:
        imports.parse(data, "csv")
    assert caught.value.code == "too_many_rows"


async def test_a_big_import_is_a_fixed_number_of_commands(deps, command_counter):
    from tests.catalog.synthetic import rows

    lines = ["ISBN,题名,作者,出版社,出版年,中图法分类号,价格"]
    lines += [f"{r['isbn']},{r['title']},{r['author']},{r['publisher']},{r['year']},{r['clc']},{r['price_cents'] / 100}"
              for r in rows(300, seed=11)]
    data = "\n".join(lines).encode()
    command_counter.reset()
    report = await service.import_titles(deps, ACTOR, data, CSV, dry_run=False)
    assert report.created == 300 and not report.rejected
    names = [c.split(":")[0] for c in command_counter.commands]
    assert names.count("find") <= 2 and names.count("update") + names.count("insert") <= 2, names
    assert len(names) <= 10, names
