"""The OpenAPI 3.1 document at /api/openapi.json: valid, complete, and true (ARCHITECTURE
"API conventions": it is fuzzed in tests).

The structural tests compare the document with the ``@endpoint`` declarations. The fuzz test
runs schemathesis (its CLI, as a subprocess awaited on the event loop that also serves the
in-process app) against every operation, as a district administrator.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from schemathesis.specs.openapi import definitions

from server.staff.roles import Role
from tests.conftest import Session, login
from tests.web import Endpoint, api_endpoints

ENDPOINTS = api_endpoints()
PROBLEM_REF = "#/components/schemas/Problem"
FUZZ_TIMEOUT_SECS = 240
# Per operation, for the fuzzing phase (the coverage phase adds its boundary cases on top), while
# keeping the whole run around a minute on two cores.
FUZZ_MAX_EXAMPLES = 15
FUZZ_SEED = 2026  # fixed, so a failure reproduces; change it to explore


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [
            r for v in node.values() for r in all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in all_refs(v)]
    return []


# -- the document is valid OpenAPI 3.1 ----------------------------------------------------------


def test_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validator = definitions.OPENAPI_31_VALIDATOR  # the official 3.1 schema, shipped with schemathesis
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    broken = copy.deepcopy(document)
    del broken["info"]
    broken["paths"]["/healthz"]["get"]["responses"] = "none"
    assert not validator.is_valid(broken), "the validator accepts anything"


def test_component_schemas_are_valid_json_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "Problem" in schemas
    for name, schema in schemas.items():
        assert jsonschema_rs.meta.is_valid(schema), f"components/schemas/{name} is not a valid JSON Schema"


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = set(all_refs(document))
    assert refs
    for ref in refs:
        resolve(document, ref)


# -- the document matches the declarations -------------------------------------------------------


def test_paths_are_exactly_the_api_routes(document: dict[str, Any]) -> None:
    documented = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    assert documented == {e.id for e in ENDPOINTS}
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids)), "duplicate operationId"


def _schema_of(document: dict[str, Any], content: dict[str, Any], media: str) -> dict[str, Any]:
    assert list(content) == [media], content
    return resolve(document, content[media]["schema"]["$ref"])


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.id for e in ENDPOINTS])
def test_operation_matches_its_declaration(document: dict[str, Any], endpoint: Endpoint) -> None:
    spec = endpoint.spec
    op = document["paths"][endpoint.path][endpoint.method.lower()]
    assert op["summary"] == spec.summary

    params = {(p["in"], p["name"]): p for p in op["parameters"]}
    assert {n for i, n in params if i == "path"} == set(endpoint.params)
    assert all(params[("path", n)]["required"] for n in endpoint.params)
    query_model = spec.query.model_fields if spec.query else {}
    assert {n for i, n in params if i == "query"} == set(query_model)
    for name, info in query_model.items():
        assert params[("query", name)]["required"] == info.is_required(), name

    if spec.body is None:
        assert "requestBody" not in op
    else:
        assert op["requestBody"]["required"] is True
        schema = _schema_of(document, op["requestBody"]["content"], "application/json")
        assert set(schema["properties"]) == set(spec.body.model_fields)
        assert schema.get("additionalProperties") is False, "unknown fields are refused, so say so"

    responses = op["responses"]
    if spec.media_type is not None:
        assert list(responses[str(spec.status)]["content"]) == [spec.media_type]
    elif spec.response is None:
        assert "204" in responses and "content" not in responses["204"]
    else:
        schema = _schema_of(document, responses[str(spec.status)]["content"], "application/json")
        assert set(schema["properties"]) == set(spec.response.model_fields)

    expected_errors = set(spec.errors) | {400}
    if spec.body is not None:
        expected_errors |= {413, 415, 422}
    if spec.query is not None:
        expected_errors |= {413, 422}
    if spec.roles is not None:
        expected_errors |= {401, 403}
        assert op["security"] == [{"bearer": []}]
    elif spec.reader:
        expected_errors |= {401, 404, 429}
        assert op["security"] == [{"reader": []}]
    else:
        assert "security" not in op
    documented_errors = {int(s) for s in responses if int(s) >= 400}
    assert expected_errors <= documented_errors
    for status in documented_errors:
        content = responses[str(status)]["content"]
        if "application/problem+json" in content:
            assert content["application/problem+json"]["schema"]["$ref"] == PROBLEM_REF
        else:  # an error status that answers with the operation's own model (e.g. /readyz's 503)
            assert spec.response is not None and status in spec.also, (status, content)


def test_readyz_documents_its_503_body(document: dict[str, Any]) -> None:
    """/readyz answers 503 with the same {"status": "unavailable", "checks": …} JSON as its 200."""
    responses = document["paths"]["/readyz"]["get"]["responses"]
    assert responses["503"]["content"] == responses["200"]["content"]


async def test_real_responses_match_the_document(client: httpx.AsyncClient, document: dict[str, Any],
                                                 as_role: dict[str, Session]) -> None:
    """A few real answers, validated against the schemas the document gives for them."""
    admin = as_role["district_admin"].headers
    cases = [("/healthz", {}, 200), ("/api/v1/rooms", admin, 200), ("/api/v1/rooms/JN-XSG-001", admin, 200),
             ("/api/v1/auth/me", admin, 200), ("/api/v1/staff", admin, 200), ("/api/v1/audit", admin, 200),
             ("/api/v1/rooms", {}, 401), ("/api/v1/audit", as_role["trainer"].headers, 403),
             ("/api/v1/rooms/JN-XSG-999", admin, 404), ("/api/v1/rooms?limit=0", admin, 422)]
    for url, headers, status in cases:
        response = await client.get(url, headers=headers)
        assert response.status_code == status, (url, response.text)
        path = url.split("?")[0].replace("JN-XSG-001", "{code}").replace("JN-XSG-999", "{code}")
        declared = document["paths"][path]["get"]["responses"][str(status)]["content"]
        media = response.headers["Content-Type"].split(";")[0]
        schema = {**declared[media]["schema"], "components": document["components"]}
        errors = [e.message for e in jsonschema_rs.Draft202012Validator(schema).iter_errors(response.json())]
        assert errors == [], (url, errors)


# -- fuzzing ---------------------------------------------------------------------------------------

HOOKS = '''
import schemathesis

OWN_ID = {own_id!r}


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    # The fuzzing account itself: a new password there would end the session mid-run.
    return not path_parameters or path_parameters.get("staff_id") != OWN_ID
'''

CONFIG = '''
[warnings]
# A run where some operations only ever saw 401/403 tested nothing there: fail it.
fail-on = ["missing_auth"]
'''


@pytest.fixture(scope="module")
async def fuzz_admin(client: httpx.AsyncClient, as_role: dict[str, Session]) -> Session:
    """A district administrator of its own, so the fuzzer's edits and lock-outs hurt no other test."""
    response = await client.post("/api/v1/staff", headers=as_role["district_admin"].headers, json={
        "username": "fuzz-admin", "name": "模糊测试", "password": "fuzz-admin-password", "role": "district_admin"})
    assert response.status_code == 201, response.text
    session = await login(client, "fuzz-admin", "fuzz-admin-password")
    assert session.staff["role"] == Role.DISTRICT_ADMIN
    return session


