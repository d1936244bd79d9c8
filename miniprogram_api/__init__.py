"""Everything the WeChat mini-program calls, under /mp/v1 (ARCHITECTURE.md)."""
