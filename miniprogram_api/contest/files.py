"""Pictures of entries (绘画, 手抄报, 硬笔书法, 软笔书法): checking an upload and making the
copy we keep.

An upload is trusted for nothing: the declared type must be JPEG or PNG, the first bytes
must say the same family of format (a phone that labels a PNG as JPEG is forgiven, since
the bytes decide), Pillow must decode the whole picture within a pixel budget, and the
copy we keep is re-encoded from the pixels alone — EXIF (GPS position, camera, time),
XMP, ICC and text chunks are dropped — as one format, JPEG, turned upright first
because the orientation lived in the EXIF that is dropped. The copy is stored in Mongo
under its SHA-256 (``repo.FILES``), never on a path made from anything the user sent.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from server.errors import FieldProblem, InvalidInput, PayloadTooLarge, UnsupportedMediaType

# The HTTP server takes bodies up to max_body_bytes × 4 (4 MiB by default) and drops the
# connection past that; below it we answer 413 ourselves.
IMAGE_MAX_BYTES = 4_000_000
IMAGE_TYPES = ("image/jpeg", "image/png")
STORED_TYPE = "image/jpeg"
# An A3 sheet scanned at 300 dpi is 4961 × 3508 (17.4 megapixels); a phone photo 12–50.
IMAGE_MAX_PIXELS = 50_000_000
IMAGE_MIN_EDGE_PX = 200  # smaller is no picture a judge can look at
# The kept copy: long edge at most 4000 px (A3 at about 240 dpi), JPEG quality 90.
STORED_MAX_EDGE_PX = 4000
STORED_JPEG_QUALITY = 90
STORED_MAX_BYTES = 12 * 1024 * 1024  # well inside MongoDB's 16 MB document limit

_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


@dataclass(frozen=True)
class CleanImage:
    """The copy we keep: JPEG bytes without metadata, and what we know about them."""

    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int
    source_format: str  # "JPEG" or "PNG": what the bytes were, whatever the header said


def sniff(data: bytes) -> str | None:
    """The format the first bytes announce ("JPEG", "PNG") or None."""
    return next((fmt for magic, fmt in _MAGIC.items() if data.startswith(magic)), None)


def check_declared_type(content_type: str | None, size: int, limit: int) -> None:
    """Refuse before decoding: the body's size and declared type."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared not in IMAGE_TYPES:
        raise UnsupportedMediaType("请上传 JPG 或 PNG 格式的图片", code="unsupported_image_type",
                                   errors=[FieldProblem(("header", "Content-Type"), "应为 image/jpeg 或 image/png")])
    if size > limit:
        raise PayloadTooLarge(f"图片不能超过 {limit // 1_000_000} MB，请压缩后再上传", code="body_too_large")
    if size == 0:
        raise InvalidInput("没有收到图片", code="empty_image", errors=[FieldProblem(("body",), "请求体为空")])


def clean_image(data: bytes) -> CleanImage:
    """Decode ``data`` and make the copy we keep (InvalidInput naming ``body`` if it is
    not a whole JPEG or PNG picture of a sensible size). CPU-bound: call it in a thread."""
    fmt = sniff(data)
    if fmt is None:
        raise InvalidInput("上传的文件不是图片，请选择 JPG 或 PNG 图片", code="not_an_image",
                           errors=[FieldProblem(("body",), "文件内容不是 JPEG 或 PNG 图片")])
    try:
        if not _complete(data, fmt):
            raise OSError("truncated")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as opened:
                width, height = opened.size
                if width * height > IMAGE_MAX_PIXELS:
                    raise _too_many_pixels(width, height)
                opened.load()  # decodes every byte: a truncated or damaged file fails here
                picture = ImageOps.exif_transpose(opened)
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(0, 0) from None
    except Exception:  # noqa: BLE001 — Pillow raises many kinds (OSError, SyntaxError, IndexError…) on bad files
        raise InvalidInput("图片已损坏或不完整，请重新拍摄或选择", code="broken_image",
                           errors=[FieldProblem(("body",), "无法解码这张图片")]) from None
    if min(picture.size) < IMAGE_MIN_EDGE_PX:
        raise InvalidInput(f"图片太小了（至少 {IMAGE_MIN_EDGE_PX} 像素宽），请拍清楚整幅作品", code="image_too_small",
                           errors=[FieldProblem(("body",), f"宽和高都至少 {IMAGE_MIN_EDGE_PX} 像素")])
    try:
        picture = _flatten(picture)
        picture.thumbnail((STORED_MAX_EDGE_PX, STORED_MAX_EDGE_PX), Image.Resampling.LANCZOS)
        picture.info = {}  # nothing of the original's metadata may ride along
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=STORED_JPEG_QUALITY, optimize=True)
    except (OSError, ValueError):  # an exotic pixel format (e.g. 16-bit greyscale) we cannot convert
        raise InvalidInput("暂不支持这种图片格式，请换一张 JPG 图片", code="unsupported_image",
                           errors=[FieldProblem(("body",), "无法转换这张图片的像素格式")]) from None
    kept = out.getvalue()
    if len(kept) > STORED_MAX_BYTES:
        raise InvalidInput("图片内容太复杂，请压缩后再上传", code="image_too_large",
                           errors=[FieldProblem(("body",), "处理后的图片仍然太大")])
    return CleanImage(kept, hashlib.sha256(kept).hexdigest(), STORED_TYPE, picture.width, picture.height, fmt)


def _complete(data: bytes, fmt: str) -> bool:
    """Whether the file is whole. Pillow cannot be trusted to say so: WeasyPrint, once
    imported, sets the process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES``, after which a
    cut-off upload decodes "fine" with its missing part painted grey."""
    if fmt == "PNG":
        # verify() reads every chunk to IEND and checks the critical chunks' CRCs.
        with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
            probe.verify()
        return True
    # A JPEG's first picture ends with EOI (FF D9) after its scan data; inside the scan
    # an FF byte is always stuffed (FF 00), so an EOI there is a real one. Trailers that
    # phones add after the EOI (a second, multi-picture frame, vendor data) do no harm.
    scan = data.find(b"\xff\xda")
    return scan != -1 and data.find(b"\xff\xd9", scan) != -1


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB (or greyscale) pixels for JPEG: transparency is laid on white paper."""
    if picture.mode in {"RGB", "L"}:
        return picture.copy()
    if picture.mode in {"RGBA", "LA", "PA"} or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        paper = Image.new("RGB", rgba.size, (255, 255, 255))
        paper.paste(rgba, mask=rgba.getchannel("A"))
        return paper
    return picture.convert("RGB")


def _too_many_pixels(width: int, height: int) -> InvalidInput:
    size = f"（{width}×{height}）" if width else ""
    return InvalidInput(f"图片像素太多{size}，请缩小后再上传", code="image_too_large",
                        errors=[FieldProblem(("body",), f"不超过 {IMAGE_MAX_PIXELS // 1_000_000} 百万像素")])
