"""Who may call what, and where (ARCHITECTURE invariant 4, HOW_WE_BUILD §9).

The role matrix is derived from the ``@endpoint`` declarations, so a new route is
tested by construction; ``EXPECTED_ROLES`` is written by hand, so a change of who
may call an existing route is noticed in review. The scope tests check the room
and town boundaries that roles alone do not express.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from server.app import api_routes, make_app
from server.resources import Deps
from server.staff.roles import Role
from server.web.api import ApiHandler
from server.web.openapi import OpenApiHandler
from tests.conftest import Session, login
from tests.web import Endpoint, api_endpoints, error_locs, undeclared_methods

ALL = frozenset(Role)
DISTRICT = frozenset({Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF})
ADMIN = frozenset({Role.DISTRICT_ADMIN})
DESK = DISTRICT | {Role.ROOM_ADMIN, Role.TOWN_COORDINATOR}  # who serves readers at a room's desk
PUBLIC = None

# Written by hand on purpose: changing who may call a route must change this table too.
EXPECTED_ROLES: dict[str, frozenset[Role] | None] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "POST /api/v1/auth/token": PUBLIC,
    "DELETE /api/v1/auth/token": ALL,
    "GET /api/v1/auth/me": ALL,
    "POST /api/v1/auth/password": ALL,
    "GET /api/v1/staff": DISTRICT,
    "POST /api/v1/staff": ADMIN,
    "GET /api/v1/staff/{staff_id}": ALL,
    "PATCH /api/v1/staff/{staff_id}": ADMIN,
    "GET /api/v1/rooms": ALL,
    "POST /api/v1/rooms": DISTRICT,
    "GET /api/v1/rooms/{code}": ALL,
    "PATCH /api/v1/rooms/{code}": DISTRICT | {Role.TOWN_COORDINATOR, Role.ROOM_ADMIN},
    "POST /api/v1/rooms/{code}/deactivate": DISTRICT,
    "POST /api/v1/rooms/{code}/activate": DISTRICT,
    "GET /api/v1/audit": frozenset({Role.DISTRICT_ADMIN, Role.INSPECTOR}),
    # stock (server/stock/handlers.py)
    "POST /api/v1/rooms/{code}/receipts": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/rooms/{code}/write-offs": DISTRICT | {Role.ROOM_ADMIN},
    "GET /api/v1/rooms/{code}/holdings": ALL,
    "GET /api/v1/rooms/{code}/stock-moves": ALL,
    "POST /api/v1/transfers": DISTRICT | {Role.ROOM_ADMIN},
    "GET /api/v1/transfers": ALL,
    "GET /api/v1/transfers/{transfer_id}": ALL,
    "POST /api/v1/transfers/{transfer_id}/send": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/transfers/{transfer_id}/arrive": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/transfers/{transfer_id}/cancel": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/transfers/{transfer_id}/lost": DISTRICT,
    "GET /api/v1/rooms/{code}/stock-target": ALL,
    "PUT /api/v1/rooms/{code}/stock-target": DISTRICT,
    "GET /api/v1/stock/rebalancing": DISTRICT,
    "GET /api/v1/catalog/titles": ALL,
    "POST /api/v1/catalog/titles": DISTRICT,
    "GET /api/v1/catalog/titles/{title_id}": ALL,
    "PATCH /api/v1/catalog/titles/{title_id}": DISTRICT,
    "POST /api/v1/catalog/imports": DISTRICT,
    "GET /api/v1/distribution/plans": ALL,
    "POST /api/v1/distribution/plans": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}": ALL,
    "PATCH /api/v1/distribution/plans/{plan_id}": DISTRICT,
    "POST /api/v1/distribution/plans/{plan_id}/transition": DISTRICT,
    "POST /api/v1/distribution/plans/{plan_id}/list": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}/candidates": ALL,
    "POST /api/v1/distribution/plans/{plan_id}/candidates": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}/check": ALL,
    "POST /api/v1/distribution/plans/{plan_id}/check": ALL,
    "GET /api/v1/distribution/plans/{plan_id}/picks": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}/rooms/{code}/picks": ALL,
    "PUT /api/v1/distribution/plans/{plan_id}/rooms/{code}/picks": DESK,
    "POST /api/v1/distribution/plans/{plan_id}/demand/refresh": DISTRICT,
    "POST /api/v1/distribution/history": ADMIN,
    "GET /api/v1/distribution/years": ALL,
    # selection runs (distribution/selecting/handlers.py)
    "POST /api/v1/distribution/plans/{plan_id}/selection-runs": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}/selection-runs": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}/selection-runs/{run_id}": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}/selection-runs/{run_id}/diff": DISTRICT,
    # shipments (distribution/shipments/handlers.py)
    "POST /api/v1/distribution/plans/{plan_id}/shipments": DISTRICT,
    "GET /api/v1/distribution/plans/{plan_id}/supplier.xlsx": DISTRICT,
    "GET /api/v1/distribution/shipments": ALL,
    "GET /api/v1/distribution/shipments/{shipment_id}": ALL,
    "POST /api/v1/distribution/shipments/{shipment_id}/transition": DISTRICT,
    "POST /api/v1/distribution/shipments/{shipment_id}/receipts": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/distribution/shipments/{shipment_id}/photos": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/distribution/shipments/{shipment_id}/claims": DISTRICT,
    "GET /api/v1/distribution/shipments/{shipment_id}/packing-list.pdf": ALL,
    "GET /api/v1/distribution/shipments/{shipment_id}/labels.pdf": ALL,
    "GET /api/v1/distribution/photos/{photo_id}": ALL,
    "GET /api/v1/distribution/reconciliation": DISTRICT,
    # delivery routes (distribution/routes/handlers.py)
    "GET /api/v1/distribution/routes": DISTRICT,
    "POST /api/v1/distribution/routes": DISTRICT,
    "GET /api/v1/distribution/routes/{route_id}": DISTRICT,
    "POST /api/v1/distribution/routes/{route_id}/replan": DISTRICT,
    "GET /api/v1/distribution/routes/{route_id}/sheets.pdf": DISTRICT,
    "POST /api/v1/stock/rebalancing/requests": DISTRICT,
    "POST /api/v1/rooms/{code}/stocktakes": DISTRICT | {Role.ROOM_ADMIN},
    "GET /api/v1/rooms/{code}/stocktakes": ALL,
    "GET /api/v1/stocktakes/{stocktake_id}": ALL,
    "POST /api/v1/stocktakes/{stocktake_id}/scans": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/stocktakes/{stocktake_id}/finish": DISTRICT | {Role.ROOM_ADMIN},
    "POST /api/v1/stocktakes/{stocktake_id}/approve": DISTRICT,
    "POST /api/v1/stocktakes/{stocktake_id}/cancel": DISTRICT | {Role.ROOM_ADMIN},
    # readers and circulation: personal data, so not for inspectors and trainers
    "GET /api/v1/readers": DESK,
    "POST /api/v1/readers": DESK,
    "GET /api/v1/readers/{reader_id}": DESK,
    "PATCH /api/v1/readers/{reader_id}": DESK,
    "POST /api/v1/readers/{reader_id}/block": DISTRICT,
    "POST /api/v1/readers/{reader_id}/unblock": DISTRICT,
    "GET /api/v1/readers/{reader_id}/loans": DESK,
    "GET /api/v1/readers/{reader_id}/holds": DESK,
    "GET /api/v1/rooms/{code}/loans": DESK,
    "POST /api/v1/rooms/{code}/loans": DESK,
    "POST /api/v1/rooms/{code}/returns": DESK,
    "POST /api/v1/rooms/{code}/in-room-uses": DESK,
    "GET /api/v1/rooms/{code}/holds": DESK,
    "GET /api/v1/rooms/{code}/loan-stats": ALL,
    "GET /api/v1/loans/{loan_id}": DESK,
    "POST /api/v1/loans/{loan_id}/renew": DESK,
    "POST /api/v1/holds": DESK,
    "POST /api/v1/holds/{hold_id}/cancel": DESK,
    # offline sync (server/circulation/offline.py): inspectors see conflicts, without the readers
    "POST /api/v1/offline-batches": DESK,
    "GET /api/v1/rooms/{code}/offline-conflicts": DESK | {Role.INSPECTOR},
    "POST /api/v1/offline-conflicts/{conflict_id}/resolve": DISTRICT | {Role.ROOM_ADMIN},
    # purchase suggestions (miniprogram_api/books): the district office handles them
    "GET /api/v1/suggestions": DISTRICT,
    "POST /api/v1/suggestions/{suggestion_id}/transition": DISTRICT,
    # room mini-program codes (miniprogram_api/roomcodes)
    "GET /api/v1/rooms/{code}/miniprogram-qr": ALL,
    "POST /api/v1/rooms/{code}/miniprogram-qr/regenerate": DISTRICT,
    # the contest 我的书屋·我的梦 (miniprogram_api/contest): run by the district office
    "GET /api/v1/contests": DISTRICT,
    "POST /api/v1/contests": DISTRICT,
    "GET /api/v1/contests/{contest_id}": DISTRICT,
    "PATCH /api/v1/contests/{contest_id}": DISTRICT,
    "GET /api/v1/contests/{contest_id}/entries": DISTRICT,
    "GET /api/v1/contests/{contest_id}/entries/{entry_id}": DISTRICT,
    "POST /api/v1/contests/{contest_id}/entries/{entry_id}/moderation": DISTRICT,
    "POST /api/v1/contests/{contest_id}/entries/{entry_id}/scores": DISTRICT,
    "GET /api/v1/contests/{contest_id}/entries/{entry_id}/image": DISTRICT,
    "GET /api/v1/contests/{contest_id}/entries/{entry_id}/certificate.pdf": DISTRICT,
    "POST /api/v1/contests/{contest_id}/awards": DISTRICT,
    "GET /api/v1/contests/{contest_id}/results": DISTRICT,
    "GET /api/v1/contests/{contest_id}/results.xlsx": DISTRICT,
    # reading challenges (miniprogram_api/challenges): defined by the district office; rooms'
    # administrators join and log for readers without a phone and check flags, in their rooms
    "GET /api/v1/challenges": ALL,
    "POST /api/v1/challenges": DISTRICT,
    "GET /api/v1/challenges/{challenge_id}": ALL,
    "PATCH /api/v1/challenges/{challenge_id}": DISTRICT,
    "GET /api/v1/challenges/{challenge_id}/participants": DESK,
    "POST /api/v1/challenges/{challenge_id}/participants": DESK,
    "POST /api/v1/challenges/{challenge_id}/participants/{participant_id}/logs": DESK,
    "GET /api/v1/challenges/{challenge_id}/flags": DESK,
    "POST /api/v1/challenges/{challenge_id}/flags/{flag_id}/resolve": DESK,
    "POST /api/v1/challenges/{challenge_id}/draws": DISTRICT,
    "GET /api/v1/challenges/{challenge_id}/draws/{draw_id}": DISTRICT,
    "GET /api/v1/challenges/{challenge_id}/draws/{draw_id}/winners.xlsx": DISTRICT,
    "GET /api/v1/challenges/{challenge_id}/export.xlsx": DESK,
    "GET /api/v1/reviews": DISTRICT,
    "POST /api/v1/reviews/{review_id}/decision": DISTRICT,
    # ratings (training/ratings/handlers.py): the district runs the cycle; rooms and towns nominate;
    # towns review their own entries; the admin alone starts the 公示, decides and reports
    "GET /api/v1/ratings/rounds": ALL,
    "POST /api/v1/ratings/rounds": DISTRICT,
    "GET /api/v1/ratings/rounds/{round_id}": ALL,
    "PATCH /api/v1/ratings/rounds/{round_id}": DISTRICT,
    "POST /api/v1/ratings/rounds/{round_id}/transition": DISTRICT,
    "POST /api/v1/ratings/rounds/{round_id}/metrics/refresh": DISTRICT,
    "GET /api/v1/ratings/rounds/{round_id}/entries": ALL,
    "POST /api/v1/ratings/rounds/{round_id}/entries": DESK,
    "GET /api/v1/ratings/rounds/{round_id}/objections": ALL - {Role.ROOM_ADMIN},
    "POST /api/v1/ratings/rounds/{round_id}/objections": DISTRICT,
    "GET /api/v1/ratings/rounds/{round_id}/plaques.pdf": DISTRICT,
    "GET /api/v1/ratings/rounds/{round_id}/results.xlsx": DISTRICT,
    "GET /api/v1/ratings/entries/{entry_id}": ALL,
    "POST /api/v1/ratings/entries/{entry_id}/withdraw": DESK,
    "POST /api/v1/ratings/entries/{entry_id}/town-review": DISTRICT | {Role.TOWN_COORDINATOR},
    "GET /api/v1/ratings/entries/{entry_id}/certificate.pdf": ALL,
    "POST /api/v1/ratings/objections/{objection_id}/resolve": DISTRICT,
    "POST /api/v1/ratings/history": ADMIN,
    # inspectors' blind scoring (training/ratings/inspections): only inspectors score
    "GET /api/v1/ratings/inspections": DISTRICT | {Role.INSPECTOR},
    "PUT /api/v1/ratings/entries/{entry_id}/score": frozenset({Role.INSPECTOR}),
    "POST /api/v1/ratings/entries/{entry_id}/score/submit": frozenset({Role.INSPECTOR}),
    "POST /api/v1/ratings/entries/{entry_id}/score/photos": frozenset({Role.INSPECTOR}),
    "DELETE /api/v1/ratings/entries/{entry_id}/score/photos/{photo_id}": frozenset({Role.INSPECTOR}),
    "GET /api/v1/ratings/entries/{entry_id}/scores": DISTRICT | {Role.INSPECTOR},
    "GET /api/v1/ratings/photos/{photo_id}": DISTRICT | {Role.INSPECTOR},
    # courses, sessions, enrolment and attendance (training/courses): the district and trainers run
    # them (a trainer only their own sessions, checked in the service); administrators and town
    # coordinators enrol themselves and check in; everyone reads courses and sessions
    "GET /api/v1/training/courses": ALL,
    "POST /api/v1/training/courses": DISTRICT | {Role.TRAINER},
    "GET /api/v1/training/courses/{course_id}": ALL,
    "PATCH /api/v1/training/courses/{course_id}": DISTRICT | {Role.TRAINER},
    "GET /api/v1/training/sessions": ALL,
    "POST /api/v1/training/sessions": DISTRICT | {Role.TRAINER},
    "GET /api/v1/training/sessions/{session_id}": ALL,
    "PATCH /api/v1/training/sessions/{session_id}": DISTRICT | {Role.TRAINER},
    "POST /api/v1/training/sessions/{session_id}/transition": DISTRICT | {Role.TRAINER},
    "GET /api/v1/training/sessions/{session_id}/enrolments": DISTRICT | {Role.TRAINER},
    "POST /api/v1/training/sessions/{session_id}/enrolments": DESK | {Role.TRAINER},
    "POST /api/v1/training/sessions/{session_id}/enrolments/{staff_id}/cancel": DESK | {Role.TRAINER},
    "GET /api/v1/training/sessions/{session_id}/qr": DISTRICT | {Role.TRAINER},
    "GET /api/v1/training/sessions/{session_id}/attendance": DISTRICT | {Role.TRAINER},
    "PUT /api/v1/training/sessions/{session_id}/attendance/{staff_id}": DISTRICT | {Role.TRAINER},
    "POST /api/v1/training/checkins": frozenset({Role.ROOM_ADMIN, Role.TOWN_COORDINATOR}),
    "GET /api/v1/training/me": ALL,
    # quizzes and certificates (training/quizzes, training/certificates): trainers and the district
    # keep the question banks and issue; anyone takes a quiz (only their own attempts); the admin
    # alone revokes and loads history; certificates are scoped in the service (own / towns / all)
    "GET /api/v1/training/courses/{course_id}/questions": DISTRICT | {Role.TRAINER},
    "POST /api/v1/training/courses/{course_id}/questions": DISTRICT | {Role.TRAINER},
    "POST /api/v1/training/courses/{course_id}/questions/import": DISTRICT | {Role.TRAINER},
    "PATCH /api/v1/training/courses/{course_id}/questions/{question_id}": DISTRICT | {Role.TRAINER},
    "DELETE /api/v1/training/courses/{course_id}/questions/{question_id}": DISTRICT | {Role.TRAINER},
    "GET /api/v1/training/courses/{course_id}/attempts": ALL,
    "POST /api/v1/training/courses/{course_id}/attempts": ALL,
    "GET /api/v1/training/courses/{course_id}/attempts/{attempt_id}": ALL,
    "PUT /api/v1/training/courses/{course_id}/attempts/{attempt_id}/answers": ALL,
    "POST /api/v1/training/courses/{course_id}/attempts/{attempt_id}/submit": ALL,
    "GET /api/v1/training/certificates": ALL,
    "GET /api/v1/training/certificates.xlsx": DISTRICT | {Role.TRAINER},
    "POST /api/v1/training/certificates/issue": DISTRICT | {Role.TRAINER},
    "GET /api/v1/training/certificates/{certificate_id}.pdf": ALL,
    "POST /api/v1/training/certificates/{certificate_id}/revoke": ADMIN,
    "GET /api/v1/training/certificates/{certificate_id}": ALL,
    "GET /api/v1/training/requirements": DISTRICT | {Role.TOWN_COORDINATOR},
    "POST /api/v1/training/history": ADMIN,
    # room activity registers, opening check-ins, survey results and metric evidence
    # (server/activities, miniprogram_api/surveys, training/ratings/metrics)
    "POST /api/v1/rooms/{code}/activities": DESK,
    "GET /api/v1/rooms/{code}/activities": ALL,
    "PATCH /api/v1/rooms/{code}/activities/{activity_id}": DESK,
    "GET /api/v1/activities": DISTRICT | {Role.TOWN_COORDINATOR},
    "POST /api/v1/rooms/{code}/openings": DESK,
    "GET /api/v1/rooms/{code}/survey-results": ALL,
    "GET /api/v1/ratings/evidence/{code}": ALL - {Role.ROOM_ADMIN},
    # Excel exports of the console's lists (server/stats/exports): every console role, scoped in the
    # queries (a town coordinator: their towns' rooms); room administrators have no console
    "GET /api/v1/exports/rooms.xlsx": ALL - {Role.ROOM_ADMIN},
    "GET /api/v1/exports/stock.xlsx": ALL - {Role.ROOM_ADMIN},
    "GET /api/v1/exports/loans.xlsx": ALL - {Role.ROOM_ADMIN},
    "GET /api/v1/exports/shipments.xlsx": ALL - {Role.ROOM_ADMIN},
    "GET /api/v1/exports/training.xlsx": ALL - {Role.ROOM_ADMIN},
    "GET /api/v1/exports/ratings.xlsx": ALL - {Role.ROOM_ADMIN},
    # district statistics (server/stats/handlers.py): console roles, scoped (a town coordinator: their towns)
    "GET /api/v1/stats/dashboard": ALL - {Role.ROOM_ADMIN},
    "GET /api/v1/stats/annual-report": ALL - {Role.ROOM_ADMIN},
    "GET /api/v1/stats/annual-report.pdf": ALL - {Role.ROOM_ADMIN},  # server/stats/reports
    "POST /api/v1/stats/refresh": DISTRICT,
}

# The staff API and the health checks; the mini-program's /mp routes have readers, not roles
# (tests/miniprogram_api/test_mp_authz.py).
ENDPOINTS = [e for e in api_endpoints() if not e.path.startswith("/mp/")]
PROTECTED = [e for e in ENDPOINTS if e.spec.roles is not None]
WRONG_ROLE_CASES = [(e, role) for e in PROTECTED for role in Role if role not in e.spec.roles]
ALLOWED_ROLE_CASES = [(e, role) for e in PROTECTED for role in Role if role in e.spec.roles]

OWN_ROOM = "JN-XSG-001"  # as_role["room_admin"]'s room, in 咸水沽镇 (as_role["town_coordinator"]'s town)
OTHER_ROOM = "JN-GG-001"  # as_role["room_admin_other"]'s room, in 葛沽镇
OWN_TOWN, OTHER_TOWN = "咸水沽镇", "葛沽镇"

# Sent wherever a body is declared: any model with extra="forbid" refuses it with 422 after the
# role check has passed, so probing an allowed role writes nothing.
PROBE_BODY = {"zz_authz_probe": True}
BAD_AUTHORIZATIONS = {
    "no header": None,
    "garbage token": "Bearer not-a-real-token",
    "scheme only": "Bearer",
    "overlong token": "Bearer " + "x" * 4000,
    "basic auth": "Basic YWRtaW46c2h1d3UtMjAyNg==",  # admin:shuwu-2026 — passwords are not accepted here
    "revoked token": "revoked",
}


def _ids(cases: list[Any]) -> list[str]:
    return [f"{c[0].id} as {c[1]}" if isinstance(c, tuple) else c.id for c in cases]


async def _request(client: httpx.AsyncClient, endpoint: Endpoint, values: dict[str, str],
                   headers: dict[str, str] | None = None, body: Any = None) -> httpx.Response:
    if endpoint.spec.body is not None and body is None:
        body = PROBE_BODY
    return await client.request(endpoint.method, endpoint.url(values), headers=headers or {},
                                json=body)


@pytest.fixture(scope="module")
async def staff_ids(as_role: dict[str, Session]) -> dict[str, str]:
    """Staff id of each demo session, by as_role key."""
    return {key: session.staff["id"] for key, session in as_role.items()}


@pytest.fixture(scope="module")
def path_values(staff_ids: dict[str, str]) -> dict[str, str]:
    # Real values from the seeded data: the role check must come first whatever the target.
    return {"code": OWN_ROOM, "staff_id": staff_ids["trainer"]}


@pytest.fixture(scope="module")
async def revoked_token(client: httpx.AsyncClient, as_role: dict[str, Session]) -> str:
    session = await login(client, "clerk")
    response = await client.delete("/api/v1/auth/token", headers=session.headers)
    assert response.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=session.headers)).status_code == 401
    return session.token


# -- coverage: every route has an authorization test ---------------------------


def test_every_api_route_has_an_expected_roles_entry() -> None:
    declared = {e.id: e.spec.roles for e in ENDPOINTS}
    unexpected = sorted(declared.keys() - EXPECTED_ROLES.keys())
    gone = sorted(EXPECTED_ROLES.keys() - declared.keys())
    assert not unexpected, f"new API route(s) without an entry in EXPECTED_ROLES: {unexpected}"
    assert not gone, f"EXPECTED_ROLES lists route(s) that no longer exist: {gone}"
    changed = {k: (sorted(EXPECTED_ROLES[k] or []), sorted(v or [])) for k, v in declared.items()
               if v != EXPECTED_ROLES[k]}
    assert not changed, f"roles changed (expected, declared): {changed}"


def test_no_api_method_answers_without_a_declaration() -> None:
    assert undeclared_methods() == []


def test_the_matrix_covers_every_protected_route() -> None:
    # The parametrized tests below are generated from ENDPOINTS; make sure none fell out.
    assert {e.id for e in PROTECTED} == {k for k, v in EXPECTED_ROLES.items() if v is not None}
    assert {e.id for e, _ in WRONG_ROLE_CASES} == {k for k, v in EXPECTED_ROLES.items() if v not in (None, ALL)}
    assert len(ALLOWED_ROLE_CASES) + len(WRONG_ROLE_CASES) == len(PROTECTED) * len(Role)


async def test_every_api_handler_in_the_app_is_in_api_routes(deps: Deps) -> None:
    """An ApiHandler routed outside api_routes() would escape the matrix above."""
    app = make_app(deps)
    known = {handler for _, handler in api_routes()}
    stray = []
    for rule in app.wildcard_router.rules:
        target = rule.target
        if isinstance(target, type) and issubclass(target, ApiHandler) and target not in known:
            stray.append(target.__name__)
    # The OpenAPI document is public by design; the /api catch-all only answers 404.
    assert sorted(stray) == sorted([OpenApiHandler.__name__, "NotFoundApiHandler"])


# -- the role matrix ------------------------------------------------------------


@pytest.mark.parametrize("endpoint", PROTECTED, ids=_ids(PROTECTED))
@pytest.mark.parametrize("variant", list(BAD_AUTHORIZATIONS))
async def test_no_valid_token_is_401(client: httpx.AsyncClient, endpoint: Endpoint, variant: str,
                                     path_values: dict[str, str], revoked_token: str) -> None:
    value = BAD_AUTHORIZATIONS[variant]
    if value == "revoked":
        value = f"Bearer {revoked_token}"
    headers = {"Authorization": value} if value is not None else {}
    response = await _request(client, endpoint, path_values, headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("endpoint", "role"), WRONG_ROLE_CASES, ids=_ids(WRONG_ROLE_CASES))
async def test_wrong_role_is_403(client: httpx.AsyncClient, as_role: dict[str, Session], endpoint: Endpoint,
                                 role: Role, path_values: dict[str, str], deps: Deps) -> None:
    before = await deps.db["audit"].count_documents({})
    response = await _request(client, endpoint, path_values, as_role[role.value].headers)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "role_forbidden"
    assert await deps.db["audit"].count_documents({}) == before


# Operations without a body that would change something if probed as-is; each needs a way to
# show the role check passed without a lasting change. A new one fails until it is added here.
NO_BODY_PROBES = {
    "POST /api/v1/rooms/{code}/activate": (422, "status_unchanged"),  # the room is active already
    "DELETE /api/v1/auth/token": (204, None),  # run with a fresh session, see below
    "POST /api/v1/catalog/imports": (415, "unsupported_import_format"),  # no file: nothing imported
    "POST /api/v1/distribution/plans/{plan_id}/list": (404, "plan_not_found"),  # no such plan: nothing imported
    "POST /api/v1/distribution/plans/{plan_id}/demand/refresh": (404, "plan_not_found"),
    "POST /api/v1/distribution/history": (200, None),  # idempotent: loads 2012–2015 once
    "POST /api/v1/ratings/rounds/{round_id}/metrics/refresh": (404, "round_not_found"),  # no such round
    "POST /api/v1/ratings/history": (200, None),  # idempotent: loads the 2014/2015 results once
    "POST /api/v1/distribution/shipments/{shipment_id}/photos": (415, "unsupported_image_type"),  # no picture
    "POST /api/v1/ratings/entries/{entry_id}/score/photos": (415, "unsupported_image_type"),  # no picture
    "DELETE /api/v1/ratings/entries/{entry_id}/score/photos/{photo_id}": (404, "entry_not_found"),  # no such entry
    "POST /api/v1/training/courses/{course_id}/questions/import": (404, "course_not_found"),  # no such course
    "DELETE /api/v1/training/courses/{course_id}/questions/{question_id}": (404, "course_not_found"),
    "POST /api/v1/training/history": (415, "unsupported_import_format"),  # no file: nothing imported
    "POST /api/v1/stats/refresh": (202, None),  # queues the statistics refold: harmless
}


@pytest.mark.parametrize(("endpoint", "role"), ALLOWED_ROLE_CASES, ids=_ids(ALLOWED_ROLE_CASES))
async def test_allowed_role_passes_the_role_check(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                  endpoint: Endpoint, role: Role, staff_ids: dict[str, str],
                                                  deps: Deps) -> None:
    session = as_role[role.value]
    values = {"code": OWN_ROOM, "staff_id": staff_ids[role.value]}  # targets in every role's scope
    expected: tuple[int, str | None] | None = None
    if endpoint.spec.body is not None:
        expected = (422, "validation_failed")
    elif endpoint.method not in {"GET", "HEAD"}:
        assert endpoint.id in NO_BODY_PROBES, f"{endpoint.id}: add a harmless probe to NO_BODY_PROBES"
        expected = NO_BODY_PROBES[endpoint.id]
        if endpoint.id == "DELETE /api/v1/auth/token":
            session = await login(client, session.username)
    rooms_before = await deps.db["rooms"].find({}, {"_id": 0}).sort("code").to_list()
    response = await _request(client, endpoint, values, session.headers)
    binary = endpoint.spec.media_type is not None and response.status_code == endpoint.spec.status
    body = response.json() if response.status_code != 204 and not binary else {}  # PNG, PDF, xlsx: no JSON
    assert response.status_code != 401, response.text
    assert body.get("code") != "role_forbidden", response.text
    if expected is None and any(p.endswith("_id") and p not in values for p in endpoint.params):
        # The path names a well-formed id of nothing: past the role check, the look-up finds nothing.
        assert response.status_code == 404 and body["code"].endswith("_not_found"), response.text
    elif expected is None:
        assert response.status_code == 200, response.text
    else:
        assert (response.status_code, body.get("code")) == expected, response.text
        if endpoint.spec.body is not None:
            assert ["body", "zz_authz_probe"] in error_locs(body)
    assert await deps.db["rooms"].find({}, {"_id": 0}).sort("code").to_list() == rooms_before


async def test_public_routes_ignore_a_bad_token(client: httpx.AsyncClient) -> None:
    bad = {"Authorization": "Bearer not-a-real-token"}
    for path in ("/healthz", "/readyz"):
        assert (await client.get(path, headers=bad)).status_code == 200
    response = await client.post("/api/v1/auth/token", headers=bad,
                                 json={"username": "nobody-here", "password": "wrong-password"})
    assert response.status_code == 401
    assert response.json()["code"] == "bad_credentials"


# -- room scope -------------------------------------------------------------------


async def _room(deps: Deps, code: str) -> dict[str, Any]:
    doc = await deps.db["rooms"].find_one({"code": code}, {"_id": 0})
    assert doc is not None
    return doc


@pytest.mark.parametrize(("who", "theirs", "other"), [("room_admin", OWN_ROOM, OTHER_ROOM),
                                                      ("room_admin_other", OTHER_ROOM, OWN_ROOM)])
async def test_room_admin_cannot_touch_another_room(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                    deps: Deps, who: str, theirs: str, other: str) -> None:
    headers = as_role[who].headers
    assert (await client.get(f"/api/v1/rooms/{theirs}", headers=headers)).status_code == 200
    before, audit_before = await _room(deps, other), await deps.db["audit"].count_documents({})
    attempts = [
        ("GET", f"/api/v1/rooms/{other}", None),
        ("PATCH", f"/api/v1/rooms/{other}", {"seats": 7}),
        ("PATCH", f"/api/v1/rooms/{other}", {"opening_hours": {"mon": ["08:00-09:00"]}}),
        ("POST", f"/api/v1/rooms/{other}/deactivate", {"reason": "测试越权停用"}),
        ("POST", f"/api/v1/rooms/{other}/activate", None),
    ]
    for method, url, body in attempts:
        response = await client.request(method, url, headers=headers, json=body)
        assert response.status_code in (403, 404), f"{method} {url}: {response.status_code} {response.text}"
    assert await _room(deps, other) == before
    assert await deps.db["audit"].count_documents({}) == audit_before


async def test_room_admin_lists_only_their_room(client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    headers = as_role["room_admin"].headers
    page = (await client.get("/api/v1/rooms", params={"limit": 200}, headers=headers)).json()
    assert [r["code"] for r in page["items"]] == [OWN_ROOM]
    assert page["total"] == 1
    # Filters narrow the scope; they never widen it.
    for params in ({"town": OTHER_TOWN}, {"q": "GG"}, {"q": OTHER_ROOM}):
        page = (await client.get("/api/v1/rooms", params=params, headers=headers)).json()
        assert page["items"] == [] and page["total"] == 0, params


async def test_town_coordinator_sees_only_their_town(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                     deps: Deps) -> None:
    headers = as_role["town_coordinator"].headers
    in_town = await deps.db["rooms"].count_documents({"town": OWN_TOWN})
    assert 1 < in_town < await deps.db["rooms"].count_documents({})
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 7}  # several pages: the cursor must keep the scope too
    while True:
        page = (await client.get("/api/v1/rooms", params=params, headers=headers)).json()
        assert page["total"] == in_town
        seen += page["items"]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == in_town
    assert {r["town"] for r in seen} == {OWN_TOWN}
    page = (await client.get("/api/v1/rooms", params={"town": OTHER_TOWN}, headers=headers)).json()
    assert page["items"] == [] and page["total"] == 0


async def test_town_coordinator_is_refused_a_room_of_another_town(
        client: httpx.AsyncClient, as_role: dict[str, Session], deps: Deps) -> None:
    headers = as_role["town_coordinator"].headers
    assert (await client.get(f"/api/v1/rooms/{OWN_ROOM}", headers=headers)).status_code == 200
    before = await _room(deps, OTHER_ROOM)
    response = await client.get(f"/api/v1/rooms/{OTHER_ROOM}", headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "room_out_of_scope"
    response = await client.patch(f"/api/v1/rooms/{OTHER_ROOM}", headers=headers, json={"seats": 3})
    assert response.status_code == 403 and response.json()["code"] == "room_out_of_scope"
    for action, body in (("deactivate", {"reason": "测试越权停用"}), ("activate", None)):
        response = await client.post(f"/api/v1/rooms/{OTHER_ROOM}/{action}", headers=headers, json=body)
        assert response.status_code == 403
    assert await _room(deps, OTHER_ROOM) == before


ROOM_SCOPED = [e for e in PROTECTED if e.params == ("code",)
               and e.spec.roles & {Role.ROOM_ADMIN, Role.TOWN_COORDINATOR}]
# A body each room-scoped write accepts, so the request gets past validation to the scope check.
# A new room-scoped write fails test_wrong_room_is_refused until it has one here.
VALID_ROOM_BODIES: dict[str, dict[str, Any]] = {
    "PATCH /api/v1/rooms/{code}": {"seats": 7},
    "POST /api/v1/rooms/{code}/receipts": {"op_id": "authz-scope-receipt",
                                           "lines": [{"title_id": "9787020002207", "quantity": 1}]},
    "POST /api/v1/rooms/{code}/write-offs": {"op_id": "authz-scope-writeoff", "title_id": "9787020002207",
                                             "reason": "lost"},
    "POST /api/v1/rooms/{code}/stocktakes": {"op_id": "authz-scope-stocktake"},
    "POST /api/v1/rooms/{code}/loans": {"op_id": "authz-scope-loan", "card_no": "JN00000001",
                                        "title_id": "9787020002207"},
    "POST /api/v1/rooms/{code}/returns": {"op_id": "authz-scope-return", "title_id": "9787020002207"},
    "POST /api/v1/rooms/{code}/in-room-uses": {"op_id": "authz-scope-inroom", "title_id": "9787020002207"},
    "POST /api/v1/rooms/{code}/activities": {"op_id": "authz-scope-activity", "title": "读书会", "kind": "读书会",
                                             "attendance": 5,
                                             "held_on": (date.today() - timedelta(days=1)).isoformat()},
    "POST /api/v1/rooms/{code}/openings": {"op_id": "authz-scope-opening"},
}
SCOPE_CASES = [(e, who) for e in ROOM_SCOPED for who, role in (("room_admin", Role.ROOM_ADMIN),
                                                                ("room_admin_other", Role.ROOM_ADMIN),
                                                                ("town_coordinator", Role.TOWN_COORDINATOR))
               if role in e.spec.roles]
ROOM_OF = {"room_admin": (OWN_ROOM, OTHER_ROOM), "room_admin_other": (OTHER_ROOM, OWN_ROOM),
           "town_coordinator": (OWN_ROOM, OTHER_ROOM)}
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify", "bulkWrite"}


@pytest.mark.parametrize(("endpoint", "who"), SCOPE_CASES, ids=_ids(SCOPE_CASES))
async def test_wrong_room_is_refused(client: httpx.AsyncClient, as_role: dict[str, Session],
                                     command_counter: Any, endpoint: Endpoint, who: str) -> None:
    """Every route under /rooms/{code} open to room administrators or town coordinators keeps
    them to their own rooms (invariant 4). Derived from the declarations, so new routes count."""
    theirs, other = ROOM_OF[who]
    body = None
    if endpoint.spec.body is not None:
        assert endpoint.id in VALID_ROOM_BODIES, f"{endpoint.id}: add a valid body to VALID_ROOM_BODIES"
        body = VALID_ROOM_BODIES[endpoint.id]
    elif endpoint.method == "GET":  # the same request on their own room works
        own = await client.get(endpoint.url({"code": theirs}), headers=as_role[who].headers)
        assert own.status_code == 200, own.text
    command_counter.reset()
    response = await client.request(endpoint.method, endpoint.url({"code": other}), json=body,
                                    headers=as_role[who].headers)
    assert response.status_code in (403, 404), response.text
    writes = [c for c in command_counter.commands if c.split(":")[0] in WRITE_COMMANDS]
    assert writes == [], writes


async def test_room_admin_edits_practical_details_of_their_room(
        client: httpx.AsyncClient, as_role: dict[str, Session], deps: Deps) -> None:
    headers = as_role["room_admin"].headers
    original = await _room(deps, OWN_ROOM)
    hours = {"tue": ["09:00-12:00"], "sat": ["14:00-17:30"]}
    try:
        response = await client.patch(f"/api/v1/rooms/{OWN_ROOM}", headers=headers,
                                      json={"opening_hours": hours, "seats": original["seats"] + 3})
        assert response.status_code == 200, response.text
        assert response.json()["opening_hours"] == hours
        assert response.json()["seats"] == original["seats"] + 3
        stored = await _room(deps, OWN_ROOM)
        assert (stored["opening_hours"], stored["seats"]) == (hours, original["seats"] + 3)
    finally:
        restore = await client.patch(f"/api/v1/rooms/{OWN_ROOM}", headers=headers,
                                     json={"opening_hours": original["opening_hours"], "seats": original["seats"]})
        assert restore.status_code == 200, restore.text


@pytest.mark.parametrize("change", [{"name": "改名书屋"}, {"kind": "社区书吧"}, {"seats": 9, "name": "改名书屋"},
                                    {"village": "别的村"}, {"location": {"lat": 38.9, "lng": 117.4}}])
async def test_room_admin_cannot_edit_identity_fields(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                      deps: Deps, change: dict[str, Any]) -> None:
    before, audit_before = await _room(deps, OWN_ROOM), await deps.db["audit"].count_documents({})
    response = await client.patch(f"/api/v1/rooms/{OWN_ROOM}", headers=as_role["room_admin"].headers, json=change)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "field_not_editable"
    refused = sorted(set(change) - {"seats"})
    assert error_locs(body) == [["body", f] for f in refused]
    assert await _room(deps, OWN_ROOM) == before  # nothing partial: not even the allowed seats
    assert await deps.db["audit"].count_documents({}) == audit_before


# -- staff scope -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["town_coordinator", "inspector", "trainer", "room_admin", "room_admin_other"])
async def test_non_district_staff_see_only_themselves(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                      staff_ids: dict[str, str], who: str) -> None:
    headers = as_role[who].headers
    own = await client.get(f"/api/v1/staff/{staff_ids[who]}", headers=headers)
    assert own.status_code == 200 and own.json()["username"] == as_role[who].username
    for other in ("district_admin", "district_staff", "room_admin" if who != "room_admin" else "room_admin_other"):
        response = await client.get(f"/api/v1/staff/{staff_ids[other]}", headers=headers)
        # 404, not 403: whether an account exists is not theirs to learn.
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "staff_not_found"


async def test_district_staff_see_anyone(client: httpx.AsyncClient, as_role: dict[str, Session],
                                         staff_ids: dict[str, str]) -> None:
    for who in ("district_admin", "district_staff"):
        response = await client.get(f"/api/v1/staff/{staff_ids['room_admin']}", headers=as_role[who].headers)
        assert response.status_code == 200 and response.json()["rooms"] == [OWN_ROOM]


async def test_audit_is_for_inspectors_not_district_staff(client: httpx.AsyncClient,
                                                          as_role: dict[str, Session]) -> None:
    response = await client.get("/api/v1/audit", headers=as_role["inspector"].headers)
    assert response.status_code == 200
    assert any(e["action"] == "auth.login" for e in response.json()["items"])
    response = await client.get("/api/v1/audit", headers=as_role["district_staff"].headers)
    assert response.status_code == 403 and response.json()["code"] == "role_forbidden"
