"""Printed and exported rating documents: the honour certificate of an awarded entry and the
plaques' text (PDF, WeasyPrint), the results table (xlsx). Pure: documents in, bytes out;
CPU-bound, so call them in a thread. Nothing is fetched from outside (no URL is allowed).

Chinese needs a CJK font on the machine ("Noto Sans CJK SC", Debian ``fonts-noto-cjk``).
"""

from __future__ import annotations

import io
from datetime import date
from functools import cache
from typing import Any

import jinja2
import weasyprint
from openpyxl import Workbook
from openpyxl.styles import Font
from weasyprint.urls import URLFetcher

from training.ratings.models import ENTRY_STATUS_LABELS, KIND_LABELS, OUTCOME_LABELS

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FONT = '"Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif'

_CERTIFICATE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page { size: A4 landscape; margin: 14mm; }
body { font-family: {{ font|safe }}; color: #5a1a10; }
.frame { border: 3mm double #b8860b; height: 170mm; padding: 14mm 22mm; box-sizing: border-box; text-align: center; }
h1 { font-size: 40pt; letter-spacing: 16pt; margin: 6mm 0 10mm; color: #b22222; }
.holder { font-size: 22pt; margin: 0 0 8mm; }
.text { font-size: 17pt; line-height: 1.9; text-align: left; text-indent: 2em; margin: 0 8mm; }
.title { font-size: 26pt; font-weight: bold; color: #b22222; margin: 8mm 0; }
.foot { margin-top: 12mm; text-align: right; font-size: 15pt; line-height: 1.8; }
.no { position: absolute; left: 26mm; bottom: 22mm; font-size: 10pt; color: #777; }
</style></head><body><div class="frame">
<h1>荣誉证书</h1>
<p class="holder">{{ holder }}：</p>
<p class="text">{{ reason }}</p>
<p class="title">{{ honour }}</p>
<div class="foot">{{ issuer }}<br>{{ issued_on }}</div>
<div class="no">证书编号：{{ number }}</div>
</div></body></html>"""

_PLAQUES = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page { size: A4 landscape; margin: 20mm; }
body { font-family: {{ font|safe }}; }
.plaque { page-break-after: always; height: 165mm; border: 2mm solid #8b0000; text-align: center;
  padding-top: 26mm; box-sizing: border-box; color: #8b0000; }
.plaque:last-child { page-break-after: auto; }
.honour { font-size: 44pt; font-weight: bold; letter-spacing: 6pt; }
.name { font-size: 30pt; margin: 14mm 0; color: #222; }
.issuer { font-size: 22pt; }
.note { font-size: 10pt; color: #888; margin-top: 12mm; }
</style></head><body>
{% for p in plaques %}<div class="plaque"><div class="honour">{{ p.honour }}</div>
<div class="name">{{ p.name }}</div><div class="issuer">{{ p.issuer }} {{ p.year }}年</div>
<div class="note">牌匾文字 · {{ p.number }}</div></div>
{% else %}<div class="plaque"><div class="name">本次评选没有获评对象</div></div>{% endfor %}
</body></html>"""


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.DictLoader({"certificate.html": _CERTIFICATE, "plaques.html": _PLAQUES}),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _pdf(template: str, **context: Any) -> bytes:
    html = _environment().get_template(template).render(font=FONT, **context)
    pdf = weasyprint.HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=set(), fail_on_errors=False)
                          ).write_pdf()
    assert pdf is not None
    return pdf


def honour(district: str, round_doc: dict[str, Any]) -> str:
    """e.g. 津南区示范农家书屋 (a city-level round: 天津市…, the city being where the district is)."""
    prefix = district if round_doc["level"] == "district" else "天津市"
    return f"{prefix}{KIND_LABELS[round_doc['kind']]}"


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def certificate_pdf(round_doc: dict[str, Any], entry: dict[str, Any], *, district: str, issuer: str,
                    issued_on: date) -> bytes:
    """One honour certificate (A4 landscape) for an awarded or nominated entry."""
    title = honour(district, round_doc)
    reason = (f"在{round_doc['year']}年度{round_doc['title'].removeprefix(str(round_doc['year']) + '年度')}中，"
              f"经申报、镇街初审、区级评审和社会公示，被评为")
    if entry.get("outcome") == "nominated":
        reason = reason.replace("被评为", "被评为（并推荐参加上一级评选）")
    holder = entry["subject"]["name"]
    if entry["subject"]["type"] == "staff":
        holder = f"{holder}同志（{entry.get('room_name') or entry['subject']['room']}）"
    return _pdf("certificate.html", holder=holder, reason=reason, honour=title, issuer=issuer,
                issued_on=chinese_date(issued_on), number=entry.get("certificate_no") or "")


def plaques_pdf(round_doc: dict[str, Any], entries: list[dict[str, Any]], *, district: str, issuer: str) -> bytes:
    """The plaques' text, one per page: 津南区示范农家书屋 · <name> · 津南区图书馆 <year>年."""
    title = honour(district, round_doc)
    plaques = [{"honour": title, "name": e["subject"]["name"], "issuer": issuer, "year": round_doc["year"],
                "number": e.get("certificate_no") or ""} for e in entries]
    return _pdf("plaques.html", plaques=plaques)


def results_xlsx(round_doc: dict[str, Any], entries: list[dict[str, Any]], rooms: dict[str, dict[str, Any]]) -> bytes:
    """Rank, name, town, room, each criterion's score, total, status and outcome (Chinese headers)."""
    criteria = round_doc["rubric"]["criteria"]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{round_doc['year']}评选结果"[:31]
    sheet.append(["名次", "申报对象", "镇街", "书屋", *[f"{c['label']}（权重{c['weight']:g}）" for c in criteria],
                  "总分", "状态", "结果", "证书编号"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    ordered = sorted(entries, key=lambda e: (e.get("rank") or 10**9, e["subject_key"]))
    for e in ordered:
        scores = e.get("scores") or {}
        room = rooms.get(e["subject"]["room"]) or {}
        sheet.append([e.get("rank"), e["subject"]["name"], e["town"], room.get("name", e["subject"]["room"]),
                      *[scores.get(c["key"]) for c in criteria], e.get("total"),
                      ENTRY_STATUS_LABELS.get(e["status"], e["status"]),
                      OUTCOME_LABELS.get(e.get("outcome") or "", ""), e.get("certificate_no") or ""])
    for index, width in enumerate((6, 22, 12, 22, *[12] * len(criteria), 8, 12, 14, 20), start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
