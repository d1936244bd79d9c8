"""Delivery route plans: API, storage, route sheets and the console map (issue 5)."""
