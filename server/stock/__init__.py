"""Per-room holdings and the append-only stock ledger."""
