"""Demo data: the demo inspector's scores in this year's model-room round.

For the current year's district-level model-room round in district review (seeded by the
ratings demo; nothing happens without one), the demo inspector (``inspector``, of 咸水沽镇)
scores about half of the entries they may score — every other one, skipping their own
town and any other conflict — with one small generated photo each; two in three are
submitted, the rest left as drafts. Idempotent: an entry the inspector has a score for
is left alone, and the op_ids are fixed.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from server.staff import service as staff_service
from server.web.templating import LOCAL_TZ
from training.ratings.inspections import repo, service
from training.ratings.inspections.models import ScoreIn, SubmitIn

if TYPE_CHECKING:
    from server.resources import Deps

DEMO_INSPECTOR = "inspector"


def _photo(seed: int) -> bytes:
    """A small picture of a bookshelf: a few coloured spines on a shelf."""
    picture = Image.new("RGB", (480, 360), (236, 230, 218))
    draw = ImageDraw.Draw(picture)
    for shelf in range(3):
        top = 30 + shelf * 110
        draw.rectangle((20, top + 90, 460, top + 98), fill=(120, 84, 50))
        x = 28
        for i in range(12):
            width = 18 + (seed * 7 + i * 5 + shelf * 3) % 16
            colour = ((seed * 53 + i * 41) % 200 + 30, (i * 67 + shelf * 29) % 200 + 30, (seed * 17 + i * 23) % 200 + 30)
            draw.rectangle((x, top + 10 + (i * 13 + seed) % 20, x + width, top + 89), fill=colour)
            x += width + 4
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=80)
    return out.getvalue()


async def seed_demo(deps: Deps) -> None:
    year = datetime.now(UTC).astimezone(LOCAL_TZ).year
    round_doc = await deps.db[repo.ROUNDS].find_one(
        {"year": year, "kind": "model_room", "level": "district", "status": "district_review"})
    inspector = await deps.db["staff"].find_one({"username": DEMO_INSPECTOR, "active": True})
    if round_doc is None or inspector is None or round_doc.get("locked"):
        return
    actor = staff_service.actor_for(inspector, request_id="seed-demo", ip="")
    entries = await repo.entries_in_running(deps.db, [round_doc["_id"]])
    scorable = sorted((e for e in entries if service.actor_conflict(actor, e) is None), key=lambda e: str(e["_id"]))
    chosen = scorable[::2]
    done = {s["entry_id"] for s in await repo.scores_of_entries(deps.db, [e["_id"] for e in chosen])
            if s["inspector"] == DEMO_INSPECTOR}
    keys = [c["key"] for c in service.inspector_criteria(round_doc)]
    visited_on = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    for n, entry in enumerate(chosen):
        if entry["_id"] in done:
            continue
        eid = str(entry["_id"])
        criteria = {k: float(60 + (n * 7 + i * 11) % 38) for i, k in enumerate(keys)}
        await service.save_draft(deps, actor, eid, ScoreIn(
            op_id=f"demo-inspect-{eid}-draft", criteria=criteria, visited_on=visited_on,
            comment="书架整齐，借阅登记完整，阅读区光线充足。" if n % 2 == 0 else "开放时间公示清楚，建议增加少儿读物。"))
        await service.upload_photo(deps, actor, eid, _photo(n), "image/jpeg")
        if n % 3 != 2:
            await service.submit_score(deps, actor, eid, SubmitIn(op_id=f"demo-inspect-{eid}-submit"))
