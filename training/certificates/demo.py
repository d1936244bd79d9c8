"""Demo quizzes and certificates, on top of the courses demo (training/courses/demo.py):
question banks for the induction and cataloguing courses, passed attempts for most of the
people who attended, the certificates due, and induction records from 2014–2015 loaded
through the history import, so that about 15 rooms are left whose administrator has not
completed induction.

Idempotent: nothing happens once the induction course has questions. Does nothing when the
courses demo has not run.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from bson import ObjectId
from openpyxl import Workbook

from server.resources import Deps
from training.certificates import history, service
from training.quizzes import repo as quizzes_repo

# (question, options, index of the right one) — from DOMAIN.md and the rooms' rules.
INDUCTION_QUESTIONS: list[tuple[str, list[str], int]] = [
    ("持借阅证的读者每次最多可借图书几册？", ["3 册", "5 册", "8 册", "10 册"], 1),
    ("图书的借期是多少天？", ["7 天", "10 天", "15 天", "30 天"], 1),
    ("一本书到期后可以续借几次？", ["不能续借", "1 次", "2 次", "不限次数"], 1),
    ("报刊（报纸、期刊）的借阅方式是？", ["可以外借 10 天", "只能在书屋内阅览", "只借给老年读者", "只借给学生"], 1),
    ("每位读者最多可以同时借几件音像制品？", ["1 件", "2 件", "5 件", "不能借"], 1),
    ("区里要求每个书屋的图书至少有多少册？", ["500 册", "1000 册", "1500 册", "3000 册"], 2),
    ("区里要求每个书屋的图书至少有多少种？", ["100 种", "300 种", "500 种", "1500 种"], 2),
    ("书屋的报纸、期刊至少应有多少种？", ["10 种", "30 种", "50 种", "100 种"], 1),
    ("书屋的电子音像制品至少应有多少种？", ["30 种", "50 种", "100 种", "500 种"], 2),
    ("书屋的面积至少应达到多少平方米？", ["10 平方米", "20 平方米", "50 平方米", "100 平方米"], 1),
    ("书屋每周至少开放几天？", ["2 天", "3 天", "5 天", "7 天"], 2),
    ("书屋开放的日子里，每天至少开放几小时？", ["2 小时", "4 小时", "6 小时", "8 小时"], 1),
    ("六大类藏书中，目标占比最高的是哪一类？", ["政经", "科技", "生活", "少儿"], 1),
    ("按区里的六大类目标，文化类图书约占多少？", ["10%", "20%", "35%", "50%"], 2),
    ("新到的图书上架前必须做的是？", ["加盖书屋印章并登记", "直接上架", "先借给管理员本人", "放进仓库"], 0),
    ("图书的索书号由什么组成？", ["出版社名称", "分类号加顺序号", "书名拼音", "定价"], 1),
    ("记录每一本入藏图书的登记簿是？", ["图书借阅登记簿", "图书目录登记簿", "读者意见簿", "活动记录"], 1),
    ("读者对书屋的意见和建议应记在哪里？", ["读者意见簿", "图书目录登记簿", "个人手机里", "不用记录"], 0),
    ("在书屋借书需要付费吗？", ["免费，凭借阅证", "每本 1 元", "押金 50 元", "只有会员免费"], 0),
    ("读者在一个书屋借的书，可以在哪里归还？", ["只能在原书屋", "全区任何一个书屋（通借通还）", "只能在区图书馆", "不能归还"], 1),
    ("读者的借阅记录可以提供给谁？", ["任何来问的人", "受法律保护，不得出售或泄露", "商家", "读者的邻居"], 1),
    ("书屋开展阅读活动，区里要求每年至少几次？", ["1 次", "2 次", "4 次", "12 次"], 2),
    ("每年每个书屋至少补充多少种新书？", ["10 种", "30 种", "60 种", "200 种"], 2),
    ("不满 14 周岁的儿童办理借阅账号需要？", ["不需要任何手续", "监护人单独同意", "学校证明", "交押金"], 1),
]
CATALOGUING_QUESTIONS: list[tuple[str, list[str], int]] = [
    ("我国图书馆普遍使用的图书分类法是？", ["杜威十进分类法", "中国图书馆分类法（中图法）", "国会图书馆分类法", "按出版社分类"], 1),
    ("中图法中，字母 I 代表哪一大类？", ["工业技术", "文学", "历史、地理", "医药、卫生"], 1),
    ("中图法中，字母 S 代表哪一大类？", ["农业科学", "社会科学总论", "数理科学", "交通运输"], 0),
    ("中图法中，字母 K 代表哪一大类？", ["文学", "历史、地理", "语言、文字", "艺术"], 1),
    ("图书排架的正确顺序是？", ["按书的颜色", "按索书号从小到大", "按购书时间", "按书的厚薄"], 1),
    ("ISBN 现行的长度是几位？", ["10 位", "12 位", "13 位", "18 位"], 2),
    ("中图法中，字母 R 代表哪一大类？", ["医药、卫生", "工业技术", "农业科学", "天文学"], 0),
    ("书标一般贴在书的什么位置？", ["封面正中", "书脊下方", "封底右上角", "书里第一页"], 1),
    ("中图法中，字母 T 代表哪一大类？", ["工业技术", "文学", "哲学", "军事"], 0),
    ("同一分类号下的图书，区分先后靠什么？", ["书名长短", "顺序号（种次号）", "价格", "页数"], 1),
    ("图书编目时，题名应依据什么著录？", ["书脊", "题名页", "封底简介", "网上书店"], 1),
    ("六大类中的“少儿”类图书，目标约占多少？", ["1%", "4%", "10%", "40%"], 2),
]
# Administrators (in username order) whose 2014–2015 induction is loaded from history.
HISTORY_SLICE = slice(60, 103)
FAILED_EVERY = 9  # one attendee in nine has not passed the quiz yet


async def seed_demo(deps: Deps) -> None:
    from server.seed import _seed_actor

    db = deps.db
    year = (await _year(deps))
    induction = await db["training_courses"].find_one({"code": f"RZ-{year}"})
    if induction is None or await db[quizzes_repo.QUESTIONS].count_documents({"course_id": induction["_id"]}):
        return
    actor = _seed_actor(await db["staff"].find_one({"username": "admin"}))
    now = induction["created_at"]
    cataloguing = await db["training_courses"].find_one({"code": f"ZT-BM-{year}"})
    banks = [(induction, INDUCTION_QUESTIONS)] + ([(cataloguing, CATALOGUING_QUESTIONS)] if cataloguing else [])
    questions = [{"_id": ObjectId(), "course_id": course["_id"], "text": text, "options": options, "answer": answer,
                  "active": True, "created_at": now, "updated_at": now, "created_by": "trainer"}
                 for course, bank in banks for text, options, answer in bank]
    await db[quizzes_repo.QUESTIONS].insert_many(questions)
    await db[quizzes_repo.ATTEMPTS].insert_many(await _passed_attempts(deps, banks, questions))
    await service.issue_due(deps, actor)
    await history.import_history(deps, actor, await _history_sheet(deps), history.sheets.XLSX, dry_run=False)


async def _year(deps: Deps) -> int:
    from server.readers.service import local_today

    return local_today().year


async def _passed_attempts(deps: Deps, banks: list[tuple[dict[str, Any], Any]],
                           questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A submitted attempt for each person present at a finished session of a quiz course
    (most passed, one in nine failed), taken the day after the session."""
    docs = []
    for course, _ in banks:
        quiz = course["quiz"]
        asked = [q for q in questions if q["course_id"] == course["_id"]][:quiz["questions_per_attempt"]]
        sessions = {s["_id"]: s for s in await deps.db["training_sessions"].find(
            {"course_id": course["_id"], "status": "finished"}).to_list()}
        present = await deps.db["training_attendance"].find(
            {"course_id": course["_id"], "status": "present", "session_id": {"$in": list(sessions)}}).sort(
            "username", 1).to_list()
        for i, mark in enumerate(present):
            passed = i % FAILED_EVERY != FAILED_EVERY - 1
            wrong = 2 + i % 4 if passed else len(asked) // 2 + 1
            correct = len(asked) - wrong
            started = sessions[mark["session_id"]]["ends_at"] + timedelta(hours=20 + i % 5)
            docs.append({
                "_id": ObjectId(), "course_id": course["_id"], "staff_id": mark["staff_id"],
                "username": mark["username"], "name": mark["name"], "status": "submitted",
                "questions": [{"id": str(q["_id"]), "text": q["text"], "options": q["options"], "answer": q["answer"]}
                              for q in asked],
                "answers": {str(q["_id"]): (q["answer"] if n < correct else (q["answer"] + 1) % len(q["options"]))
                            for n, q in enumerate(asked)},
                "pass_mark": quiz["pass_mark"], "started_at": started,
                "deadline": started + timedelta(minutes=quiz["time_limit_min"]),
                "submitted_at": started + timedelta(minutes=quiz["time_limit_min"] - 3), "correct": correct,
                "score_percent": correct * 100 // len(asked), "passed": passed, "late": False})
    return docs


async def _history_sheet(deps: Deps) -> bytes:
    """Induction records of 2014–2015 for administrators in post since then (from the paper
    registers), plus a few city-level topic courses."""
    admins = await deps.db["staff"].find({"role": "room_admin", "active": True}).sort("username", 1).to_list()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "书屋编码", "课程", "类别", "级别", "学时", "培训日期", "证书编号"])
    for i, admin in enumerate(admins[HISTORY_SLICE]):
        # a different day for each row, so no two rows are the same (name, course, date)
        held = (date(2014, 5, 6) if i % 2 else date(2015, 4, 8)) + timedelta(days=i)
        sheet.append([admin["name"], (admin.get("rooms") or [""])[0], "农家书屋管理员岗前培训班", "岗前培训", "区级", 8,
                      held.isoformat(), None])
        if i % 6 == 0:
            sheet.append([admin["name"], (admin.get("rooms") or [""])[0], "天津市农家书屋管理员业务培训", "专题培训", "市级",
                          4, (date(2015, 9, 1) + timedelta(days=i)).isoformat(), None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
