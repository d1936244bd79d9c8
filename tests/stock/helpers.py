"""Small builders shared by the stock tests."""

from __future__ import annotations

import itertools
import uuid

_serial = itertools.count(1)


def op() -> str:
    return uuid.uuid4().hex


def isbn13(n: int, *, prefix: str = "978751") -> str:
    body = f"{prefix}{n:06d}"
    total = sum((1 if i % 2 == 0 else 3) * int(d) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


async def new_title(db, name: str = "测试书", *, prefix: str = "978751") -> str:
    """A catalog entry for a fresh ISBN (each module has its own database, so the counter suffices)."""
    title_id = isbn13(next(_serial), prefix=prefix)
    await db.titles.insert_one({"_id": title_id, "title": f"{name}{title_id[-4:]}", "author": "佚名", "format": "book"})
    return title_id


async def counts(db, room: str, title_id: str) -> tuple[int, int, int, int]:
    """(on_shelf, on_loan, in_transit, lost) of ``title_id`` in ``room``."""
    h = await db.holdings.find_one({"room": room, "title_id": title_id}) or {}
    return h.get("on_shelf", 0), h.get("on_loan", 0), h.get("in_transit", 0), h.get("lost", 0)
