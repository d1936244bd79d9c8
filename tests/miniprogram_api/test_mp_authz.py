"""Who may call the mini-program API (ARCHITECTURE invariant 4).

Every /mp route is either for a logged-in reader (``reader=True``) or one of the few
public ones written here by hand, so making a route public must change this file.
A staff token is not a reader's session, and a reader's token opens no staff route.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Session
from tests.miniprogram_api.conftest import MakeUser
from tests.web import Endpoint, api_endpoints

MP_ENDPOINTS = [e for e in api_endpoints() if e.path.startswith("/mp/")]
READER_ENDPOINTS = [e for e in MP_ENDPOINTS if e.spec.reader]
# Written by hand on purpose: a route open to anyone must be listed here.
PUBLIC_MP = {
    "POST /mp/v1/session",
    "GET /mp/v1/privacy/children",
    "GET /mp/v1/rooms",
    "GET /mp/v1/rooms/{code}",
    "GET /mp/v1/titles",
    "GET /mp/v1/titles/{title_id}",
    "GET /mp/v1/titles/{title_id}/reviews",
    "GET /mp/v1/challenges",
    "GET /mp/v1/contests",
}


def _ids(endpoints: list[Endpoint]) -> list[str]:
    return [e.id for e in endpoints]


def test_every_mp_route_is_for_readers_or_listed_public() -> None:
    assert MP_ENDPOINTS, "no /mp routes found"
    for e in MP_ENDPOINTS:
        assert e.spec.roles is None, f"{e.id}: /mp routes are for readers, not staff roles"
    public = {e.id for e in MP_ENDPOINTS if not e.spec.reader}
    assert public == PUBLIC_MP & {e.id for e in MP_ENDPOINTS}, (
        f"public /mp routes changed: {sorted(public)}"
    )


def test_no_staff_route_accepts_readers() -> None:
    staff = [e.id for e in api_endpoints() if e.spec.reader and not e.path.startswith("/mp/")]
    assert staff == []


async def _call(
    client: httpx.AsyncClient, endpoint: Endpoint, headers: dict[str, str]
) -> httpx.Response:
    url = endpoint.url({"code": "JN-XSG-001"})
    body = {} if endpoint.spec.body is not None else None
    return await client.request(endpoint.method, url, headers=headers, json=body)


@pytest.mark.parametrize("endpoint", READER_ENDPOINTS, ids=_ids(READER_ENDPOINTS))
async def test_reader_routes_need_a_reader_session(
    client: httpx.AsyncClient, endpoint: Endpoint, as_role: dict[str, Session]
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Basic eDp5"},
        as_role["district_admin"].headers,
    ):  # a staff token is not a reader session
        response = await _call(client, endpoint, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["code"] == "not_authenticated"


async def test_a_reader_token_opens_no_staff_route(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    for path in ("/api/v1/auth/me", "/api/v1/readers", "/api/v1/rooms"):
        response = await client.get(path, headers=user.headers)
        assert response.status_code == 401, response.text


async def test_logout_ends_the_session(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    assert (await client.get("/mp/v1/me", headers=user.headers)).status_code == 200
    assert (await client.delete("/mp/v1/session", headers=user.headers)).status_code == 204
    assert (await client.get("/mp/v1/me", headers=user.headers)).status_code == 401
