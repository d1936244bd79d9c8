"""Logging with request ids: every line written while handling a request names it."""

from __future__ import annotations

import contextvars
import logging
import re

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Phone numbers and tokens must never reach a log line.
_SCRUB = (
    (re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
    (re.compile(r"(?i)(bearer\s+|token=|secret=|password=)[^\s&\"']+"), r"\1***"),
)


def acceptable_request_id(value: str | None) -> bool:
    return bool(value and _GOOD_REQUEST_ID.match(value))


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for pattern, repl in _SCRUB:
            text = pattern.sub(repl, text)
        return text


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # PyMongo logs every heartbeat at DEBUG; keep it quiet unless asked.
    logging.getLogger("pymongo").setLevel(max(logging.INFO, root.level))
    # WeasyPrint narrates every step of every PDF at INFO; its warnings still show.
    logging.getLogger("weasyprint").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("fontTools").setLevel(max(logging.WARNING, root.level))
