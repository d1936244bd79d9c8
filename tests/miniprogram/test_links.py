"""Every mini-program page the backend sends people to (subscribe messages, room QR codes)
exists in miniprogram/app.json — a message that opens a missing page is a dead end."""

from __future__ import annotations

import json
from pathlib import Path

from miniprogram_api.books import suggestions
from miniprogram_api.challenges import reading
from miniprogram_api.contest import judging
from miniprogram_api.notify import reminders
from miniprogram_api.roomcodes import models as roomcodes
from server.circulation import holds
from training.ratings import service as ratings

APP_JSON = Path(__file__).resolve().parents[2] / "miniprogram" / "app.json"
LINKED = {
    "hold ready": holds.HOLDS_PAGE,
    "due tomorrow / overdue": reminders.LOANS_PAGE,
    "suggestion status": suggestions.PAGE,
    "challenge milestone": reading.CHALLENGE_PAGE,
    "contest result": judging.RESULT_PAGE,
    "room QR code": roomcodes.ROOM_PAGE,
    "书香之家 result": ratings.FAMILY_RESULT_PAGE,
}


def test_every_linked_page_is_in_app_json() -> None:
    pages = set(json.loads(APP_JSON.read_text(encoding="utf-8"))["pages"])
    missing = {why: page for why, page in LINKED.items() if page.split("?", 1)[0] not in pages}
    assert not missing, f"pages the backend links to but the mini-program lacks: {missing}"


def test_the_room_code_opens_a_page_without_a_query() -> None:
    # getwxacodeunlimit takes a bare page path; the room travels in the scene.
    assert "?" not in roomcodes.ROOM_PAGE
