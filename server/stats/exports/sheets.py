"""One generic Excel writer: a titled sheet with a bold, frozen, filterable header row, column
widths and number formats, real dates, and an optional 说明 (notes) sheet. Pure: plain rows in,
bytes out; CPU-bound, so call it in a thread for big tables."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from server.circulation.rules import LOCAL_TZ

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Number formats (Excel codes).
INT = "#,##0"
DEC1 = "0.0"
DEC2 = "0.00"
PCT = "0.0%"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm"
# Excel refuses these in a sheet name; a name has at most 31 characters.
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
_HEADER_FILL = PatternFill("solid", fgColor="F2EFE8")


@dataclass(frozen=True)
class Column:
    """A column of an exported table: the Chinese header, its width in characters, and the
    number format of its cells (None: General)."""

    header: str
    width: int = 12
    number_format: str | None = None


def sheet_name(title: str) -> str:
    return _SHEET_NAME_BAD.sub("_", title)[:31] or "Sheet1"


def _cell_value(value: Any) -> Any:
    """Excel has no time zones: an aware datetime is written as Asia/Shanghai wall time. Control
    characters a worksheet cannot hold are dropped from text."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def _as_text(row: Any) -> None:
    """Text is never a formula, whatever it starts with (a name like "=HYPERLINK(…)" stays text)."""
    for cell in row:
        if cell.data_type == "f":
            cell.data_type = "s"


def xlsx_table(title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
               notes: Sequence[str] = (), made_at: datetime | None = None) -> bytes:
    """The table ``rows`` under ``columns`` on a sheet named ``title``; then, when ``notes`` are
    given, a 说明 sheet with the title, each note (where the figures come from, the filters
    used) and when the file was made. A row shorter than ``columns`` leaves the rest empty."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_name(title)
    sheet.append([c.header for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    formats = [c.number_format for c in columns]
    count = 0
    for count, row in enumerate(rows, start=1):  # noqa: B007 (count is the number of rows afterwards)
        # cell by cell: ``sheet[n]`` scans the whole sheet each time (quadratic on long tables)
        cells = [sheet.cell(row=count + 1, column=i, value=_cell_value(v)) for i, v in enumerate(row, start=1)]
        _as_text(cells)
        for cell, value, fmt in zip(cells, row, [*formats, *[None] * len(cells)], strict=False):
            if isinstance(value, datetime):
                cell.number_format = fmt or DATETIME
            elif isinstance(value, date):
                cell.number_format = fmt or DATE
            elif fmt and isinstance(value, int | float) and not isinstance(value, bool):
                cell.number_format = fmt
    last = get_column_letter(max(1, len(columns)))
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{last}{count + 1}"
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    if notes:
        info = book.create_sheet("说明")
        info.append([title])
        info["A1"].font = Font(bold=True, size=13)
        for note in notes:
            info.append([_cell_value(note)])
            _as_text(info[info.max_row])
        made = (made_at or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
        info.append([f"导出时间：{made:%Y-%m-%d %H:%M}（北京时间）"])
        info.column_dimensions["A"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
