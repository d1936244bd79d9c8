"""The rotating attendance code a trainer's phone shows as a QR (pure: no I/O, no clock).

A code is ``SWPX1.<session_id>.<step>.<mac>`` where ``step = floor(unix_time / step_secs)``
and ``mac`` is the first 16 characters of base32(HMAC-SHA256(session secret,
"<session_id>:<step>")). The secret never leaves the server, so only the server can make
a code; the step makes it expire: a code made for step ``s`` is accepted from the start of
``s`` until ``GRACE_SECS`` after ``s`` ends (the QR changed while someone was scanning).
A screenshot passed around later is stale.

Every function takes ``now`` (unix seconds, float) so tests control the clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

CODE_PREFIX = "SWPX1"
MAC_CHARS = 16
# A code made for the step that just ended is still accepted this long into the next one.
GRACE_SECS = 5.0
SECRET_BYTES = 32
_CODE = re.compile(rf"^{CODE_PREFIX}\.([0-9a-f]{{24}})\.(\d{{1,12}})\.([A-Z2-7]{{{MAC_CHARS}}})$")


class Verdict(StrEnum):
    OK = "ok"
    INVALID = "invalid"  # not a code of ours, or its MAC does not match
    STALE = "stale"  # made for an older step, past the grace
    EARLY = "early"  # made for a step that has not begun (a clock far off, or forged)


@dataclass(frozen=True)
class AttendanceCode:
    text: str
    session_id: str
    step: int
    expires_in: float  # seconds until the QR should change


@dataclass(frozen=True)
class ParsedCode:
    session_id: str
    step: int
    mac: str


def new_secret() -> str:
    """A random per-session secret (url-safe text, kept in the session document only)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def step_at(now: float, step_secs: int) -> int:
    return math.floor(now / step_secs)


def code_mac(secret: str, session_id: str, step: int) -> str:
    digest = hmac.new(secret.encode(), f"{session_id}:{step}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:MAC_CHARS]


def make_code(secret: str, session_id: str, now: float, step_secs: int) -> AttendanceCode:
    """The code to show at ``now``."""
    step = step_at(now, step_secs)
    text = f"{CODE_PREFIX}.{session_id}.{step}.{code_mac(secret, session_id, step)}"
    return AttendanceCode(text=text, session_id=session_id, step=step, expires_in=(step + 1) * step_secs - now)


def parse_code(text: str) -> ParsedCode | None:
    """The parts of a scanned code, or None if it is not one of ours. Scanners sometimes add
    whitespace or lower-case the text; both are forgiven (the MAC is base32, upper-case)."""
    match = _CODE.match(text.strip().replace(" ", "")) if len(text) <= 200 else None
    if match is None:
        parts = text.strip().split(".")
        if len(parts) == 4 and parts[0].upper() == CODE_PREFIX:
            match = _CODE.match(f"{CODE_PREFIX}.{parts[1].lower()}.{parts[2]}.{parts[3].upper()}")
    if match is None:
        return None
    return ParsedCode(session_id=match[1], step=int(match[2]), mac=match[3])


def verify_code(code: ParsedCode, secret: str, now: float, step_secs: int, grace_secs: float = GRACE_SECS) -> Verdict:
    """Whether ``code`` (already parsed) is good for its session at ``now``.

    Accepted exactly when ``code.step * step_secs <= now < (code.step + 1) * step_secs + grace_secs``.
    """
    if not hmac.compare_digest(code.mac, code_mac(secret, code.session_id, code.step)):
        return Verdict.INVALID
    start = code.step * step_secs
    if now < start:
        return Verdict.EARLY
    if now >= start + step_secs + grace_secs:
        return Verdict.STALE
    return Verdict.OK
