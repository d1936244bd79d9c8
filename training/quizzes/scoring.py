"""Scoring a quiz attempt, and drawing its questions. Pure: plain data in, plain data out.

The rule: each question scores 1 when the chosen option is the right one, 0 otherwise (an
unanswered question is wrong). The score is the percentage of right answers rounded DOWN to
a whole number (so 2 of 3 is 66, never rounded up to a pass), and the attempt passes when
the score is at least the course's pass mark.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    correct: int
    total: int
    percent: int
    passed: bool


def score_attempt(key: Mapping[str, int], answers: Mapping[str, int], pass_mark: int) -> Score:
    """Score ``answers`` (question id → chosen option) against ``key`` (question id → right
    option). Answers to questions not in ``key`` are ignored. An empty key scores 0."""
    total = len(key)
    correct = sum(1 for qid, right in key.items() if answers.get(qid) == right)
    percent = correct * 100 // total if total else 0
    return Score(correct=correct, total=total, percent=percent, passed=total > 0 and percent >= pass_mark)


def draw_questions(question_ids: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` distinct ids drawn at random (all of them, shuffled, if there are fewer)."""
    pool = list(question_ids)
    return rng.sample(pool, min(count, len(pool)))


def shuffle_options(options: Sequence[str], answer: int, rng: random.Random) -> tuple[list[str], int]:
    """The options in a random order and where the right one went, so the right answer is
    not always in the same place an attempt-taker could learn."""
    order = list(range(len(options)))
    rng.shuffle(order)
    return [options[i] for i in order], order.index(answer)
