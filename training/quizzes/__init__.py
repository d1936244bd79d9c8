"""Quizzes: per-course question banks and timed attempts taken on the phone."""
