"""Catalog over HTTP: authorization for every endpoint, bad input, uploads."""

from __future__ import annotations

import pytest

from tests.catalog.test_imports import CSV, DATA, XLSX, marc_bytes, marc_record, xlsx_bytes

TITLES = "/api/v1/catalog/titles"
IMPORTS = "/api/v1/catalog/imports"
ROLES = ("district_admin", "district_staff", "town_coordinator", "inspector", "trainer", "room_admin")
NOT_DISTRICT = ("town_coordinator", "inspector", "trainer", "room_admin")


@pytest.fixture(scope="module")
async def loaded(client, as_role):
    response = await client.post(IMPORTS, content=(DATA / "sample.csv").read_bytes(), params={"dry_run": "false"},
                                 headers={**as_role["district_staff"].headers, "Content-Type": CSV})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_can_search_and_read(client, as_role, loaded, role):
    headers = as_role[role].headers
    page = await client.get(TITLES, params={"q": "xyj", "room": "JN-XSG-001"}, headers=headers)
    assert page.status_code == 200
    item = page.json()["items"][0]
    assert item["title_id"] == "9787020008735" and item["on_shelf_here"] == 0 and item["match"] == "prefix"
    one = await client.get(f"{TITLES}/7-02-000873-9", headers=headers)
    assert one.status_code == 200 and one.json()["title_id"] == "9787020008735"


@pytest.mark.parametrize("role", NOT_DISTRICT)
async def test_only_district_roles_write(client, as_role, loaded, role):
    headers = as_role[role].headers
    created = await client.post(TITLES, json={"title": "越权登记"}, headers=headers)
    patched = await client.patch(f"{TITLES}/9787020008735", json={"year": 1999}, headers=headers)
    imported = await client.post(IMPORTS, content=b"title\nx\n", params={"dry_run": "true"},
                                 headers={**headers, "Content-Type": CSV})
    assert [r.status_code for r in (created, patched, imported)] == [403, 403, 403]
    assert created.json()["code"] == "role_forbidden"


async def test_anonymous_gets_401(client, loaded):
    for response in (await client.get(TITLES, params={"q": "西游"}), await client.post(TITLES, json={"title": "x"}),
                     await client.post(IMPORTS, content=b"title\nx\n", headers={"Content-Type": CSV})):
        assert response.status_code == 401


async def test_create_edit_and_read(client, as_role, loaded):
    headers = as_role["district_admin"].headers
    made = await client.post(TITLES, headers=headers, json={
        "isbn": "978-7-109-00014-8", "title": "茶叶加工", "clc": "TS272", "price_cents": 2800, "publisher_province": "天津市"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["title_id"], body["category"], body["publisher_province"]) == ("9787109000148", "科技", "天津")
    patched = await client.patch(f"{TITLES}/9787109000148", headers=headers, json={"list_year": 2024, "children": True})
    assert patched.status_code == 200 and patched.json()["category"] == "少儿"
    again = await client.post(TITLES, headers=headers, json={"isbn": "9787109000148", "title": "茶叶加工"})
    assert again.status_code == 409 and again.json()["code"] == "title_exists"


@pytest.mark.parametrize(("body", "loc"), [
    ({"isbn": "9787109000149", "title": "错"}, ["body", "isbn"]),
    ({"title": ""}, ["body", "title"]),
    ({"title": "x", "clc": "W1"}, ["body", "clc"]),
    ({"title": "x", "price_cents": -1}, ["body", "price_cents"]),
    ({"title": "x", "format": "scroll"}, ["body", "format"]),
    ({"title": "x", "publisher_province": "火星"}, ["body", "publisher_province"]),
    ({"title": "x", "category": "武侠"}, ["body", "category"]),
])
async def test_bad_titles_name_the_field(client, as_role, loaded, body, loc):
    response = await client.post(TITLES, json=body, headers=as_role["district_admin"].headers)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == loc


async def test_patch_cannot_change_the_isbn_and_bad_ids(client, as_role, loaded):
    headers = as_role["district_admin"].headers
    response = await client.patch(f"{TITLES}/9787020008735", json={"isbn": "9787109000148"}, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "isbn"]
    assert (await client.get(f"{TITLES}/9780306406157", headers=headers)).status_code == 404
    for path in ("12345", "0" * 24):  # a path that cannot name a title names nothing
        bad = await client.get(f"{TITLES}/{path}", headers=headers)
        assert bad.status_code == 404 and bad.json()["errors"][0]["loc"] == ["path", "title_id"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"room": "nowhere"}, {"q": "字" * 61},
                                    {"format": "scroll"}, {"cursor": "@@@", "q": "西游"}, {"surprise": "1"}])
async def test_bad_search_parameters(client, as_role, loaded, params):
    response = await client.get(TITLES, params=params, headers=as_role["inspector"].headers)
    assert response.status_code == 422


async def test_import_xlsx_and_marc_over_http(client, as_role, loaded):
    headers = as_role["district_admin"].headers
    xlsx = xlsx_bytes([["ISBN", "书名"], [9787109000155, "板栗栽培"]])
    response = await client.post(IMPORTS, content=xlsx, params={"dry_run": "true"},
                                 headers={**headers, "Content-Type": XLSX})
    assert response.status_code == 200 and response.json()["created"] == 1
    marc = marc_bytes(marc_record({"010": {"a": "9787109000155"}, "200": {"a": "板栗栽培"}}))
    response = await client.post(IMPORTS, content=marc, headers={**headers, "Content-Type": "application/marc"})
    assert response.status_code == 200 and response.json()["created"] == 1
    found = await client.get(TITLES, params={"q": "banli"}, headers=headers)
    assert [i["title"] for i in found.json()["items"]] == ["板栗栽培"]


@pytest.mark.parametrize(("content", "ctype", "status"), [
    (b"title\nx\n", "application/json", 415),
    (b"title\nx\n", "image/png", 415),
    (b"", CSV, 422),
    (b"\x89PNG\r\n\x1a\n\x00\x00garbage", CSV, 422),
    (b"not a workbook", XLSX, 422),
    (b"99999not marc", "application/marc", 422),
])
async def test_bad_uploads_write_nothing(client, as_role, deps, loaded, content, ctype, status):
    before = await deps.db.titles.count_documents({})
    response = await client.post(IMPORTS, content=content, headers={**as_role["district_admin"].headers,
                                                                    "Content-Type": ctype})
    assert response.status_code == status
    assert await deps.db.titles.count_documents({}) == before


async def test_oversize_upload_is_413(client, as_role, deps, loaded):
    limit = deps.settings.max_body_bytes * 3
    content = b"title\n" + b"x" * (limit + 10)
    response = await client.post(IMPORTS, content=content, headers={**as_role["district_admin"].headers,
                                                                    "Content-Type": CSV})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


async def test_a_large_json_body_is_still_limited_on_other_endpoints(client, as_role, deps, loaded):
    big = {"title": "x", "author": "y" * (deps.settings.max_body_bytes + 10)}
    response = await client.post(TITLES, json=big, headers=as_role["district_admin"].headers)
    assert response.status_code == 413
