"""Quizzes: pure scoring (property tests), question banks and their Excel import, timed
attempts on the phone's API (deadline, replay, privacy of answers and of other people's attempts)."""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from server.resources import Deps
from tests.conftest import Session
from training.quizzes import scoring
from training.quizzes.sheets import XLSX

# -- pure scoring ----------------------------------------------------------------------------


@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, 100))))
def test_score_is_a_percentage_and_passes_iff_at_least_the_mark(case: tuple[int, int, int]) -> None:
    total, right, mark = case
    key = {f"q{i}": i % 4 for i in range(total)}
    answers = {f"q{i}": (i % 4 if i < right else (i + 1) % 4) for i in range(total)}
    score = scoring.score_attempt(key, answers, mark)
    assert 0 <= score.percent <= 100
    assert score.correct == right and score.total == total
    assert score.passed == (score.percent >= mark)
    assert score.percent == right * 100 // total  # rounded down: 2 of 3 never rounds up to a pass


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1), st.integers(1, 100))))
def test_one_more_right_answer_never_lowers_the_score(case: tuple[int, int, int]) -> None:
    total, right, mark = case
    key = {f"q{i}": 0 for i in range(total)}
    fewer = scoring.score_attempt(key, {f"q{i}": 0 for i in range(right)}, mark)
    more = scoring.score_attempt(key, {f"q{i}": 0 for i in range(right + 1)}, mark)
    assert more.percent > fewer.percent or (more.percent == fewer.percent == 100)
    assert more.passed or not fewer.passed


def test_all_right_is_100_and_nothing_answered_is_0() -> None:
    key = {"a": 1, "b": 2}
    assert scoring.score_attempt(key, {"a": 1, "b": 2}, 100).passed
    empty = scoring.score_attempt(key, {}, 1)
    assert empty.percent == 0 and not empty.passed
    assert scoring.score_attempt({}, {}, 1).passed is False  # an empty quiz never passes
    assert scoring.score_attempt(key, {"zzz": 1, "a": 1}, 50).correct == 1  # unknown ids are ignored


@given(st.lists(st.text(min_size=1, max_size=5), min_size=2, max_size=6, unique=True), st.data())
def test_shuffled_options_keep_the_right_answer(options: list[str], data: st.DataObject) -> None:
    answer = data.draw(st.integers(0, len(options) - 1))
    shuffled, moved = scoring.shuffle_options(options, answer, random.Random(data.draw(st.integers())))
    assert sorted(shuffled) == sorted(options) and shuffled[moved] == options[answer]


def test_draw_takes_distinct_questions() -> None:
    ids = [str(i) for i in range(30)]
    drawn = scoring.draw_questions(ids, 20, random.Random(1))
    assert len(set(drawn)) == 20 and set(drawn) <= set(ids)
    assert sorted(scoring.draw_questions(ids[:3], 20, random.Random(1))) == ids[:3]


# -- fixtures ----------------------------------------------------------------------------------


def op() -> str:
    return uuid.uuid4().hex


async def make_course(deps: Deps, *, quiz: dict[str, int] | None, code: str, kind: str = "topic",
                      hours: float = 3) -> str:
    """A course as training/courses stores it (the contract's fields)."""
    now = datetime.now(UTC)
    oid = ObjectId()
    await deps.db["training_courses"].insert_one({
        "_id": oid, "code": code, "title": f"测试课程 {code}", "topics": ["policy"], "hours": hours,
        "level": "district", "kind": kind, "quiz": quiz, "active": True, "created_at": now, "updated_at": now})
    return str(oid)


QUIZ = {"pass_mark": 60, "questions_per_attempt": 5, "time_limit_min": 10}


