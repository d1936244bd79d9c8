"""Mini-program log-in, accounts, families (guardians and children) and their privacy rights."""
