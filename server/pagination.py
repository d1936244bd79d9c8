"""Opaque cursors for keyset pagination: the client hands back what it was given."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar

from bson import ObjectId

from server.errors import FieldProblem, InvalidInput

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def encode_cursor(last_key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last_key, ensure_ascii=False).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """The sort key of the last item of the previous page; InvalidInput naming ``cursor`` if forged."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, str | int) for k in key):
        raise InvalidInput(
            "分页游标无效，请从第一页重新开始", code="invalid_cursor",
            errors=[FieldProblem(("query", "cursor"), "无效的分页游标")],
        )
    return key


def decode_id_cursor(cursor: str) -> ObjectId:
    """The ObjectId a newest-first page ended on; InvalidInput naming ``cursor`` if forged."""
    (last,) = decode_cursor(cursor, arity=1)
    if not ObjectId.is_valid(str(last)):
        decode_cursor("", arity=1)  # raises the same InvalidInput as any forged cursor
    return ObjectId(str(last))


def split_page(docs: list[T], limit: int, key: Callable[[T], list[Any]]) -> tuple[list[T], str | None]:
    """Cut a ``limit + 1`` fetch to one page; the cursor is set only when more follow."""
    page = docs[:limit]
    return page, encode_cursor(key(page[-1])) if len(docs) > limit and page else None