@pytest.fixture(scope="module")
async def course(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> str:
    course_id = await make_course(seeded, quiz=QUIZ, code="QZ-1")
    for i in range(6):
        r = await client.post(f"/api/v1/training/courses/{course_id}/questions", headers=as_role["trainer"].headers,
                              json={"text": f"第 {i} 题：每次最多借几册？", "options": [f"{i}册", "5 册", "10 册"],
                                    "answer": 1})
        assert r.status_code == 201, r.text
    return course_id


async def answer_key(client: httpx.AsyncClient, as_role: dict[str, Session], course_id: str) -> dict[str, str]:
    """Question id → the text of the right option (the attempt shuffles the options)."""
    bank = (await client.get(f"/api/v1/training/courses/{course_id}/questions",
                             headers=as_role["trainer"].headers)).json()
    return {q["id"]: q["options"][q["answer"]] for q in bank["items"]}


# -- question banks ---------------------------------------------------------------------------


async def test_bank_shows_answers_to_trainers_only(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                    course: str) -> None:
    r = await client.get(f"/api/v1/training/courses/{course}/questions", headers=as_role["trainer"].headers)
    assert r.status_code == 200 and r.json()["active"] == 6 and all(q["answer"] == 1 for q in r.json()["items"])
    r = await client.get(f"/api/v1/training/courses/{course}/questions", headers=as_role["room_admin"].headers)
    assert r.status_code == 403


async def test_bad_questions_are_refused_naming_the_field(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                          course: str, seeded: Deps) -> None:
    before = await seeded.db["training_quiz_questions"].count_documents({})
    url = f"/api/v1/training/courses/{course}/questions"
    for body in ({"text": "题目", "options": ["A"], "answer": 0}, {"text": "题目", "options": ["A", "B"], "answer": 2},
                 {"text": "题目", "options": ["A", "A"], "answer": 0}, {"text": "", "options": ["A", "B"], "answer": 0}):
        r = await client.post(url, headers=as_role["trainer"].headers, json=body)
        assert r.status_code == 422, body
        assert r.json()["errors"][0]["loc"][0] == "body"
    r = await client.post(f"/api/v1/training/courses/{'0' * 24}/questions", headers=as_role["trainer"].headers,
                          json={"text": "题目", "options": ["A", "B"], "answer": 0})
    assert r.status_code == 404
    assert await seeded.db["training_quiz_questions"].count_documents({}) == before


def bank_sheet(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["题目", "选项A", "选项B", "选项C", "选项D", "答案"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_bank_import_is_all_or_nothing(client: httpx.AsyncClient, as_role: dict[str, Session],
                                             seeded: Deps) -> None:
    course_id = await make_course(seeded, quiz=QUIZ, code="QZ-IMP")
    url = f"/api/v1/training/courses/{course_id}/questions/import"
    headers = {**as_role["district_staff"].headers, "Content-Type": XLSX}
    bad = bank_sheet([["书屋每周至少开放几天？", "2 天", "3 天", "5 天", "7 天", "C"],
                      ["借期多少天？", "7 天", "", "10 天", None, "A"],
                      ["只有一个选项？", "是", None, None, None, "A"],
                      ["答案不对的题", "甲", "乙", None, None, "D"],
                      ["书屋每周至少开放几天？", "1", "2", None, None, "A"]])
    dry = await client.post(url, params={"dry_run": "true"}, headers=headers, content=bad)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["rows"] == 5 and report["valid"] == 1 and not report["imported"]
    where = {(p["row"], p["column"]) for p in report["problems"]}
    assert {(3, "选项B"), (5, "答案"), (6, "题目")} <= where and any(row == 4 for row, _ in where)
    real = await client.post(url, headers=headers, content=bad)
    assert real.status_code == 422 and real.json()["code"] == "bank_rows_invalid"
    assert ["body", 3, "选项B"] in [e["loc"] for e in real.json()["errors"]]
    assert await seeded.db["training_quiz_questions"].count_documents({"course_id": ObjectId(course_id)}) == 0
    good = bank_sheet([["书屋每周至少开放几天？", "2 天", "3 天", "5 天", "7 天", "c"],
                       ["借期多少天？", "7 天", "10 天", None, None, "B"]])
    ok = await client.post(url, headers=headers, content=good)
    assert ok.status_code == 200 and ok.json()["created"] == 2 and ok.json()["imported"]
    bank = (await client.get(f"/api/v1/training/courses/{course_id}/questions", headers=headers)).json()
    assert [(q["options"][q["answer"]]) for q in bank["items"]] == ["5 天", "10 天"]
    wrong_type = await client.post(url, headers={**headers, "Content-Type": "text/csv"}, content=b"a,b")
    assert wrong_type.status_code == 415
    junk = await client.post(url, headers=headers, content=b"not a spreadsheet")
    assert junk.status_code == 422


async def test_deactivated_questions_leave_new_attempts(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                        seeded: Deps) -> None:
    course_id = await make_course(seeded, quiz={**QUIZ, "questions_per_attempt": 2}, code="QZ-DEL")
    h = as_role["trainer"].headers
    ids = []
    for i in range(3):
        r = await client.post(f"/api/v1/training/courses/{course_id}/questions", headers=h,
                              json={"text": f"题目 {i}", "options": ["甲", "乙"], "answer": 0})
        ids.append(r.json()["id"])
    r = await client.patch(f"/api/v1/training/courses/{course_id}/questions/{ids[0]}", headers=h,
                           json={"options": ["甲", "乙", "丙"], "answer": 2})
    assert r.status_code == 200 and r.json()["answer"] == 2
    assert (await client.patch(f"/api/v1/training/courses/{course_id}/questions/{ids[0]}", headers=h,
                               json={"answer": 1})).status_code == 422  # options and answer go together
    for qid in ids[:2]:
        assert (await client.delete(f"/api/v1/training/courses/{course_id}/questions/{qid}", headers=h)).status_code == 204
    assert (await client.delete(f"/api/v1/training/courses/{course_id}/questions/{'0' * 24}",
                                headers=h)).status_code == 404
    r = await client.post(f"/api/v1/training/courses/{course_id}/attempts", headers=as_role["room_admin"].headers,
                          json={"op_id": op()})
    assert r.status_code == 422 and r.json()["code"] == "not_enough_questions"
    assert await seeded.db["audit"].count_documents({"action": "training_question.update",
                                                     "target_id": course_id}) == 3


# -- attempts -----------------------------------------------------------------------------------


async def test_attempt_flow_replay_and_privacy(client: httpx.AsyncClient, as_role: dict[str, Session],
                                               course: str, seeded: Deps) -> None:
    me, other = as_role["room_admin"].headers, as_role["room_admin_other"].headers
    base = f"/api/v1/training/courses/{course}/attempts"
    first_op = op()
    r = await client.post(base, headers=me, json={"op_id": first_op})
    assert r.status_code == 201, r.text
    attempt = r.json()
    assert attempt["status"] == "open" and attempt["total"] == 5 and 590 <= attempt["seconds_left"] <= 600
    assert all(q["correct"] is None for q in attempt["questions"])  # no answers before submitting
    assert "answer" not in r.text.replace("answered", "")
    # A replay, and a second start while one is open, give the same attempt.
    assert (await client.post(base, headers=me, json={"op_id": first_op})).json()["id"] == attempt["id"]
    assert (await client.post(base, headers=me, json={"op_id": op()})).json()["id"] == attempt["id"]
    url = f"{base}/{attempt['id']}"
    # Nobody else sees or touches it.
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.put(f"{url}/answers", headers=other, json={"op_id": op(), "answers": {}})).status_code == 404
    assert (await client.post(f"{url}/submit", headers=other, json={"op_id": op()})).status_code == 404
    # Answers naming questions not in the attempt, or options out of range, name the field.
    stray = "f" * 24
    r = await client.put(f"{url}/answers", headers=me, json={"op_id": op(), "answers": {stray: 0}})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "answers", stray]
    q0 = attempt["questions"][0]["id"]
    r = await client.put(f"{url}/answers", headers=me, json={"op_id": op(), "answers": {q0: 5}})
    assert r.status_code == 422
    # Answer four of five right (the options are shuffled: find the right one by its text).
    key = await answer_key(client, as_role, course)
    answers = {q["id"]: q["options"].index(key[q["id"]]) for q in attempt["questions"]}
    wrong = attempt["questions"][4]
    answers[wrong["id"]] = (answers[wrong["id"]] + 1) % len(wrong["options"])
    r = await client.put(f"{url}/answers", headers=me, json={"op_id": op(), "answers": answers})
    assert r.status_code == 200 and r.json()["answered"] == 5 and r.json()["correct"] is None
    submit_op = op()
    r = await client.post(f"{url}/submit", headers=me, json={"op_id": submit_op})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "submitted" and done["score_percent"] == 80 and done["passed"] is True
    assert done["correct"] == 4 and all(q["correct"] is not None for q in done["questions"])
    again = await client.post(f"{url}/submit", headers=me, json={"op_id": submit_op})
    assert again.json()["score_percent"] == 80 and again.json()["submitted_at"] == done["submitted_at"]
    # Finished: no more answers; a new start opens a new attempt.
    r = await client.put(f"{url}/answers", headers=me, json={"op_id": op(), "answers": {q0: 0}})
    assert r.status_code == 422 and r.json()["code"] == "attempt_finished"
    fresh = (await client.post(base, headers=me, json={"op_id": op()})).json()
    assert fresh["id"] != attempt["id"] and fresh["status"] == "open"
    mine = (await client.get(base, headers=me)).json()["items"]
    assert [a["id"] for a in mine] == [fresh["id"], attempt["id"]]
    assert (await client.get(base, headers=other)).json()["items"] == []
    assert await seeded.db["audit"].count_documents({"action": "training_quiz.submit",
                                                     "target_id": attempt["id"]}) == 1


async def test_deadline_refuses_saves_and_late_submit_scores_what_was_saved(
        client: httpx.AsyncClient, as_role: dict[str, Session], course: str, seeded: Deps) -> None:
    me = as_role["town_coordinator"].headers
    base = f"/api/v1/training/courses/{course}/attempts"
    attempt = (await client.post(base, headers=me, json={"op_id": op()})).json()
    key = await answer_key(client, as_role, course)
    first = attempt["questions"][0]
    r = await client.put(f"{base}/{attempt['id']}/answers", headers=me,
                         json={"op_id": op(), "answers": {first["id"]: first["options"].index(key[first["id"]])}})
    assert r.status_code == 200
    # Time passes: the deadline was a minute ago (past the 30 s grace).
    await seeded.db["training_quiz_attempts"].update_one(
        {"_id": ObjectId(attempt["id"])}, {"$set": {"deadline": datetime.now(UTC) - timedelta(minutes=1)}})
    second = attempt["questions"][1]
    r = await client.put(f"{base}/{attempt['id']}/answers", headers=me, json={"op_id": op(), "answers": {second["id"]: 0}})
    assert r.status_code == 422 and r.json()["code"] == "attempt_time_over"
    r = await client.post(f"{base}/{attempt['id']}/submit", headers=me, json={"op_id": op()})
    done = r.json()
    assert done["status"] == "expired" and done["late"] is True
    assert done["correct"] == 1 and done["score_percent"] == 20 and done["passed"] is False


async def test_an_abandoned_attempt_is_closed_when_a_new_one_starts(
        client: httpx.AsyncClient, as_role: dict[str, Session], course: str, seeded: Deps) -> None:
    me = as_role["district_staff"].headers
    base = f"/api/v1/training/courses/{course}/attempts"
    old = (await client.post(base, headers=me, json={"op_id": op()})).json()
    await seeded.db["training_quiz_attempts"].update_one(
        {"_id": ObjectId(old["id"])}, {"$set": {"deadline": datetime.now(UTC) - timedelta(hours=1)}})
    new = (await client.post(base, headers=me, json={"op_id": op()})).json()
    assert new["id"] != old["id"]
    closed = (await client.get(f"{base}/{old['id']}", headers=me)).json()
    assert closed["status"] == "expired" and closed["score_percent"] == 0


async def test_courses_without_a_quiz_or_unknown_refuse_attempts(client: httpx.AsyncClient,
                                                                 as_role: dict[str, Session], seeded: Deps) -> None:
    no_quiz = await make_course(seeded, quiz=None, code="QZ-NONE")
    r = await client.post(f"/api/v1/training/courses/{no_quiz}/attempts", headers=as_role["room_admin"].headers,
                          json={"op_id": op()})
    assert r.status_code == 422 and r.json()["code"] == "course_has_no_quiz"
    r = await client.post("/api/v1/training/courses/nonsense/attempts", headers=as_role["room_admin"].headers,
                          json={"op_id": op()})
    assert r.status_code == 404
    r = await client.post(f"/api/v1/training/courses/{no_quiz}/attempts", headers=as_role["room_admin"].headers,
                          json={"op_id": "short"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "op_id"]


async def test_phone_quiz_page_and_its_json(seeded: Deps, base_url: str, course: str) -> None:
    from tests.web.test_pages import form_login, page_client

    async with page_client(base_url) as phone:
        await form_login(phone, "/m/login", "jn-gg-001")
        page = await phone.get(f"/m/training/quiz/{course}")
        assert page.status_code == 200
        assert "开始答题" in page.text and "quiz.js" in page.text and "60</b> 分及格" in page.text
        token = page.text.split('name="shuwu-xsrf" content="')[1].split('"')[0]
        url = f"/m/api/training/courses/{course}/attempts"
        r = await phone.post(url, json={"op_id": op()}, headers={"X-XSRFToken": token})
        assert r.status_code == 201 and r.json()["status"] == "open"
        refused = await phone.post(url, json={"op_id": op()})  # no XSRF token
        assert refused.status_code == 403
        assert (await phone.get(f"/m/training/quiz/{'0' * 24}")).status_code == 404
