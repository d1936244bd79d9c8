"""Catalog imports: CSV, Excel (.xlsx) and ISO 2709 CNMARC/UNIMARC files → validated
rows and a report. Pure: bytes in, plain data out; the service does the I/O.

Every data row ends up either accepted (possibly folded into another row that names
the same title) or rejected with its row number and every reason; a bad row never
stops the good ones. A file that cannot be read at all (not CSV/Excel/MARC, no
title column, too many rows) is refused as a whole with InvalidInput.

Row numbers are what a person sees: a spreadsheet's row number (the header row is
1, or wherever it was found), a MARC file's record number (from 1).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import ValidationError

from server.catalog.models import MergedDuplicate, RejectedRow, TitleInput, parse_price_cents
from server.catalog.searchkeys import normalize
from server.errors import FieldProblem, InvalidInput

FileFormat = Literal["csv", "xlsx", "marc"]
MAX_IMPORT_ROWS = 20_000
HEADER_SEARCH_ROWS = 10  # a sheet may have a caption above its header row

CONTENT_TYPES: dict[str, FileFormat] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/plain": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/marc": "marc",
    "application/marc21": "marc",
    "application/x-iso2709": "marc",
}

# Column header (normalised: NFKC, lower case, no spaces or punctuation) → field.
HEADERS: dict[str, str] = {}
for _field, _names in {
    "isbn": "isbn isbn号 国际标准书号 书号 标准书号 isbn13 isbn10",
    "title": "题名 书名 正题名 刊名 名称 title 书刊名称 图书名称",
    "author": "责任者 作者 著者 编著者 第一责任者 author 作者译者",
    "publisher": "出版社 出版者 出版单位 出版发行 publisher",
    "year": "出版年 出版年份 出版时间 出版日期 year 出版年月",
    "clc": "中图法分类号 中图分类号 分类号 中图法 索书号 clc",
    "price_cents": "价格 定价 单价 price 价格元 定价元",
    "category": "类别 六大类 分类类别 图书类别 category",
    "format": "载体 载体类型 文献类型 format 类型",
    "list_year": "推荐目录年份 推荐目录 推荐年份 listyear list_year",
    "publisher_province": "出版社所在省 出版社所在省份 出版省份 出版地省份 publisherprovince publisher_province",
    "children": "少儿 适读对象 读者对象 children",
}.items():
    for _name in _names.split():
        HEADERS[normalize(_name)] = _field

FIELD_LABELS = {
    "isbn": "ISBN", "title": "题名", "author": "责任者", "publisher": "出版社", "year": "出版年",
    "clc": "中图法分类号", "price_cents": "价格", "category": "类别", "format": "载体",
    "list_year": "推荐目录年份", "publisher_province": "出版社所在省", "children": "少儿",
}
FORMAT_ALIASES = {
    "book": "book", "图书": "book", "书": "book", "普通图书": "book", "书籍": "book",
    "periodical": "periodical", "报刊": "periodical", "期刊": "periodical", "杂志": "periodical",
    "报纸": "periodical", "连续出版物": "periodical",
    "audiovisual": "audio_visual", "audio_visual": "audio_visual", "音像": "audio_visual",
    "音像制品": "audio_visual", "电子音像": "audio_visual", "电子音像制品": "audio_visual", "光盘": "audio_visual",
    "dvd": "audio_visual", "cd": "audio_visual", "vcd": "audio_visual", "磁带": "audio_visual",
}
CATEGORY_ALIASES = {
    "政经": "政经", "政治经济": "政经", "政治": "政经", "经济": "政经", "党政": "政经",
    "科技": "科技", "科学技术": "科技", "科普": "科技", "农业科技": "科技",
    "生活": "生活", "生活类": "生活", "文化": "文化", "文化教育": "文化", "文学": "文化", "文艺": "文化",
    "少儿": "少儿", "少年儿童": "少儿", "少儿读物": "少儿", "儿童": "少儿", "其他": "其他", "其它": "其他",
}
YES = {"是", "yes", "y", "true", "1", "少儿", "儿童", "少年儿童", "青少年"}
NO = {"否", "no", "n", "false", "0", "成人", "一般", "普通", ""}
# 200$f carries the statement of responsibility ("吴承恩著"); drop the trailing role.
_ROLE_TAIL = re.compile(r"\s*[等]?(?:编著|主编|编写|编译|选编|改编|整理|著|编|译|绘|撰|注|文|图)+\s*$")


@dataclass
class Row:
    """One data row: where it is and what it says (field → raw value)."""

    number: int
    values: dict[str, Any]


@dataclass
class ParsedFile:
    file_format: FileFormat
    rows: list[Row]
    rejected: list[RejectedRow] = field(default_factory=list)  # rows that could not even be read
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class Group:
    """Accepted rows that name one title, folded into one input (later cells win)."""

    key: str  # the ISBN-13, or "~" + identity key for an item without an ISBN
    rows: list[int]
    given: dict[str, Any]  # validated fields the rows gave (absent = not given)

    @property
    def isbn(self) -> str | None:
        value = self.given.get("isbn")
        return str(value) if value else None


def refuse(detail: str, code: str, msg: str) -> InvalidInput:
    return InvalidInput(detail, code=code, errors=[FieldProblem(("body",), msg)])


def detect_format(content_type: str | None) -> FileFormat:
    ctype = (content_type or "").split(";")[0].strip().lower()
    found = CONTENT_TYPES.get(ctype)
    if found is None:
        from server.errors import UnsupportedMediaType

        raise UnsupportedMediaType(
            "请上传 CSV、Excel（.xlsx）或 ISO 2709 MARC 文件", code="unsupported_import_format",
            errors=[FieldProblem(("header", "Content-Type"),
                                 "应为 text/csv、application/vnd.openxmlformats-officedocument.spreadsheetml.sheet "
                                 "或 application/marc")])
    return found


def parse(data: bytes, file_format: FileFormat) -> ParsedFile:
    """Read the rows of an upload. Raises InvalidInput if the file is empty or unreadable."""
    if not data or not data.strip():
        raise refuse("上传的文件是空的", "empty_file", "文件没有内容")
    if file_format == "csv":
        return _parse_table(_csv_rows(data), "csv")
    if file_format == "xlsx":
        return _parse_table(_xlsx_rows(data), "xlsx")
    return _parse_marc(data)


# -- tables ------------------------------------------------------------------


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise refuse("文件不是文本格式的 CSV", "unreadable_file", "含有二进制内容")
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise refuse("无法识别 CSV 文件的编码（应为 UTF-8 或 GBK）", "unreadable_file", "编码无法识别")


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = _decode_text(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise refuse(f"CSV 格式有误（第 {reader.line_num} 行）", "unreadable_file", str(exc)[:200]) from None


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles it does not know
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, TypeError) as exc:
        raise refuse("不是有效的 Excel（.xlsx）文件", "unreadable_file", type(exc).__name__) from None
    try:
        sheet = book.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(cells)
    finally:
        book.close()


def _header_field(cell: Any) -> str | None:
    return HEADERS.get(normalize(str(cell))) if cell is not None else None


def _parse_table(lines: Iterator[tuple[int, list[Any]]], file_format: FileFormat) -> ParsedFile:
    columns: dict[int, str] | None = None
    ignored: list[str] = []
    rows: list[Row] = []
    for number, cells in lines:
        if columns is None:
            found = {i: f for i, c in enumerate(cells) if (f := _header_field(c))}
            if "title" in found.values():
                columns = {}
                for i, name in found.items():
                    if name not in columns.values():  # the first of two same-meaning columns wins
                        columns[i] = name
                ignored = [str(c).strip() for i, c in enumerate(cells)
                           if i not in columns and c is not None and str(c).strip()]
            elif number >= HEADER_SEARCH_ROWS:
                break
            continue
        if all(_blank(c) for c in cells):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise refuse(f"文件超过 {MAX_IMPORT_ROWS} 行，请拆分后分批导入", "too_many_rows",
                         f"最多 {MAX_IMPORT_ROWS} 行")
        rows.append(Row(number, {name: cells[i] for i, name in columns.items() if i < len(cells)}))
    if columns is None:
        raise refuse(f"前 {HEADER_SEARCH_ROWS} 行中没有找到表头（至少要有“题名”或“书名”列）", "no_title_column",
                     "缺少题名列")
    return ParsedFile(file_format, rows, ignored_columns=ignored)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- MARC --------------------------------------------------------------------


def _parse_marc(data: bytes) -> ParsedFile:
    from pymarc import MARCReader, Record
    from pymarc.exceptions import FatalReaderError

    if not re.fullmatch(rb"\d{5}", data[:5]):
        raise refuse("不是 ISO 2709 格式的 MARC 文件", "unreadable_file", "记录头应以 5 位记录长度开始")
    reader = MARCReader(data, to_unicode=True, force_utf8=True, utf8_handling="strict")
    rows: list[Row] = []
    rejected: list[RejectedRow] = []
    for number, record in enumerate(reader, start=1):
        if number > MAX_IMPORT_ROWS:
            raise refuse(f"文件超过 {MAX_IMPORT_ROWS} 条记录，请拆分后分批导入", "too_many_rows",
                         f"最多 {MAX_IMPORT_ROWS} 条")
        if record is None and isinstance(reader.current_exception, UnicodeDecodeError):
            try:  # older CNMARC is GB2312/GBK-encoded
                record = Record(reader.current_chunk, to_unicode=True, force_utf8=False, file_encoding="gb18030")
            except Exception:  # noqa: BLE001 — any failure is reported on the row below
                record = None
        if record is None:
            exc = reader.current_exception
            fatal = isinstance(exc, FatalReaderError)
            reason = f"第 {number} 条记录无法读取（{type(exc).__name__}）"
            if fatal:
                reason += "；文件在此处损坏，其后的内容无法读取"
            rejected.append(RejectedRow(row=number, reason=reason))
            if fatal:
                break
            continue
        rows.append(Row(number, marc_values(record)))
    if not rows:
        if rejected:  # not one record could be read: this is not a MARC file we understand
            raise refuse("无法读取 MARC 文件：" + rejected[0].reason, "unreadable_file", "没有可读取的记录")
        raise refuse("MARC 文件中没有记录", "empty_file", "没有记录")
    return ParsedFile("marc", rows, rejected)


def _sub(record: Any, tag: str, code: str) -> str | None:
    for fld in record.get_fields(tag):
        for value in fld.get_subfields(code):
            if value and value.strip():
                return str(value).strip()
    return None


def marc_values(record: Any) -> dict[str, Any]:
    """The catalog fields of one CNMARC/UNIMARC record: 010$a ISBN, 010$d price,
    200$a title, 200$f (else 70x/71x$a) author, 210$c publisher, 210$d year, 690$a 中图法."""
    values: dict[str, Any] = {
        "isbn": _sub(record, "010", "a"),
        "price_cents": _sub(record, "010", "d"),
        "title": _sub(record, "200", "a"),
        "publisher": _sub(record, "210", "c"),
        "year": _sub(record, "210", "d"),
        "clc": _sub(record, "690", "a"),
    }
    author = _sub(record, "200", "f")
    if author:
        author = _ROLE_TAIL.sub("", author) or author
    else:
        for tag in ("701", "700", "702", "711", "710", "712"):
            author = _sub(record, tag, "a")
            if author:
                break
    values["author"] = author
    leader = str(record.leader)
    if len(leader) > 7 and leader[7] == "s":
        values["format"] = "periodical"
    elif len(leader) > 6 and leader[6] in "gij":  # projected medium, sound recordings
        values["format"] = "audio_visual"
    return {k: v for k, v in values.items() if v is not None}


# -- validation --------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps ISBNs and years as numbers
    return unicodedata.normalize("NFKC", str(value)).strip()


def _year(value: Any) -> int:
    if isinstance(value, datetime | date):
        return value.year
    match = re.search(r"(1[89]\d\d|20\d\d|2100)", _text(value))
    if not match:
        raise ValueError("应为四位年份，如 2019")
    return int(match.group())


def _clean(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw cells → values TitleInput accepts; problems the cell shapes already show."""
    out: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, raw in values.items():
        if _blank(raw):
            continue
        try:
            if name in {"year", "list_year"}:
                out[name] = _year(raw)
            elif name == "price_cents":
                out[name] = parse_price_cents(raw if isinstance(raw, int | float) else _text(raw))
            elif name == "format":
                key = normalize(_text(raw)) or _text(raw).lower()
                if key not in FORMAT_ALIASES:
                    raise ValueError("应为 图书、报刊 或 音像制品")
                out[name] = FORMAT_ALIASES[key]
            elif name == "category":
                text = _text(raw)
                if text not in CATEGORY_ALIASES:
                    raise ValueError("应为 政经、科技、生活、文化、少儿 或 其他")
                out[name] = CATEGORY_ALIASES[text]
            elif name == "children":
                text = _text(raw).lower()
                if text not in YES | NO:
                    raise ValueError("应为 是 或 否")
                out[name] = text in YES
            elif name == "isbn":
                text = _text(raw)
                parts = [p for p in re.split(r"[;；,，/、|]+", text) if p.strip()]
                out[name] = parts[0] if parts else text  # a set lists several: the first names it
            else:  # keep the text as written (no NFKC: full-width brackets are the title's)
                out[name] = str(int(raw) if isinstance(raw, float) and raw.is_integer() else raw).strip()
        except ValueError as exc:
            problems[name] = str(exc)
    return out, problems


