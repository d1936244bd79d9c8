"""Printed and exported shipment documents: the packing list and the box labels (PDF, laid
out by WeasyPrint from jinja2 templates, each box's code as a QR code the phone scans) and
the order for the supplier (xlsx). Pure: documents in, bytes out. CPU-bound: call the
renderers in a thread.

Chinese needs a CJK font on the machine ("Noto Sans CJK SC", Debian ``fonts-noto-cjk``).
The URL fetcher allows only ``data:`` URLs (the QR images); nothing is fetched from outside.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import qrcode
import weasyprint
from openpyxl import Workbook
from openpyxl.styles import Font
from weasyprint.urls import URLFetcher

from server.web.templating import local_time

TEMPLATES = Path(__file__).resolve().parent / "templates"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"
SUPPLIER_HEADERS = ("书屋编号", "书屋名称", "ISBN", "书名", "出版社", "定价", "册数", "金额", "箱号")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["yuan"] = yuan
    env.filters["local_time"] = local_time
    return env


def yuan(fen: int) -> str:
    """Fen as yuan for print: 3550 → "35.50" (integer arithmetic, no float)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def qr_data_uri(text: str) -> str:
    """A PNG QR code of ``text`` as a data: URI."""
    image = qrcode.make(text, box_size=6, border=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _pdf(template: str, **context: Any) -> bytes:
    html = _environment().get_template(template).render(**context)
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=False)
    pdf = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert pdf is not None
    return pdf


def _boxes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    titles = {line["title_id"]: line for line in doc["lines"]}
    return [{"code": b["code"], "number": i + 1, "qr": qr_data_uri(b["code"]),
             "copies": sum(bl["copies"] for bl in b["lines"]),
             "lines": [{**bl, "title": titles.get(bl["title_id"], {}).get("title", ""),
                        "publisher": titles.get(bl["title_id"], {}).get("publisher", "")} for bl in b["lines"]]}
            for i, b in enumerate(doc["boxes"])]


def packing_list_pdf(doc: dict[str, Any], room: dict[str, Any], *, district: str, printed_at: datetime) -> bytes:
    """The packing list of one shipment: the room, every line, then what each box holds."""
    return _pdf("packing_list.html", s=doc, room=room, boxes=_boxes(doc), district=district, printed_at=printed_at)


def labels_pdf(doc: dict[str, Any], room: dict[str, Any], *, district: str) -> bytes:
    """One label per box (A6): room name, code and address, box n of N, the QR of the box code."""
    return _pdf("labels.html", s=doc, room=room, boxes=_boxes(doc), district=district)


def supplier_xlsx(plan: dict[str, Any], docs: list[dict[str, Any]]) -> bytes:
    """The order for the supplier: one row per (room, title, box) with the Chinese headers."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{plan.get('year', '')}订单"[:31]
    sheet.append(list(SUPPLIER_HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    copies = fen = 0
    for doc in docs:
        if doc["status"] == "cancelled":
            continue
        lines = {line["title_id"]: line for line in doc["lines"]}
        for box in doc["boxes"]:
            for bl in box["lines"]:
                line = lines[bl["title_id"]]
                amount = bl["copies"] * line["price_fen"]
                sheet.append([doc["room"], doc.get("room_name", ""), bl["title_id"], line["title"],
                              line.get("publisher", ""), line["price_fen"] / 100, bl["copies"], amount / 100,
                              box["code"]])
                copies += bl["copies"]
                fen += amount
    sheet.append(["合计", "", "", "", "", None, copies, fen / 100, ""])
    for column, width in zip("ABCDEFGHI", (14, 20, 16, 36, 24, 9, 7, 11, 24), strict=True):
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=2, min_col=6, max_col=8):
        row[0].number_format = row[2].number_format = "0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
