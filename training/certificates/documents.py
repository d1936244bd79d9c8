"""The printed certificate (PDF, A4 landscape, with a QR code of its public verification
page) and the certificates list as Excel. Pure: plain data in, bytes out; CPU-bound, so
call the renderers in a thread.

Chinese needs a CJK font on the machine ("Noto Sans CJK SC", Debian ``fonts-noto-cjk``).
The URL fetcher allows only ``data:`` URLs (the QR image); nothing is fetched from outside.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from functools import cache
from pathlib import Path

import jinja2
import weasyprint
from openpyxl import Workbook
from openpyxl.styles import Font
from weasyprint.urls import URLFetcher

from distribution.shipments.documents import qr_data_uri
from training.certificates.models import SOURCE_LABELS, CertificateOut

TEMPLATES = Path(__file__).resolve().parent / "templates"
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_HEADERS = ("证书编号", "姓名", "书屋", "课程编号", "课程名称", "类别", "级别", "学时", "颁发日期", "来源", "状态",
                  "作废原因")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def hours_text(hours: float) -> str:
    """8.0 → "8", 1.5 → "1.5"."""
    return f"{hours:g}"


def certificate_pdf(cert: CertificateOut, *, issuer: str, has_quiz: bool) -> bytes:
    """One certificate: the district library, 培训证书, the holder, the course, hours, level,
    date and number, and a QR code of ``cert.verify_url``. A revoked one is marked 已作废."""
    html = _environment().get_template("certificate.html").render(
        c=cert, issuer=issuer, has_quiz=has_quiz, hours=hours_text(cert.hours), issued_on=chinese_date(cert.issued_on),
        qr=qr_data_uri(cert.verify_url))
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=False)
    pdf = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert pdf is not None
    return pdf


def certificates_xlsx(certs: Iterable[CertificateOut]) -> bytes:
    """The certificates list with Chinese headers, one row each."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "培训证书"
    sheet.append(list(EXPORT_HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for c in certs:
        sheet.append([c.number, c.name, "、".join(c.rooms), c.course_code, c.course_title, c.kind_label, c.level_label,
                      c.hours, c.issued_on.isoformat(), SOURCE_LABELS[c.source], "已作废" if c.revoked else "有效",
                      c.revoked_reason or ""])
    for column, width in zip("ABCDEFGHIJKL", (16, 10, 18, 12, 30, 10, 6, 6, 12, 10, 8, 24), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
