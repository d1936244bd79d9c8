"""Packing a room's order into boxes, and box codes. Pure: plain data in, plain data out."""

from __future__ import annotations

import re
from typing import Any

BOX_CODE = re.compile(r"^SHP-(\d{4})-([A-Za-z0-9-]+)-(\d{2,3})$")


def box_code(year: int, room: str, number: int) -> str:
    """``SHP-<year>-<room>-<nn>``: what the box's QR code carries (numbered from 01)."""
    return f"SHP-{year}-{room}-{number:02d}"


def pack_boxes(lines: list[dict[str, Any]], *, year: int, room: str, box_size: int) -> list[dict[str, Any]]:
    """Fill boxes of at most ``box_size`` copies with ``lines`` ({title_id, copies}), in order.

    A line larger than the room left in a box continues in the next one, so no box is
    over the limit and every copy is in exactly one box.
    """
    if box_size < 1:
        raise ValueError("box_size must be at least 1")
    boxes: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    room_left = box_size
    for line in lines:
        left = int(line["copies"])
        while left > 0:
            take = min(left, room_left)
            current.append({"title_id": line["title_id"], "copies": take})
            left -= take
            room_left -= take
            if room_left == 0:
                boxes.append({"code": box_code(year, room, len(boxes) + 1), "lines": current})
                current, room_left = [], box_size
    if current:
        boxes.append({"code": box_code(year, room, len(boxes) + 1), "lines": current})
    return boxes


def copies_by_title(boxes: list[dict[str, Any]]) -> dict[str, int]:
    """Copies per title over ``boxes``."""
    out: dict[str, int] = {}
    for box in boxes:
        for line in box["lines"]:
            out[line["title_id"]] = out.get(line["title_id"], 0) + int(line["copies"])
    return out
