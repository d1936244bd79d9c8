"""Books for readers in the mini-program: search with availability, holds, my loans and
renewals, reading history, and purchase suggestions (荐购)."""
