"""The district office console (pages under /console)."""
