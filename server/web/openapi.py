"""The OpenAPI 3.1 document, generated from the ``@endpoint`` declarations of the routes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.web.api import ApiHandler, EndpointSpec
from server.web.base import json_dumps
from server.web.problems import Problem

METHODS = ("get", "post", "put", "patch", "delete")
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
REF = "#/components/schemas/{model}"


def _path_of(pattern: str) -> tuple[str, list[str]]:
    names = _GROUP.findall(pattern)
    return _GROUP.sub(lambda m: "{" + m.group(1) + "}", pattern).lstrip("^").rstrip("$"), names


def _endpoints(routes: list[Any]) -> list[tuple[str, list[str], str, type, EndpointSpec]]:
    found = []
    for route in routes:
        pattern, handler = route[0], route[1]
        if not (isinstance(handler, type) and issubclass(handler, ApiHandler)):
            continue
        path, names = _path_of(pattern)
        for method in METHODS:
            spec = getattr(getattr(handler, method, None), "__endpoint__", None)
            if spec is not None:
                found.append((path, names, method, handler, spec))
    return found


def _package(handler: type) -> str:
    """The package a handler belongs to ("rooms", "accounts", …): handler names repeat across packages."""
    parts = handler.__module__.split(".")
    return parts[-2] if len(parts) > 1 else parts[0]


def build_openapi(routes: list[Any], *, title: str = "shuwu 书屋 API", version: str = "0.1.0") -> dict[str, Any]:
    endpoints = _endpoints(routes)
    models: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for *_, spec in endpoints:
        models += [(m, "validation") for m in (spec.body, spec.query) if m is not None]
        if spec.response is not None:
            models.append((spec.response, "serialization"))
    keys, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    ref = {key: value for key, value in keys.items()}

    paths: dict[str, dict[str, Any]] = {}
    for path, names, method, handler, spec in endpoints:
        params: list[dict[str, Any]] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[^/]+$"}}
            for n in names
        ]
        if spec.query is not None:
            qschema = schemas[ref[(spec.query, "validation")]["$ref"].rsplit("/", 1)[1]]
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        op: dict[str, Any] = {
            "operationId": f"{_package(handler)}.{handler.__name__}.{method}",
            "summary": spec.summary,
            "tags": list(spec.tags),
            "parameters": params,
            "responses": {},
        }
        if spec.description:
            op["description"] = spec.description
        if spec.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref[(spec.body, "validation")]}},
            }
        if spec.media_type is not None:
            op["responses"][str(spec.status)] = {
                "description": spec.summary,
                "content": {spec.media_type: {"schema": {"type": "string", "contentMediaType": spec.media_type}}},
            }
        elif spec.response is not None:
            op["responses"][str(spec.status)] = {
                "description": spec.summary,
                "content": {"application/json": {"schema": ref[(spec.response, "serialization")]}},
            }
        else:
            op["responses"]["204"] = {"description": "完成，无内容"}
        for status in spec.also:
            op["responses"][str(status)] = {**op["responses"][str(spec.status)], "description": f"{spec.summary}（HTTP {status}）"}
        errors = set(spec.errors) | {400}
        if spec.body is not None or spec.query is not None:
            errors |= {413, 422}
        if spec.body is not None:
            errors |= {415}  # a body that is not JSON
        errors -= set(spec.also)
        if spec.roles is not None:
            op["security"] = [{"bearer": []}]
            errors |= {401, 403}
        elif spec.reader:
            op["security"] = [{"reader": []}]
            errors |= {401, 404, 429}
        for status in sorted(errors):
            op["responses"][str(status)] = {
                "description": "错误（problem+json）",
                "content": {"application/problem+json": {"schema": ref[(Problem, "serialization")]}},
            }
        paths.setdefault(path, {})[method] = op

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "shuwu's staff API (/api/v1) and mini-program API (/mp/v1). "
                                "Errors are RFC 9457 problem+json."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "staff API token"},
                "reader": {"type": "http", "scheme": "bearer",
                           "description": "mini-program session token (POST /mp/v1/session)"},
            },
        },
    }


class OpenApiHandler(ApiHandler):
    def initialize(self, deps: Any, routes: list[Any]) -> None:  # type: ignore[override]
        super().initialize(deps)
        self._routes = routes

    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "public, max-age=60")
        self.finish(json_dumps(build_openapi(self._routes)))
