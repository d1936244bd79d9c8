"""Dates in requests: only YYYY-MM-DD is a date here."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BeforeValidator


def _iso_date(v: object) -> object:
    # Pydantic would read "0" as a Unix timestamp (1970-01-01) and accept other odd forms.
    if isinstance(v, str):
        # Converted here: strict (JSON body) validation would refuse the string after a validator.
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError("日期格式应为 YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise ValueError("不是有效的日期") from None
    return v


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