async def _fuzz(base_url: str, token: str, tmp_path: Path, own_id: str, selection: list[str],
                exclusions: list[str], expected: int) -> None:
    hooks = tmp_path / "st_hooks.py"
    hooks.write_text(HOOKS.format(own_id=own_id))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--no-color", "--config-file", str(config), "run", f"{base_url}/api/openapi.json",
        "--checks", "all",
        # Schema-valid is not business-valid: a town outside the district, a room code that does not
        # match its town, an id that names nothing, an opaque cursor made up by the fuzzer are all
        # refused with 4xx on purpose. Everything else — server errors, schema and content-type
        # conformance, undocumented statuses, 405s without Allow, ignored auth — must pass.
        "--exclude-checks", "positive_data_acceptance",
        "-H", f"Authorization: Bearer {token}",
        *selection, *exclusions,
        "--max-examples", str(FUZZ_MAX_EXAMPLES), "--seed", str(FUZZ_SEED),
        # One worker: the server under test is this one event loop anyway, and two worker threads
        # running hypothesis' lambda descriptions (ast.parse) at once hit a CPython 3.11.7 race —
        # "SystemError: AST constructor recursion depth mismatch" (fixed in 3.11.8), which once
        # failed a CI run with nothing wrong in the API.
        "--request-timeout", "30", "--workers", "1",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(hooks), "NO_COLOR": "1"}
    # Awaited, not run: the server under test lives on this very event loop.
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), FUZZ_TIMEOUT_SECS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-12000:]
    # It saw every operation but those left out, and sent a fair number of requests.
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", text)
    assert selected and (int(selected[1]), int(selected[2])) == (expected, len(ENDPOINTS)), text[:2000]
    generated = re.search(r"(\d+) generated", text)
    assert generated and int(generated[1]) >= 10 * expected, text[-3000:]


