"""Staff accounts, roles, log-in sessions and lock-out."""
