"""Reading the Excel uploads of training (question banks, history records). Pure: bytes in,
rows out; every row keeps its spreadsheet row number (header = 1) for problem reports.

The file reading is the catalog import's (the first sheet of an .xlsx, styles ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from server.catalog import imports
from server.catalog.searchkeys import normalize
from server.errors import FieldProblem, InvalidInput, UnsupportedMediaType

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 5_000
HEADER_SEARCH_ROWS = 5  # the header may sit under a title line or two


@dataclass
class Table:
    """The data rows of a sheet: (row number, {key: cell}) and the header as written."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # key -> the header as the file wrote it


def require_xlsx(content_type: str | None) -> None:
    if (content_type or "").split(";")[0].strip().lower() != XLSX:
        raise UnsupportedMediaType("请上传 Excel（.xlsx）文件", code="unsupported_import_format",
                                   errors=[FieldProblem(("header", "Content-Type"), f"应为 {XLSX}")])


def read_table(data: bytes, headers: Mapping[str, str], required: tuple[str, ...]) -> Table:
    """The rows under the header row of the first sheet. ``headers`` maps a normalized header
    (``searchkeys.normalize``) to a field key. Raises InvalidInput for an empty or unreadable
    file, a missing header or too many rows."""
    if not data or not data.strip():
        raise imports.refuse("上传的文件是空的", "empty_file", "文件没有内容")
    table = Table()
    columns: dict[int, str] | None = None
    for number, cells in imports._xlsx_rows(data):  # noqa: SLF001 - the one xlsx reader
        if columns is None:
            found = {i: headers[normalize(str(c))] for i, c in enumerate(cells)
                     if c is not None and normalize(str(c)) in headers}
            if all(key in found.values() for key in required):
                columns = found
                table.labels = {key: str(cells[i]).strip() for i, key in found.items()}
            elif number >= HEADER_SEARCH_ROWS:
                break
            continue
        values = {key: cells[i] if i < len(cells) else None for i, key in columns.items()}
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values.values()):
            continue
        table.rows.append((number, values))
        if len(table.rows) > MAX_ROWS:
            raise imports.refuse(f"文件行数太多（最多 {MAX_ROWS} 行）", "too_many_rows", f"最多 {MAX_ROWS} 行")
    if columns is None:
        raise InvalidInput("没有找到表头（第一行应为列名）", code="header_missing",
                           errors=[FieldProblem(("body",), "缺少列：" + "、".join(required))])
    return table


def text(value: Any) -> str:
    """A cell as stripped text (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def as_date(value: Any) -> date | None:
    """A date cell, or text like 2015-06-18, 2015/6/18, 2015.6.18 or 2015年6月18日; None if not a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = text(value).replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-").replace(".", "-")
    parts = raw.split("-")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None
