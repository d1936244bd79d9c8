"""Quizzes over HTTP: question banks (``/api/v1/training/courses/<id>/questions…``), attempts
(``/api/v1/training/courses/<id>/attempts…``), the phone's quiz page
(``/m/training/quiz/<course_id>``) and its JSON (``/m/api/training/…``)."""

from __future__ import annotations

from server.phone.base import PhoneApiHandler, PhonePage
from server.staff.roles import ALL_STAFF, DISTRICT, PHONE, Role
from server.storage import db_now
from server.web.api import ApiHandler, endpoint
from training.quizzes import attempts, service
from training.quizzes.models import (
    GRACE_SECS,
    AnswersIn,
    AttemptOut,
    AttemptStartIn,
    ImportQuery,
    MyAttempts,
    QuestionImportReport,
    QuestionIn,
    QuestionList,
    QuestionOut,
    QuestionPatch,
    SubmitIn,
)

MANAGERS = DISTRICT | {Role.TRAINER}
TAGS = ["training"]
IMPORT_BODY_FACTOR = 3  # a question bank sheet may be larger than a JSON body


class QuestionsHandler(ApiHandler):
    @endpoint(summary="课程题库（含答案，仅培训管理人员可见）", roles=MANAGERS, response=QuestionList, tags=TAGS,
              errors=(404,))
    async def get(self, course_id: str) -> QuestionList:
        return await service.list_questions(self.deps, course_id)

    @endpoint(summary="向题库添加一道单选题", roles=MANAGERS, body=QuestionIn, response=QuestionOut, status=201,
              tags=TAGS, errors=(404, 422))
    async def post(self, course_id: str, *, body: QuestionIn) -> QuestionOut:
        return await service.add_question(self.deps, self.me, course_id, body)


class QuestionImportHandler(ApiHandler):
    def body_limit_bytes(self) -> int:
        return self.deps.settings.max_body_bytes * IMPORT_BODY_FACTOR

    @endpoint(summary="从 Excel 导入题库（可试运行；有错则全部不导入）", roles=MANAGERS, query=ImportQuery,
              response=QuestionImportReport, tags=TAGS, errors=(404, 413, 415, 422),
              description="The .xlsx file is the raw body. Columns: 题目, 选项A … 选项F, 答案 (a letter).")
    async def post(self, course_id: str, *, query: ImportQuery) -> QuestionImportReport:
        return await service.import_questions(self.deps, self.me, course_id, self.request.body or b"",
                                              self.request.headers.get("Content-Type"), dry_run=query.dry_run)


class QuestionHandler(ApiHandler):
    @endpoint(summary="修改题目，或停用/启用", roles=MANAGERS, body=QuestionPatch, response=QuestionOut, tags=TAGS,
              errors=(404, 422))
    async def patch(self, course_id: str, question_id: str, *, body: QuestionPatch) -> QuestionOut:
        return await service.update_question(self.deps, self.me, course_id, question_id, body)

    @endpoint(summary="停用题目（不删除：已答过的试卷仍保留原题）", roles=MANAGERS, tags=TAGS, errors=(404,))
    async def delete(self, course_id: str, question_id: str) -> None:
        await service.update_question(self.deps, self.me, course_id, question_id, QuestionPatch(active=False))


class AttemptsHandler(ApiHandler):
    @endpoint(summary="我在这门课程的答题记录", roles=ALL_STAFF, response=MyAttempts, tags=TAGS, errors=(404,))
    async def get(self, course_id: str) -> MyAttempts:
        return await attempts.my_attempts(self.deps, self.me, course_id)

    @endpoint(summary="开始（或继续）一次限时答题（op_id 幂等）", roles=ALL_STAFF, body=AttemptStartIn,
              response=AttemptOut, status=201, tags=TAGS, errors=(404, 409, 422))
    async def post(self, course_id: str, *, body: AttemptStartIn) -> AttemptOut:
        return await attempts.start_attempt(self.deps, self.me, course_id, body)


