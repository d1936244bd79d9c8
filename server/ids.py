"""ObjectIds from the outside world: a malformed one is bad input, never a 500."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId

from server.errors import FieldProblem, InvalidInput

OBJECT_ID_PATTERN = r"[0-9a-f]{24}"


def parse_object_id(value: str, *, loc: tuple[str, ...]) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise InvalidInput(
            "编号格式不正确", code="invalid_id", errors=[FieldProblem(loc, "应为 24 位十六进制编号")]
        ) from None
