"""Ratings: model rooms, model administrators and 书香之家 — scored from data, decided in the open."""
