"""Helpers shared by the circulation tests: valid ISBNs, catalog entries, stock, readers."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from server.readers import service as readers_service
from server.readers.models import ReaderCreate
from server.resources import Deps
from server.staff import service as staff_service
from server.stock import service as stock_service
from server.stock.models import ReceiptIn

_serial = itertools.count(1)
_phones = itertools.count(1)


def op() -> str:
    return uuid.uuid4().hex


def isbn13(body12: str) -> str:
    """A valid ISBN-13 from its first 12 digits."""
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def new_isbn() -> str:
    """A fresh valid ISBN-13 (978-7-…), different on every call: tests never share a title."""
    return isbn13(f"9787{uuid.uuid4().int % 10**8:08d}")


def new_phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


async def add_title(deps: Deps, *, fmt: str = "book", title: str | None = None, category: str | None = None) -> str:
    title_id = new_isbn()
    doc: dict[str, Any] = {"_id": title_id, "title": title or f"测试书{next(_serial)}", "author": "某某", "format": fmt}
    if category:
        doc["category"] = category
    await deps.db.titles.insert_one(doc)
    return title_id


async def receive(deps: Deps, room: str, title_id: str, quantity: int = 1) -> None:
    await stock_service.receive(deps, staff_service.SYSTEM, room, ReceiptIn(
        op_id=op(), lines=[{"title_id": title_id, "quantity": quantity}]))


async def add_reader(deps: Deps, room: str = "JN-XSG-001", *, name: str = "李读者", birth_year: int = 1980,
                     phone: str | None = None, **extra: Any) -> dict[str, Any]:
    """Register a reader through the service (as the system actor); returns the ReaderOut as a dict."""
    data = ReaderCreate(op_id=op(), name=name, phone=phone or new_phone(), birth_year=birth_year, home_room=room,
                        **extra)
    out = await readers_service.register(deps, staff_service.SYSTEM, data)
    return out.reader.model_dump(mode="json")


async def holding(deps: Deps, room: str, title_id: str) -> dict[str, int]:
    doc = await deps.db.holdings.find_one({"room": room, "title_id": title_id}) or {}
    return {k: doc.get(k, 0) for k in ("on_shelf", "on_loan", "in_transit", "lost", "damaged")}


WRITE_COLLECTIONS = ("loans", "holds", "stock_moves", "holdings", "operations", "audit", "loan_stats", "readers")


async def snapshot(deps: Deps) -> dict[str, Any]:
    """Every document circulation can write, to show that a refusal wrote nothing."""
    out = {}
    for name in WRITE_COLLECTIONS:
        out[name] = await deps.db[name].find({}, {"_id": 0, "updated_at": 0}).sort("_id").to_list()
    return out
