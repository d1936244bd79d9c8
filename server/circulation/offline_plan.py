"""Offline operations applied in event-time order, as a plan: pure, no I/O.

``plan_ops`` takes a snapshot of everything a chunk of operations touches (read in the
transaction that will write the plan) and the operations sorted by (at, device_id,
op_id), and decides each one with the conflict rules of DOMAIN.md ("Offline
circulation"). It returns one outcome per operation and the writes that carry them
out; ``offline_repo.write_plan`` performs those in bulk.

The rules, per type (t = when it happened on the phone, R = the room, T = the title):

loan
  The book physically left the room, so the loan is recorded whenever the room's
  stock allows, with flags instead of refusals (blocked reader, over the limit, a
  periodical, a copy set aside for a hold, a card the server does not know — the
  loan is then kept for a "pending reader" and resolving the conflict gives it its
  reader). Stock decides:
  - a copy on R's shelf → lent;
  - none on the shelf, but R lent one before t → that loan is closed at t (the copy
    was evidently back) and the new one opened: conflict ``copy_out_to_another``;
  - none on the shelf and R's copies were lent after t → the newer server event
    wins: conflict ``copy_lent_later``, nothing applied;
  - the room holds no copy at all → conflict ``no_copy_on_shelf``, nothing applied.
  A loan heard of only after its copy came back (``return_without_loan`` earlier)
  is recorded as lent and returned, and the earlier conflict is resolved.
return
  Closes the reader's (or, without a card, the likeliest: this room's, oldest) open
  loan lent before t. A return the server already recorded later → conflict
  ``already_returned``, nothing applied. No loan at all → conflict
  ``return_without_loan``: the copy goes on R's shelf anyway (it is physically
  there and can be lent again) and waits for its loan to arrive.
renew
  Needs the reader's open loan lent before t and the renewal rules as of t;
  otherwise a conflict naming the rule (nothing applied). A loan returned later on
  the server → ``returned_later``: the newer event wins.
in_room_use
  Counted in the room's statistics for the month of t.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from bson import ObjectId

from server.circulation.offline_state import PendingOp, Plan, Snapshot
from server.circulation.repo import stats_key
from server.circulation.rules import (
    ACTIVE_HOLD_STATES,
    LOCAL_TZ,
    QueuedHold,
    check_renew,
    due_date,
    holds_to_make_ready,
    limit_kind,
    limit_of,
    local_date,
    month_key,
    pickup_deadline,
    renewed_due_date,
    shelf_copy_for,
)
from server.district import LendingRules
from server.errors import RuleViolation
from server.readers.models import is_child
from server.staff.roles import Actor
from server.stock.ledger import STATES, Move, MoveKind
from server.stock.repo import MoveGroup

# The main conflict of an operation with several: the first of these it has.
FLAG_ORDER = ("copy_out_to_another", "unknown_card", "reader_blocked", "over_limit", "periodical_in_room_only",
              "held_for_another_reader", "reader_guessed")
FLAG_TEXT = {
    "unknown_card": "借阅证号 {card} 在服务器上没有登记，借阅暂记在“待登记读者”名下，请登记读者后处理此冲突",
    "reader_blocked": "该读者已被停借",
    "over_limit": "该读者的借阅已超过上限",
    "periodical_in_room_only": "报刊按规定只能在馆内阅读",
    "held_for_another_reader": "这本书原本为预约的读者保留",
    "reader_guessed": "未扫借阅证，系统按本书屋最早的借阅记录归还，请核对是哪位读者",
}
# What an offline operation may change on an existing loan or hold.
LOAN_FIELDS = ("returned_at", "returned_room", "returned_by", "due_at", "renewals", "renewed_at", "op_ids", "flags")
HOLD_FIELDS = ("status", "loan_id", "closed_at", "active_key", "ready_at", "expires_at")
__all__ = ["PendingOp", "Plan", "Snapshot", "plan_ops", "when"]


def when(moment: datetime) -> str:
    """"5月3日 14:20" in the district's time."""
    local = moment.astimezone(LOCAL_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def age_group(reader: dict[str, Any], on: date) -> str:
    born = date.fromisoformat(reader["birth_date"]) if reader.get("birth_date") else None
    return "child" if is_child(reader["birth_year"], born, on) else "adult"


class Planner:
    """Applies operations to an in-memory copy of the snapshot, recording every write."""

    def __init__(self, snap: Snapshot, rules: LendingRules, now: datetime) -> None:
        self.snap, self.rules, self.now = snap, rules, now
        self.plan = Plan(holding_ids=snap.holding_ids)
        self.holdings = {k: dict(v) for k, v in snap.holdings.items()}
        # Indexed by title: every rule below looks at one title's loans and holds.
        self.loans: dict[str, list[dict[str, Any]]] = {}
        for doc in snap.loans:
            self.loans.setdefault(doc["title_id"], []).append(dict(doc))
        self.original = {doc["_id"]: doc["renewals"] for doc in snap.loans if doc["returned_at"] is None}
        self.changed_loans: dict[ObjectId, dict[str, Any]] = {}
        self.holds: dict[str, list[dict[str, Any]]] = {}
        for doc in snap.holds:
            self.holds.setdefault(doc["title_id"], []).append(dict(doc))
        self.hold_status = {h["_id"]: h["status"] for h in snap.holds}
        self.changed_holds: dict[ObjectId, dict[str, Any]] = {}
        self.orphans = [dict(o) for o in snap.orphans]
        self.seen: set[str] = set()
        self.audited: dict[str, dict[str, Any]] = {}
        self.shelved: set[tuple[str, str]] = set()
        self.readers = {card: {**r, "open_loans": dict(r.get("open_loans") or {})} for card, r in snap.readers.items()}
        self.readers_by_id = {r["_id"]: r for r in self.readers.values()}

    # -- helpers ---------------------------------------------------------------------

    def _holding(self, room: str, title_id: str) -> dict[str, int]:
        return self.holdings.setdefault((room, title_id), dict.fromkeys(STATES, 0))

    def _moves(self, p: PendingOp, moves: list[Move], reference: dict[str, Any]) -> None:
        for move in moves:
            counts = self._holding(move.room, move.title_id)
            for state, n in move.delta.items():
                counts[state] += n
                assert counts[state] >= 0, (move, counts)  # the rules below check before they move
            if move.delta.get("on_shelf", 0) > 0:
                self.shelved.add((move.room, move.title_id))
        self.plan.move_groups.append(MoveGroup(
            op_id=p.op_id, moves=moves, actor=p.actor.username, at=p.at,
            reference={**reference, "offline_batch": p.batch_id, "device_id": p.device_id}))

    def _stat(self, room: str, at: datetime, title: dict[str, Any], age: str, what: str, n: int = 1) -> None:
        month = month_key(at)
        key = stats_key(room, month, title["format"], title["category"], age)
        entry = self.plan.stats.setdefault(key, {"room": room, "month": month, "format": title["format"],
                                                 "category": title["category"], "age_group": age, "inc": Counter()})
        entry["inc"][what] += n

    def _reader_inc(self, reader_id: ObjectId, kind: str, n: int) -> None:
        self.plan.reader_incs.setdefault(reader_id, Counter())[kind] += n
        reader = self.readers_by_id.get(reader_id)
        if reader is not None:
            reader["open_loans"][kind] = reader["open_loans"].get(kind, 0) + n

    def _touch_loan(self, loan: dict[str, Any]) -> None:
        if loan["_id"] in self.original:
            self.changed_loans[loan["_id"]] = loan

    def _touch_hold(self, hold: dict[str, Any]) -> None:
        self.changed_holds[hold["_id"]] = hold

    def _open(self, title_id: str, *, before: datetime, reader_id: ObjectId | None = None,
              room: str | None = None) -> list[dict[str, Any]]:
        return [loan for loan in self.loans.get(title_id, [])
                if loan["returned_at"] is None and loan["lent_at"] <= before
                and (reader_id is None or loan.get("reader_id") == reader_id) and (room is None or loan["room"] == room)]

    def _returned_after(self, title_id: str, at: datetime, *, reader_id: ObjectId | None, room: str
                        ) -> dict[str, Any] | None:
        """A loan of the title that was open at ``at`` and that the server closed later."""
        found = [loan for loan in self.loans.get(title_id, [])
                 if loan["returned_at"] is not None
                 and loan["lent_at"] <= at <= loan["returned_at"]
                 and (loan.get("reader_id") == reader_id if reader_id is not None else loan["returned_room"] == room)]
        return min(found, key=lambda loan: loan["returned_at"]) if found else None

    def _room_name(self, code: str) -> str:
        return str(self.snap.rooms.get(code, {}).get("name") or code)

    def _close(self, p: PendingOp, loan: dict[str, Any], *, at: datetime, room: str, by: str,
               flag: str | None = None) -> list[Move]:
        """Close an open loan at ``at`` in ``room``: the moves it needs and the reader's slot back."""
        lender = loan["room"]
        moves = ([Move(room, loan["title_id"], MoveKind.RETURN)] if lender == room else
                 [Move(lender, loan["title_id"], MoveKind.RETURN_OUT), Move(room, loan["title_id"], MoveKind.RETURN_IN)])
        loan.update(returned_at=at, returned_room=room, returned_by=by)
        loan["op_ids"] = [*loan.get("op_ids", []), p.op_id]
        if flag:
            loan["flags"] = [*loan.get("flags", []), flag]
        self._touch_loan(loan)
        if loan.get("reader_id") is not None:
            self._reader_inc(loan["reader_id"], limit_kind(loan["format"]), -1)
        return moves

    def _queue(self, title_id: str, room: str) -> list[QueuedHold]:
        return [QueuedHold(hold_id=str(h["_id"]), reader_id=str(h["reader_id"]), status=h["status"],
                           placed_at=h["placed_at"])
                for h in self.holds.get(title_id, [])
                if h["pickup_room"] == room and h["status"] in ACTIVE_HOLD_STATES]

    # -- outcomes ----------------------------------------------------------------------

    def _finish(self, p: PendingOp, outcome: str, code: str | None, message: str, *,
                loan_id: ObjectId | None = None, conflict: dict[str, Any] | None = None) -> None:
        result = {"op_id": p.op_id, "type": p.type, "outcome": outcome, "code": code, "message": message,
                  "loan_id": str(loan_id) if loan_id else None}
        self.plan.outcomes[p.key] = result
        if outcome not in ("applied", "conflict"):
            return
        self.seen.add(p.op_id)
        self.plan.operations.append({
            "_id": p.op_id, "kind": f"offline_{p.type}", "room": p.room, "actor": p.actor.username, "at": self.now,
            "ok": True, "result": result, "batch_id": p.batch_id, "index": p.index, "event_at": p.at})
        if conflict is not None:
            self.plan.conflicts.append({
                "_id": ObjectId(), "room": p.room, "op_id": p.op_id, "batch_id": p.batch_id, "device_id": p.device_id,
                "type": p.type, "code": code, "flags": [code], "message": message, "applied": False, "at": p.at,
                "title_id": p.title_id, "card": p.card, "reader_id": None, "loan_id": loan_id,
                "other_loan_id": None, "uploaded_by": p.actor.username, "created_at": self.now,
                "resolved": False, "resolved_at": None, "resolved_by": None, "resolution": None, **conflict})
        # One audit entry per batch and chunk names the operations it applied; each operation's own
        # record (``operations``: actor, room, event time, outcome) and its ledger entries carry the rest.
        entry = self.audited.setdefault(p.batch_id, {"actor": p.actor, "rooms": set(), "ops": [], "outcomes": Counter()})
        entry["rooms"].add(p.room)
        entry["ops"].append(p.op_id)
        entry["outcomes"][outcome] += 1

    def _flagged(self, p: PendingOp, flags: list[str], done: str, *, loan_id: ObjectId,
                 extra: dict[str, Any], notes: dict[str, str] | None = None, clean_code: str | None = None) -> None:
        """An operation applied despite ``flags``: outcome conflict if any, else applied."""
        if not flags:
            self._finish(p, "applied", clean_code, done, loan_id=loan_id)
            return
        flags = sorted(set(flags), key=FLAG_ORDER.index)
        texts = [(notes or {}).get(f) or FLAG_TEXT[f].format(card=p.card) for f in flags]
        message = f"{done}；但{'；'.join(texts)}。"
        self._finish(p, "conflict", flags[0], message, loan_id=loan_id,
                     conflict={**extra, "flags": flags, "applied": True})

    # -- the operations -------------------------------------------------------------------

    def apply(self, p: PendingOp) -> None:
        known = self.snap.known_ops.get(p.op_id)
        if known is not None and (known.get("batch_id"), known.get("index")) == p.key:
            self.plan.outcomes[p.key] = known["result"]  # applied by an earlier, interrupted run
            return
        if known is not None or p.op_id in self.seen:
            prior = (known or {}).get("result") or {}
            loan_id = prior.get("loan_id") or (prior.get("loan") or {}).get("id")
            self.plan.outcomes[p.key] = {
                "op_id": p.op_id, "type": p.type, "outcome": "duplicate", "code": "already_applied",
                "message": "这条操作已经处理过（同一操作编号），没有重复登记", "loan_id": loan_id}
            return
        title = self.snap.titles.get(p.title_id)
        if title is None:
            self.plan.outcomes[p.key] = {"op_id": p.op_id, "type": p.type, "outcome": "rejected",
                                         "code": "unknown_title", "message": "目录中没有这种书，请核对 ISBN 或先登记书目",
                                         "loan_id": None}
            return
        {"loan": self.lend, "return": self.give_back, "renew": self.renew,
         "in_room_use": self.in_room_use}[p.type](p, title)

    def lend(self, p: PendingOp, title: dict[str, Any]) -> None:
        name, room_name, fmt = title["title"], self._room_name(p.room), title["format"]
        reader = self.readers.get(p.card or "")
        flags: list[str] = []
        kind = limit_kind(fmt)
        if reader is None:
            flags.append("unknown_card")
        else:
            if reader.get("blocked"):
                flags.append("reader_blocked")
            if reader["open_loans"].get(kind, 0) >= limit_of(self.rules, kind):
                flags.append("over_limit")
        if fmt == "periodical" and self.rules.periodicals_in_room_only:
            flags.append("periodical_in_room_only")
        rid = reader["_id"] if reader else None
        shelf = self._holding(p.room, p.title_id)
        orphan = self._orphan_for(p, rid) if shelf["on_shelf"] > 0 else None
        moves: list[Move] = []
        extra: dict[str, Any] = {"reader_id": rid}
        notes: dict[str, str] = {}
        if orphan is not None:
            self._lend_returned(p, title, reader, orphan)
            return
        if shelf["on_shelf"] <= 0:
            here = [loan for loan in self.loans.get(p.title_id, [])
                    if loan["returned_at"] is None and loan["room"] == p.room]
            earlier = sorted((loan for loan in here if loan["lent_at"] <= p.at), key=lambda loan: loan["lent_at"])
            if not earlier:
                if here:
                    first = min(here, key=lambda loan: loan["lent_at"])
                    message = (f"服务器记录《{name}》已于{when(first['lent_at'])}在{room_name}借给其他读者（晚于这次离线借出），"
                               f"以服务器记录为准，这次离线借出没有登记，请核对这本书在谁手里。")
                    self._finish(p, "conflict", "copy_lent_later", message,
                                 conflict={"reader_id": rid, "other_loan_id": first["_id"]})
                else:
                    message = f"服务器上{room_name}没有《{name}》在架（也没有借出），这次离线借出没有登记，请核对馆藏后再补登。"
                    self._finish(p, "conflict", "no_copy_on_shelf", message, conflict={"reader_id": rid})
                return
            other = earlier[0]
            moves += self._close(p, other, at=p.at, room=p.room, by=p.actor.username, flag="closed_by_offline_loan")
            extra["other_loan_id"] = other["_id"]
            flags.insert(0, "copy_out_to_another")
            same = rid is not None and other.get("reader_id") == rid
            notes["copy_out_to_another"] = (
                f"服务器记录这本书自{when(other['lent_at'])}起借给"
                f"{'该读者本人' if same else '另一位读者'}未还，已按离线借出时间结清那笔借阅")
        queue = self._queue(p.title_id, p.room)
        if queue and not shelf_copy_for(queue, str(rid), shelf["on_shelf"] + sum(
                m.delta.get("on_shelf", 0) for m in moves if m.room == p.room))[0]:
            flags.append("held_for_another_reader")
        loan = self._new_loan(p, title, reader, flags)
        loan_id = loan["_id"]
        moves.append(Move(p.room, p.title_id, MoveKind.LOAN))
        self._moves(p, moves, {"loan_id": str(loan_id)})
        if rid is not None:
            self._reader_inc(rid, kind, 1)
            for hold in self.holds.get(p.title_id, []):
                if hold.get("reader_id") == rid and hold["status"] in ACTIVE_HOLD_STATES:
                    hold.update(status="fulfilled", loan_id=loan_id, closed_at=p.at, active_key=None)
                    self._touch_hold(hold)
        due = loan["due_at"].astimezone(LOCAL_TZ)
        done = f"已登记借出《{name}》（{when(p.at)}），应于{due.month}月{due.day}日前归还"
        self._flagged(p, flags, done, loan_id=loan_id, extra=extra, notes=notes)

    def _new_loan(self, p: PendingOp, title: dict[str, Any], reader: dict[str, Any] | None,
                  flags: list[str]) -> dict[str, Any]:
        """The loan an offline lend opens (a card the server does not know: a pending reader)."""
        age = age_group(reader, local_date(p.at)) if reader else "unknown"
        loan = {
            "_id": ObjectId(), "reader_id": reader["_id"] if reader else None, "room": p.room, "title_id": p.title_id,
            "format": title["format"], "category": title["category"], "age_group": age, "lent_at": p.at,
            "due_at": due_date(p.at, self.rules).astimezone(UTC), "renewals": 0, "renewed_at": [],
            "returned_at": None, "returned_room": None, "lent_by": p.actor.username, "op_ids": [p.op_id],
            "overdue_since": None, "offline": {"batch_id": p.batch_id, "device_id": p.device_id}, "flags": list(flags)}
        if reader is None:
            loan["pending_card"] = p.card
        self.loans.setdefault(p.title_id, []).append(loan)
        self.plan.new_loans.append(loan)
        self._stat(p.room, p.at, title, age, "loans")
        return loan

    def _orphan_for(self, p: PendingOp, reader_id: ObjectId | None) -> dict[str, Any] | None:
        """An unmatched return of this title after ``p.at`` that this late loan explains."""
        found = [o for o in self.orphans
                 if not o["resolved"] and o["title_id"] == p.title_id and o["at"] >= p.at
                 and (o.get("reader_id") is None or o.get("reader_id") == reader_id)]
        return min(found, key=lambda o: o["at"]) if found else None

    def _lend_returned(self, p: PendingOp, title: dict[str, Any], reader: dict[str, Any] | None,
                       orphan: dict[str, Any]) -> None:
        """A loan that arrives after the return of its copy: recorded as lent and returned.

        The return already put the copy on its room's shelf, so this loan only takes it off
        the lending room's shelf (LOAN, then RETURN_OUT); the reader's counters do not move."""
        loan = self._new_loan(p, title, reader, ["matched_earlier_return"])
        loan.update(returned_at=orphan["at"], returned_room=orphan["room"], returned_by=orphan["uploaded_by"],
                    op_ids=[p.op_id, orphan["op_id"]])
        self._moves(p, [Move(p.room, p.title_id, MoveKind.LOAN), Move(p.room, p.title_id, MoveKind.RETURN_OUT)],
                    {"loan_id": str(loan["_id"]), "matched_return_op": orphan["op_id"]})
        orphan.update(resolved=True)
        self.plan.conflict_updates.append((
            {"_id": orphan["_id"], "resolved": False},
            {"resolved": True, "resolved_at": self.now, "resolved_by": "system", "loan_id": loan["_id"],
             "resolution": f"找到了对应的借阅：{when(p.at)}的离线借出（操作 {p.op_id}），已自动结清"}))
        done = (f"已登记借出《{title['title']}》（{when(p.at)}）；这本书已于{when(orphan['at'])}"
                f"在{self._room_name(orphan['room'])}归还，借阅已同时结清")
        self._flagged(p, [] if reader else ["unknown_card"], done, loan_id=loan["_id"],
                      extra={"reader_id": loan["reader_id"]}, clean_code="matched_earlier_return")

    def give_back(self, p: PendingOp, title: dict[str, Any]) -> None:
        name, room_name = title["title"], self._room_name(p.room)
        reader = self.readers.get(p.card or "")
        rid = reader["_id"] if reader else None
        candidates = sorted(self._open(p.title_id, before=p.at, reader_id=rid),
                            key=lambda loan: (loan["room"] != p.room, loan["lent_at"]))
        unknown = f"（借阅证号 {p.card} 未登记，已按书匹配）" if p.card and reader is None else ""
        if candidates:
            loan = candidates[0]
            flags = ["reader_guessed"] if rid is None and len(
                {loan.get("reader_id") or loan["_id"] for loan in candidates}) > 1 else []
            moves = self._close(p, loan, at=p.at, room=p.room, by=p.actor.username)
            self._moves(p, moves, {"loan_id": str(loan["_id"])})
            self._stat(p.room, p.at, title, loan.get("age_group", "adult"), "returns")
            done = f"已登记归还《{name}》（{when(p.at)}）{unknown}"
            if loan["room"] != p.room:
                done += f"，此书由{self._room_name(loan['room'])}借出，现归{room_name}所有（通借通还）"
            self._flagged(p, flags, done, loan_id=loan["_id"],
                          extra={"reader_id": loan.get("reader_id"), "loan_id": loan["_id"]})
            return
        later = self._returned_after(p.title_id, p.at, reader_id=rid, room=p.room)
        if later is not None:
            message = (f"服务器记录《{name}》已于{when(later['returned_at'])}在{self._room_name(later['returned_room'])}"
                       f"归还（晚于这次离线还书），以服务器记录为准，这次没有重复登记。")
            self._finish(p, "conflict", "already_returned", message, loan_id=later["_id"],
                         conflict={"reader_id": rid, "other_loan_id": later["_id"]})
            return
        self._moves(p, [Move(p.room, p.title_id, MoveKind.RETURN_IN)], {"unmatched_return": True})
        self._stat(p.room, p.at, title, age_group(reader, local_date(p.at)) if reader else "unknown", "returns")
        message = (f"《{name}》已放回{room_name}书架（{when(p.at)}），但服务器上找不到"
                   f"{'该读者' if reader else ''}对应的借阅记录{unknown}；借出记录上传后会自动对应，否则请核对。")
        conflict = {"reader_id": rid, "applied": True}
        self._finish(p, "conflict", "return_without_loan", message, conflict=conflict)

    def renew(self, p: PendingOp, title: dict[str, Any]) -> None:
        name = title["title"]
        reader = self.readers.get(p.card or "")
        if reader is None:
            self._finish(p, "conflict", "unknown_card", f"借阅证号 {p.card} 在服务器上没有登记，离线续借没有生效。",
                         conflict={})
            return
        rid = reader["_id"]
        candidates = sorted(self._open(p.title_id, before=p.at, reader_id=rid), key=lambda loan: loan["lent_at"])
        if not candidates:
            later = self._returned_after(p.title_id, p.at, reader_id=rid, room=p.room)
            if later is not None:
                message = (f"《{name}》已于{when(later['returned_at'])}归还（晚于这次离线续借），以服务器记录为准，"
                           f"续借没有登记。")
                self._finish(p, "conflict", "returned_later", message, loan_id=later["_id"],
                             conflict={"reader_id": rid, "other_loan_id": later["_id"]})
            else:
                self._finish(p, "conflict", "renew_without_loan",
                             f"服务器上找不到该读者借《{name}》的记录，离线续借没有生效。", conflict={"reader_id": rid})
            return
        loan = candidates[0]
        blocked = reader.get("blocked")
        waiting = any(h["status"] == "waiting" for h in self.holds.get(p.title_id, []))
        try:
            check_renew(self.rules, renewals=loan["renewals"], due_at=loan["due_at"], now=p.at,
                        blocked_reason=blocked["reason"] if blocked else None, hold_waiting=waiting)
        except RuleViolation as exc:
            due = loan["due_at"].astimezone(LOCAL_TZ)
            self._finish(p, "conflict", exc.code,
                         f"{exc.detail}：离线续借没有生效，请按原应还日期（{due.month}月{due.day}日）归还。",
                         loan_id=loan["_id"], conflict={"reader_id": rid})
            return
        due_at = renewed_due_date(loan["due_at"], p.at, self.rules).astimezone(UTC)
        loan.update(due_at=due_at, renewals=loan["renewals"] + 1, renewed_at=[*loan.get("renewed_at", []), p.at],
                    op_ids=[*loan.get("op_ids", []), p.op_id])
        self._touch_loan(loan)
        self._stat(loan["room"], p.at, {**title, "format": loan["format"],
                                        "category": loan.get("category", title["category"])},
                   loan.get("age_group", "adult"), "renewals")
        local = due_at.astimezone(LOCAL_TZ)
        self._finish(p, "applied", None, f"已续借《{name}》，应于{local.month}月{local.day}日前归还",
                     loan_id=loan["_id"])

    def in_room_use(self, p: PendingOp, title: dict[str, Any]) -> None:
        self._stat(p.room, p.at, title, "unknown", "in_room_uses", p.count)
        self._finish(p, "applied", None, f"已登记馆内阅览《{title['title']}》{p.count} 次")

    # -- the end of the chunk -----------------------------------------------------------------

    def finish(self) -> Plan:
        # Copies that came back to a shelf serve that room's hold queue (rules.holds_to_make_ready).
        expires = pickup_deadline(self.now, self.rules)
        for room, title_id in sorted(self.shelved):
            queue = self._queue(title_id, room)
            if not queue:
                continue
            ready = {h.hold_id for h in holds_to_make_ready(queue, self._holding(room, title_id)["on_shelf"])}
            for hold in self.holds.get(title_id, []):
                if str(hold["_id"]) in ready:
                    hold.update(status="ready", ready_at=self.now, expires_at=expires)
                    self._touch_hold(hold)
                    self.plan.made_ready.append(hold)
        for loan_id, loan in self.changed_loans.items():
            self.plan.loan_updates.append((
                {"_id": loan_id, "returned_at": None, "renewals": self.original[loan_id]},
                {f: loan[f] for f in LOAN_FIELDS if f in loan}))
        for batch_id, entry in self.audited.items():
            actor: Actor = entry["actor"]
            rooms = sorted(entry["rooms"])
            self.plan.audits.append({
                "at": self.now, "actor_id": actor.staff_id, "actor": actor.username, "role": str(actor.role),
                "action": "offline.apply", "target_type": "offline_batch", "target_id": batch_id,
                "room": rooms[0] if len(rooms) == 1 else None,
                "changes": {"rooms": rooms, "op_ids": entry["ops"], "outcomes": dict(entry["outcomes"])},
                "request_id": actor.request_id, "ip": actor.ip})
        for hold_id, hold in self.changed_holds.items():
            self.plan.hold_updates.append((
                {"_id": hold_id, "status": self.hold_status[hold_id]}, {f: hold[f] for f in HOLD_FIELDS if f in hold}))
        return self.plan


def plan_ops(snap: Snapshot, ops: Iterable[PendingOp], rules: LendingRules, now: datetime) -> Plan:
    """Decide ``ops`` (in event-time order) against ``snap``: outcomes and writes."""
    planner = Planner(snap, rules, now)
    for p in sorted(ops, key=lambda p: p.order):
        planner.apply(p)
    return planner.finish()