class AttemptHandler(ApiHandler):
    @endpoint(summary="一次答题（只有本人可见；交卷前不含答案）", roles=ALL_STAFF, response=AttemptOut, tags=TAGS,
              errors=(404,))
    async def get(self, course_id: str, attempt_id: str) -> AttemptOut:
        return await attempts.get_attempt(self.deps, self.me, course_id, attempt_id)


class AnswersHandler(ApiHandler):
    @endpoint(summary="保存答案（截止前；op_id 幂等）", roles=ALL_STAFF, body=AnswersIn, response=AttemptOut, tags=TAGS,
              errors=(404, 409, 422))
    async def put(self, course_id: str, attempt_id: str, *, body: AnswersIn) -> AttemptOut:
        return await attempts.save_answers(self.deps, self.me, course_id, attempt_id, body)


class SubmitHandler(ApiHandler):
    @endpoint(summary="交卷并自动评分（op_id 幂等；超时交卷只计已保存的答案）", roles=ALL_STAFF, body=SubmitIn,
              response=AttemptOut, tags=TAGS, errors=(404, 409, 422))
    async def post(self, course_id: str, attempt_id: str, *, body: SubmitIn) -> AttemptOut:
        return await attempts.submit_attempt(self.deps, self.me, course_id, attempt_id, body)


# -- the phone -----------------------------------------------------------------------------


class PhoneAttemptsHandler(PhoneApiHandler):
    @endpoint(summary="开始答题（手机页面）", roles=PHONE, body=AttemptStartIn, response=AttemptOut, status=201)
    async def post(self, course_id: str, *, body: AttemptStartIn) -> AttemptOut:
        return await attempts.start_attempt(self.deps, self.me, course_id, body)


class PhoneAnswersHandler(PhoneApiHandler):
    @endpoint(summary="保存答案（手机页面）", roles=PHONE, body=AnswersIn, response=AttemptOut)
    async def put(self, course_id: str, attempt_id: str, *, body: AnswersIn) -> AttemptOut:
        return await attempts.save_answers(self.deps, self.me, course_id, attempt_id, body)


class PhoneSubmitHandler(PhoneApiHandler):
    @endpoint(summary="交卷（手机页面）", roles=PHONE, body=SubmitIn, response=AttemptOut)
    async def post(self, course_id: str, attempt_id: str, *, body: SubmitIn) -> AttemptOut:
        return await attempts.submit_attempt(self.deps, self.me, course_id, attempt_id, body)


class QuizPage(PhonePage):
    """The quiz on the phone: the rules, a start button, then one question per screen with a
    countdown; the score, pass or fail and the right answers after submitting."""

    roles = PHONE

    async def get(self, course_id: str) -> None:
        course = await service.course_doc(self.deps, course_id)
        history = await attempts.my_attempts(self.deps, self.me, course_id)
        self.render_page("phone/quiz.html", course=course, quiz=course.get("quiz"), history=history.items[:5],
                         grace_secs=GRACE_SECS, xsrf_token=self.xsrf_token.decode(), now=db_now())


COURSE = r"(?P<course_id>[^/]+)"
ATTEMPT = r"(?P<attempt_id>[^/]+)"
BASE = rf"/api/v1/training/courses/{COURSE}"
routes = [
    (rf"{BASE}/questions", QuestionsHandler),
    (rf"{BASE}/questions/import", QuestionImportHandler),
    (rf"{BASE}/questions/(?P<question_id>[^/]+)", QuestionHandler),
    (rf"{BASE}/attempts", AttemptsHandler),
    (rf"{BASE}/attempts/{ATTEMPT}", AttemptHandler),
    (rf"{BASE}/attempts/{ATTEMPT}/answers", AnswersHandler),
    (rf"{BASE}/attempts/{ATTEMPT}/submit", SubmitHandler),
]
pages = [
    (rf"/m/api/training/courses/{COURSE}/attempts", PhoneAttemptsHandler),
    (rf"/m/api/training/courses/{COURSE}/attempts/{ATTEMPT}/answers", PhoneAnswersHandler),
    (rf"/m/api/training/courses/{COURSE}/attempts/{ATTEMPT}/submit", PhoneSubmitHandler),
    (rf"/m/training/quiz/{COURSE}", QuizPage),
]
