"""The prize draw as plain functions: who is eligible, and a seeded, reproducible pick.

The pick does not depend on Python's random module: each eligible participant id gets
the key SHA-256(seed + ":" + id) and the winners are the ``n`` smallest keys, in that
order. Anyone holding the seed and the eligible list (whose SHA-256 is stored with the
draw) can repeat it with any SHA-256 tool, and the order of the list does not matter.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from typing import Any

ALGORITHM = "sha256-rank-v1: 每个参与者的键为 SHA-256(种子 + \":\" + 参与者编号)，键最小的 n 位中奖（按键从小到大）"


def new_seed() -> str:
    return secrets.token_hex(16)


def eligible_ids(participants: Iterable[Mapping[str, Any]], *, min_total: int, rooms: Collection[str] | None,
                 age_groups: Collection[str] | None, logged_from: date | None, logged_to: date | None,
                 exclude: Collection[str] = ()) -> list[str]:
    """The sorted ids of participants who may win. Each participant is a mapping with
    ``id``, ``total``, ``room``, ``age_group``, ``days`` ({iso date: amount counted}) and
    ``status``. With ``logged_from``/``logged_to``, someone must have a counted amount on
    a day in that range."""
    out = []
    for p in participants:
        if p.get("status", "active") != "active" or p["id"] in exclude or p["total"] < min_total:
            continue
        if rooms is not None and p["room"] not in rooms:
            continue
        if age_groups is not None and p["age_group"] not in age_groups:
            continue
        if (logged_from is not None or logged_to is not None) and not _logged_between(
                p.get("days") or {}, logged_from, logged_to):
            continue
        out.append(str(p["id"]))
    return sorted(out)


def _logged_between(days: Mapping[str, int], start: date | None, end: date | None) -> bool:
    lo, hi = start.isoformat() if start else "", end.isoformat() if end else "9999-12-31"
    return any(amount > 0 and lo <= day <= hi for day, amount in days.items())


def list_hash(ids: Iterable[str]) -> str:
    """SHA-256 (hex) of the ids, sorted, one per line."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def draw_key(seed: str, participant_id: str) -> str:
    return hashlib.sha256(f"{seed}:{participant_id}".encode()).hexdigest()


def pick_winners(ids: Iterable[str], seed: str, n: int) -> list[str]:
    """The ``n`` winners (fewer if fewer are eligible), best key first."""
    return sorted(set(ids), key=lambda i: (draw_key(seed, i), i))[: max(n, 0)]
