"""Summer reading challenges: definitions, participants, reading logs, badges, leaderboards,
reviews of books and prize draws (DOMAIN.md "Summer reading", issue 4)."""