def validate(row: Row) -> TitleInput | RejectedRow:
    """One row → a TitleInput, or a RejectedRow naming every problem."""
    values, problems = _clean(row.values)
    parsed: TitleInput | None = None
    try:
        parsed = TitleInput.model_validate({k: v for k, v in values.items() if k not in problems})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err["loc"] else "row"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "不能为空"
            elif err["type"] in {"greater_than_equal", "less_than_equal"}:
                msg = "超出合理范围"
            elif err["type"] == "string_too_long":
                msg = "太长"
            problems.setdefault(name, msg)
    if problems or parsed is None:
        reason = "；".join(f"{FIELD_LABELS.get(k, k)}：{v}" for k, v in problems.items())
        title = values.get("title")
        return RejectedRow(row=row.number, reason=reason, fields=problems,
                           title=str(title)[:200] if title else None)
    return parsed


def identity_key(given: dict[str, Any]) -> str:
    """How an item without an ISBN is recognised again: title, author, publisher, year, format."""
    parts = [normalize(str(given.get(k) or "")) for k in ("title", "author", "publisher")]
    return "|".join([*parts, str(given.get("year") or ""), str(given.get("format") or "book")])


def fold(accepted: list[tuple[int, TitleInput]]) -> list[Group]:
    """Group rows naming the same title (same ISBN-13; or, without one, the same
    identity key), in file order; within a group a later non-empty cell wins."""
    groups: dict[str, Group] = {}
    for number, item in accepted:
        given = item.model_dump(include=item.model_fields_set)
        key = given["isbn"] if given.get("isbn") else "~" + identity_key(given)
        group = groups.get(key)
        if group is None:
            groups[key] = Group(key, [number], given)
        else:
            group.rows.append(number)
            group.given.update(given)
    return list(groups.values())


def duplicates(groups: list[Group], existing: dict[str, str]) -> list[MergedDuplicate]:
    """The report's ``merged`` list: groups of several rows, or naming a catalogued title.
    ``existing`` maps the group keys that matched a catalogued title to its id."""
    return [
        MergedDuplicate(title_id=existing.get(g.key, g.isbn), title=str(g.given.get("title", "")), rows=g.rows,
                        existing=g.key in existing)
        for g in groups if len(g.rows) > 1 or g.key in existing
    ]
