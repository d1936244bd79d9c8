"""Inspectors' photos of a visit: checking an upload and making the copy we keep.

The same rules as the contest's pictures (``miniprogram_api.contest.files``), reused
rather than copied: JPEG or PNG only (HEIC, which iPhones take, is refused — the phone
page converts every photo to JPEG in the browser before sending it), magic bytes must
agree, Pillow decodes the whole picture within a pixel budget, and the kept copy is a
JPEG re-encoded from the pixels alone, so EXIF (GPS position, camera, time) is gone.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from miniprogram_api.contest import files

if TYPE_CHECKING:
    from server.config import Settings

# Up to 8 MB; but the HTTP server itself takes at most max_body_bytes × 4 (4 MiB by
# default) and drops the connection past that, so the limit stays a little below its cap
# (SERVER_CAP_SHARE), where an oversized photo still gets a 413 answer the page can show.
PHOTO_MAX_BYTES = 8_000_000
SERVER_CAP_SHARE = 0.95
STORED_TYPE = files.STORED_TYPE
CleanImage = files.CleanImage


def upload_limit(settings: Settings) -> int:
    """The largest photo body accepted, in bytes."""
    return min(PHOTO_MAX_BYTES, int(settings.max_body_bytes * 4 * SERVER_CAP_SHARE))


def check_upload(content_type: str | None, size: int, limit: int) -> None:
    """Refuse before decoding: 415 for a type other than JPEG/PNG, 413 past ``limit``,
    422 for an empty body."""
    files.check_declared_type(content_type, size, limit)


async def clean_photo(data: bytes) -> CleanImage:
    """The copy we keep (InvalidInput naming ``body`` for anything not a whole picture)."""
    return await asyncio.to_thread(files.clean_image, data)
