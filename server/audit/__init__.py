"""The audit log: who did what to whom, for every write by staff."""
