"""Award certificates as PDF: an HTML template (jinja2, autoescaped) laid out by WeasyPrint.

Chinese text needs a CJK font on the machine (Debian ``fonts-noto-cjk``; ``ops/test``
installs it), or it prints as empty boxes. The template loads nothing from outside: the
URL fetcher refuses every URL, so no text a family typed can make the server fetch one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path

import jinja2
import weasyprint
from weasyprint.urls import URLFetcher

TEMPLATES = Path(__file__).resolve().parent / "templates"
HEADING = "荣誉证书"


@dataclass(frozen=True)
class Certificate:
    """What one certificate says. ``holder`` is "author" or "teacher" (优秀指导老师)."""

    holder: str
    issuer: str  # the district library, e.g. 天津市津南区图书馆
    contest_title: str
    author_name: str
    school: str | None
    category: str
    group: str
    award: str
    work_title: str
    issued_on: date
    number: str
    teacher_name: str | None = None
    teacher_school: str | None = None


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def certificate_html(cert: Certificate) -> str:
    values = {**asdict(cert), "issued_on": chinese_date(cert.issued_on), "heading": HEADING}
    return _environment().get_template("certificate.html").render(**values)


def render_pdf(cert: Certificate) -> bytes:
    """The certificate as PDF bytes (A4 landscape). CPU-bound: call it in a thread."""
    fetcher = URLFetcher(allowed_protocols=set(), fail_on_errors=False)
    pdf = weasyprint.HTML(string=certificate_html(cert), url_fetcher=fetcher).write_pdf()
    assert pdf is not None
    return pdf
