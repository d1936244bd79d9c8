"""Fixtures for the circulation tests: every module that writes ends with a clean stock ledger
(``pytestmark = pytest.mark.usefixtures("ledger_stays_clean")``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.resources import Deps
from server.stock.service import check_ledger


@pytest.fixture(scope="module")
async def ledger_stays_clean(seeded: Deps) -> AsyncIterator[None]:
    """ARCHITECTURE invariant 1, after every circulation test module: holdings equal the
    fold of the ledger and nothing is negative."""
    yield
    checked, problems = await check_ledger(seeded)
    assert problems == [], [str(p) for p in problems]
