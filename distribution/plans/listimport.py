"""The year's recommended list (农家书屋重点出版物推荐目录) from CSV or Excel. Pure: bytes
in, rows and problems out.

Columns (header names as the list prints them; a few usual variants accepted):
ISBN, 书名, 作者, 出版社, 出版社所在省份, 定价, 分类. 分类 is one of the six classes
(政经 科技 生活 文化 少儿 其他, with the catalog's aliases) or a 中图法 class code,
mapped to the six classes by server.catalog.classification.

Every problem names its row (the spreadsheet's row number, header = 1), its column
(as the file's header wrote it) and what is wrong. The file reading itself is the
catalog import's (CSV in UTF-8 or GBK, the first sheet of an .xlsx, header found in
the first rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from server.catalog import imports
from server.catalog.classification import category_for, normalize_clc
from server.catalog.isbn import IsbnError, to_isbn13
from server.catalog.models import normalize_province, parse_price_cents
from server.catalog.searchkeys import normalize
from server.errors import FieldProblem, InvalidInput, UnsupportedMediaType

MAX_LIST_ROWS = 10_000
REQUIRED = ("isbn", "title", "publisher_province", "price_fen", "category")
LABELS = {"isbn": "ISBN", "title": "书名", "author": "作者", "publisher": "出版社", "publisher_province": "出版社所在省份",
          "price_fen": "定价", "category": "分类"}
_NAMES = {
    "isbn": "isbn isbn号 书号 国际标准书号 标准书号",
    "title": "书名 题名 图书名称 书刊名称 正题名 title",
    "author": "作者 责任者 著者 编著者 author",
    "publisher": "出版社 出版单位 出版者 publisher",
    "publisher_province": "出版社所在省份 出版社所在省 出版省份 所在省份 省份",
    "price_fen": "定价 价格 单价 定价元 price",
    "category": "分类 类别 六大类 分类号 中图法分类号 中图分类号 category",
}
HEADERS = {normalize(name): key for key, names in _NAMES.items() for name in names.split()}
CONTENT_TYPES = {"text/csv": "csv", "application/csv": "csv", "text/plain": "csv",
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}


@dataclass
class ListRow:
    row: int
    isbn: str
    title: str
    author: str | None
    publisher: str | None
    publisher_province: str
    price_fen: int
    category: str
    clc: str | None


@dataclass
class ParsedList:
    rows: int = 0
    valid: list[ListRow] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, message)


def detect_format(content_type: str | None) -> str:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype not in CONTENT_TYPES:
        raise UnsupportedMediaType("请上传 CSV 或 Excel（.xlsx）格式的推荐目录", code="unsupported_import_format",
                                   errors=[FieldProblem(("header", "Content-Type"),
                                                        "应为 text/csv 或 application/vnd.openxmlformats-"
                                                        "officedocument.spreadsheetml.sheet")])
    return CONTENT_TYPES[ctype]


def _lines(data: bytes, file_format: str) -> Iterator[tuple[int, list[Any]]]:
    if not data or not data.strip():
        raise imports.refuse("上传的文件是空的", "empty_file", "文件没有内容")
    # The catalog import's readers: the same encodings, sheets and refusals.
    return imports._csv_rows(data) if file_format == "csv" else imports._xlsx_rows(data)  # noqa: SLF001


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() if value is not None else ""


def _category(raw: str) -> str:
    if raw in imports.CATEGORY_ALIASES:
        return imports.CATEGORY_ALIASES[raw]
    clc = normalize_clc(raw)  # ValueError with a Chinese message if it is no class code either
    return category_for(clc)


def _row(number: int, cells: dict[str, Any], labels: dict[str, str]) -> tuple[ListRow | None, list[tuple[int, str, str]]]:
    problems: list[tuple[int, str, str]] = []
    values: dict[str, Any] = {}
    clc: str | None = None
    for key in LABELS:
        raw = _text(cells.get(key))
        column = labels.get(key, LABELS[key])
        if not raw:
            if key in REQUIRED:
                problems.append((number, column, "不能为空"))
            values[key] = None
            continue
        try:
            if key == "isbn":
                values[key] = to_isbn13(raw)
            elif key == "price_fen":
                price = cells.get(key)
                fen = parse_price_cents(price if isinstance(price, int | float) and not isinstance(price, bool) else raw)
                if not fen:
                    raise ValueError("定价应大于 0")
                values[key] = fen
            elif key == "publisher_province":
                values[key] = normalize_province(raw)
            elif key == "category":
                values[key] = _category(raw)
                if raw not in imports.CATEGORY_ALIASES:
                    clc = normalize_clc(raw)
            elif len(raw) > 200:
                raise ValueError("太长（最多 200 字）")
            else:
                values[key] = raw
        except (ValueError, IsbnError) as exc:
            problems.append((number, column, str(exc).removeprefix("Value error, ")))
    if problems:
        return None, problems
    return ListRow(row=number, clc=clc, **values), []


def parse_list(data: bytes, content_type: str | None) -> ParsedList:
    """Every row of the list, valid or with its problems. Raises UnsupportedMediaType for
    an unknown Content-Type and InvalidInput for a file with no header or too many rows."""
    file_format = detect_format(content_type)
    out = ParsedList()
    columns: dict[int, str] | None = None
    labels: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, cells in _lines(data, file_format):
        if columns is None:
            found: dict[int, str] = {}
            for i, cell in enumerate(cells):
                key = HEADERS.get(normalize(_text(cell))) if cell is not None else None
                if key and key not in found.values():
                    found[i] = key
                    labels[key] = _text(cell)
            if {"title", "isbn"} <= set(found.values()):
                columns = found
            elif number >= imports.HEADER_SEARCH_ROWS:
                break
            continue
        if all(not _text(c) for c in cells):
            continue
        out.rows += 1
        if out.rows > MAX_LIST_ROWS:
            raise imports.refuse(f"推荐目录超过 {MAX_LIST_ROWS} 行，请核对文件", "too_many_rows", f"最多 {MAX_LIST_ROWS} 行")
        row, problems = _row(number, {key: cells[i] for i, key in columns.items() if i < len(cells)}, labels)
        if row is not None and row.isbn in seen:
            problems = [(number, labels.get("isbn", "ISBN"), f"与第 {seen[row.isbn]} 行的 ISBN 重复")]
            row = None
        if row is None:
            out.problems.extend(problems)
        else:
            seen[row.isbn] = number
            out.valid.append(row)
    if columns is None:
        raise InvalidInput(f"前 {imports.HEADER_SEARCH_ROWS} 行中没有找到表头（至少要有 ISBN 和 书名 列）",
                           code="no_header", errors=[FieldProblem(("body",), "缺少 ISBN 或书名列")])
    missing = [LABELS[k] for k in REQUIRED if k not in columns.values()]
    if missing:
        raise InvalidInput(f"推荐目录缺少这些列：{'、'.join(missing)}", code="missing_columns",
                           errors=[FieldProblem(("body",), f"缺少 {m} 列") for m in missing])
    return out
