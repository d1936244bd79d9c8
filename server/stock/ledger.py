"""The stock ledger, as plain data: what each kind of move does to a holding.

A holding is five counters for one title in one room. Every change to a holding
is a Move whose ``delta`` says how many copies enter or leave each counter;
``holdings`` is the fold of all moves. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

STATES = ("on_shelf", "on_loan", "in_transit", "lost", "damaged")


class MoveKind(StrEnum):
    RECEIVE = "receive"                    # new copies arrive (delivery, donation)
    LOAN = "loan"                          # shelf → reader
    RETURN = "return"                      # reader → shelf, same room
    RETURN_OUT = "return_out"              # loan closed in the lending room (copy came back elsewhere)
    RETURN_IN = "return_in"                # copy lent elsewhere arrives on this room's shelf (通借通还)
    TRANSFER_OUT = "transfer_out"          # shelf → in transit (origin room)
    TRANSFER_CANCEL = "transfer_cancel"    # in transit → back on the origin shelf
    TRANSFER_DELIVERED = "transfer_delivered"  # in transit leaves the origin's books
    TRANSFER_IN = "transfer_in"            # arrives on the destination shelf
    WRITE_OFF_LOST = "write_off_lost"      # shelf → lost
    WRITE_OFF_DAMAGED = "write_off_damaged"  # shelf → damaged
    LOAN_LOST = "loan_lost"                # a reader lost the copy: on loan → lost
    STOCKTAKE_ADJUST = "stocktake_adjust"  # any approved correction after a stocktake


# Per copy. STOCKTAKE_ADJUST has no fixed shape: its delta is given explicitly.
UNIT_DELTAS: dict[MoveKind, dict[str, int]] = {
    MoveKind.RECEIVE: {"on_shelf": 1},
    MoveKind.LOAN: {"on_shelf": -1, "on_loan": 1},
    MoveKind.RETURN: {"on_loan": -1, "on_shelf": 1},
    MoveKind.RETURN_OUT: {"on_loan": -1},
    MoveKind.RETURN_IN: {"on_shelf": 1},
    MoveKind.TRANSFER_OUT: {"on_shelf": -1, "in_transit": 1},
    MoveKind.TRANSFER_CANCEL: {"in_transit": -1, "on_shelf": 1},
    MoveKind.TRANSFER_DELIVERED: {"in_transit": -1},
    MoveKind.TRANSFER_IN: {"on_shelf": 1},
    MoveKind.WRITE_OFF_LOST: {"on_shelf": -1, "lost": 1},
    MoveKind.WRITE_OFF_DAMAGED: {"on_shelf": -1, "damaged": 1},
    MoveKind.LOAN_LOST: {"on_loan": -1, "lost": 1},
}


@dataclass(frozen=True)
class Move:
    """``quantity`` copies of ``title_id`` in ``room`` change state as ``kind`` says."""

    room: str
    title_id: str
    kind: MoveKind
    quantity: int = 1
    explicit_delta: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind is MoveKind.STOCKTAKE_ADJUST:
            if not self.explicit_delta or set(self.explicit_delta) - set(STATES):
                raise ValueError("a stocktake adjustment needs a delta over known states")
        elif self.quantity < 1:
            raise ValueError("quantity must be at least 1")

    @property
    def delta(self) -> dict[str, int]:
        if self.kind is MoveKind.STOCKTAKE_ADJUST:
            return {k: v for k, v in self.explicit_delta.items() if v}
        return {state: n * self.quantity for state, n in UNIT_DELTAS[self.kind].items()}


Counts = dict[str, int]


def empty_counts() -> Counts:
    return dict.fromkeys(STATES, 0)


def fold(deltas: Iterable[tuple[str, str, Mapping[str, int]]]) -> dict[tuple[str, str], Counts]:
    """Holdings from the ledger: (room, title_id, delta) triples summed per (room, title)."""
    out: dict[tuple[str, str], Counts] = defaultdict(empty_counts)
    for room, title_id, delta in deltas:
        counts = out[(room, title_id)]
        for state, n in delta.items():
            counts[state] += n
    return dict(out)


def negatives(counts: Mapping[str, int]) -> list[str]:
    """States below zero — never allowed (ARCHITECTURE invariant 1)."""
    return [s for s in STATES if counts.get(s, 0) < 0]
