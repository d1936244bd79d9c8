"""Reconciliation figures per shipment and per supplier. Pure: shipment documents in, rows out.

ordered   what the order says (copies, fen at the ordered price)
delivered good copies received into the room's stock
short     copies counted missing at receiving
damaged   copies that arrived damaged (not taken into stock)
wrong     items that were not on the order (copies; fen unknown, so 0)
claimed   short and damaged copies claimed from the supplier
settled   resent copies at their price plus money credited
"""

from __future__ import annotations

from typing import Any

FIGURES = ("ordered", "delivered", "short", "damaged", "wrong", "claimed", "settled")


def _zero() -> dict[str, dict[str, int]]:
    return {k: {"copies": 0, "fen": 0} for k in FIGURES}


def shipment_figures(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The seven figures of one shipment document (see the module docstring)."""
    out = _zero()
    for line in doc.get("lines", []):
        price = int(line.get("price_fen", 0))
        for figure, field in (("ordered", "ordered"), ("delivered", "received"), ("short", "short"),
                              ("damaged", "damaged"), ("claimed", "claimed")):
            n = int(line.get(field, 0))
            out[figure]["copies"] += n
            out[figure]["fen"] += n * price
    out["wrong"]["copies"] = sum(int(w.get("copies", 0)) for w in doc.get("wrong_items", []))
    settlement = doc.get("settlement") or {}
    if settlement:
        claimed = out["claimed"]
        average = claimed["fen"] // claimed["copies"] if claimed["copies"] else 0
        resent = int(settlement.get("resent_copies", 0))
        out["settled"]["copies"] = resent
        out["settled"]["fen"] = resent * average + int(settlement.get("credited_fen", 0))
    return out


def _add(into: dict[str, Any], more: dict[str, dict[str, int]]) -> None:
    for figure in FIGURES:
        for unit in ("copies", "fen"):
            into[figure][unit] += more[figure][unit]


def reconcile(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows per shipment (cancelled ones left out), per supplier and in total."""
    rows: list[dict[str, Any]] = []
    suppliers: dict[str, dict[str, Any]] = {}
    total: dict[str, Any] = {"supplier": "合计", "shipments": 0, **_zero()}
    for doc in docs:
        if doc.get("status") == "cancelled":
            continue
        figures = shipment_figures(doc)
        rows.append({"shipment_id": str(doc["_id"]), "room": doc["room"], "room_name": doc.get("room_name", ""),
                     "supplier": doc["supplier"], "status": doc["status"], "shipments": 1, **figures})
        per: dict[str, Any] = suppliers.setdefault(doc["supplier"],
                                                   {"supplier": doc["supplier"], "shipments": 0, **_zero()})
        per["shipments"] += 1
        _add(per, figures)
        total["shipments"] += 1
        _add(total, figures)
    return {"shipments": rows, "suppliers": [suppliers[k] for k in sorted(suppliers)], "total": total}
