"""Per-room mini-program codes (getwxacodeunlimit), the room landing page and check-ins."""
