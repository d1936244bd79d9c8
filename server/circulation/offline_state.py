"""The data ``offline_plan`` works on: an operation waiting to be applied, the snapshot of what a
chunk of operations touches, and the plan of writes that carries out their outcomes. Plain data."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from server.staff.roles import Actor
from server.stock.repo import MoveGroup


@dataclass(frozen=True)
class PendingOp:
    """A validated operation waiting to be applied, and where it came from."""

    batch_id: str
    index: int
    device_id: str
    actor: Actor
    op_id: str
    type: str
    at: datetime
    room: str
    title_id: str
    card: str | None = None
    count: int = 1
    catalog: dict[str, Any] = field(default_factory=dict, compare=False)  # title, format, category

    @property
    def key(self) -> tuple[str, int]:
        return (self.batch_id, self.index)

    @property
    def order(self) -> tuple[datetime, str, str, str, int]:
        return (self.at, self.device_id, self.op_id, self.batch_id, self.index)


@dataclass
class Snapshot:
    """What a chunk of operations needs to know, read in its transaction."""

    known_ops: dict[str, dict[str, Any]]          # ``operations`` records of these op_ids
    titles: dict[str, dict[str, Any]]             # by id, with format and category normalised
    readers: dict[str, dict[str, Any]]            # by card number
    holdings: dict[tuple[str, str], dict[str, int]]
    loans: list[dict[str, Any]]                   # open loans of these titles, and those closed since the first t
    holds: list[dict[str, Any]]                   # active holds of these titles
    orphans: list[dict[str, Any]]                 # unresolved return_without_loan conflicts of these titles
    rooms: dict[str, dict[str, Any]]
    holding_ids: dict[tuple[str, str], Any] = field(default_factory=dict)


@dataclass
class Plan:
    """Outcomes and the writes that carry them out."""

    outcomes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    move_groups: list[MoveGroup] = field(default_factory=list)
    new_loans: list[dict[str, Any]] = field(default_factory=list)
    loan_updates: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (filter, $set)
    reader_incs: dict[ObjectId, Counter[str]] = field(default_factory=dict)
    hold_updates: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    made_ready: list[dict[str, Any]] = field(default_factory=list)  # holds the chunk made ready (to announce)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    conflict_updates: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    holding_ids: dict[tuple[str, str], Any] = field(default_factory=dict)  # from the snapshot, for the writes