MP = [e for e in ENDPOINTS if e.path.startswith("/mp/")]
# Writes only an inspector (scores) or an administrator (QR check-in) may make: a district
# administrator gets 403 there, so they are fuzzed as those people instead.
ROLE_LIMITED = {
    "inspector": ["inspections.ScoreHandler.put", "inspections.SubmitHandler.post",
                  "inspections.PhotosHandler.post", "inspections.PhotoDeleteHandler.delete"],
    "room_admin": ["courses.CheckinsHandler.post"],
}
LIMITED_IDS = [op for ops in ROLE_LIMITED.values() for op in ops]
# The staff API is fuzzed in two halves, each within the time limit: training and ratings, and the rest.
TRAINING_PATHS = r"^/api/v1/(training|ratings|activities)/|^/api/v1/rooms/[^/]+/(activities|openings|survey-results)"
STAFF = [e for e in ENDPOINTS if not e.path.startswith("/mp/")]
TRAINING = [e for e in STAFF if re.search(TRAINING_PATHS, e.path)]


def _excluding(operation_ids: list[str]) -> list[str]:
    return [arg for op in operation_ids for arg in ("--exclude-operation-id", op)]


async def test_schemathesis_finds_nothing(base_url: str, fuzz_admin: Session, tmp_path: Path) -> None:
    """The staff API but training and ratings, as a district administrator."""
    await _fuzz(base_url, fuzz_admin.token, tmp_path, fuzz_admin.staff["id"],
                ["--exclude-path-regex", f"^/mp/|{TRAINING_PATHS}"],
                # These would end the fuzzing session (its own password, its own token).
                ["--exclude-path", "/api/v1/auth/password", "--exclude-operation-id", "staff.TokenHandler.delete"],
                expected=len(STAFF) - len(TRAINING) - 2)


async def test_schemathesis_finds_nothing_in_training_and_ratings(base_url: str, fuzz_admin: Session,
                                                                  tmp_path: Path) -> None:
    """Training, ratings and the activity register, as a district administrator."""
    await _fuzz(base_url, fuzz_admin.token, tmp_path, fuzz_admin.staff["id"],
                ["--include-path-regex", TRAINING_PATHS], _excluding(LIMITED_IDS),
                expected=len(TRAINING) - len(LIMITED_IDS))


@pytest.mark.parametrize("role", sorted(ROLE_LIMITED))
async def test_schemathesis_finds_nothing_in_role_limited_writes(base_url: str, as_role: dict[str, Session],
                                                                 role: str, tmp_path: Path) -> None:
    """The writes only inspectors or administrators make, as them."""
    session = as_role[role]
    selection = [arg for op in ROLE_LIMITED[role] for arg in ("--include-operation-id", op)]
    await _fuzz(base_url, session.token, tmp_path, session.staff["id"], selection, [],
                expected=len(ROLE_LIMITED[role]))


@pytest.fixture(scope="module")
async def fuzz_reader(client: httpx.AsyncClient, stack: Any) -> str:
    """A mini-program reader of its own (logged in through the fake WeChat) with a profile."""
    from ops.fake_wechat.client import FakeWeChatControl

    async with FakeWeChatControl(stack.wechat_base) as fake:
        code = await fake.login_code("o-fuzz-reader")
    response = await client.post("/mp/v1/session", json={"code": code})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    profile = await client.put("/mp/v1/me/profile", headers={"Authorization": f"Bearer {token}"},
                               json={"name": "模糊测试", "birth_year": 1990, "home_room": "JN-XSG-001"})
    assert profile.status_code == 200, profile.text
    return str(token)


async def test_schemathesis_finds_nothing_in_the_miniprogram_api(base_url: str, fuzz_reader: str,
                                                                 seeded: Any, tmp_path: Path) -> None:
    """The mini-program API, as a logged-in reader."""
    await _fuzz(base_url, fuzz_reader, tmp_path, "", ["--include-path-regex", "^/mp/"],
                # These would end the fuzzing session (log-out, deleting the account).
                ["--exclude-operation-id", "accounts.SessionHandler.delete",
                 "--exclude-operation-id", "accounts.MeHandler.delete"],
                expected=len(MP) - 2)
