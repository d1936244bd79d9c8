"""Tests of the web shell: authorization, bad input, the OpenAPI document, lifecycle.

The helpers here derive the list of API endpoints from the same ``@endpoint``
declarations the server enforces, so a new route is covered by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import tornado.web

from server.app import api_routes
from server.web.api import ApiHandler, EndpointSpec

UNKNOWN_ID = "0" * 24  # a well-formed ObjectId that names nothing
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class Endpoint:
    """One declared API operation, e.g. ``PATCH /api/v1/rooms/{code}``."""

    method: str
    path: str
    params: tuple[str, ...]
    handler: type[ApiHandler]
    spec: EndpointSpec

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, values: dict[str, str]) -> str:
        """The path with each ``{name}`` replaced by ``values[name]`` (already URL-safe).

        An ``*_id`` parameter without a value gets a well-formed id that names nothing.
        """
        values = {**{p: UNKNOWN_ID for p in self.params if p.endswith("_id")}, **values}
        missing = set(self.params) - values.keys()
        assert not missing, f"{self.id}: no test value for path parameter(s) {sorted(missing)}"
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.path)


def template_of(pattern: str) -> tuple[str, tuple[str, ...]]:
    names = tuple(_GROUP.findall(pattern))
    return _GROUP.sub(lambda m: "{" + m.group(1) + "}", pattern).lstrip("^").rstrip("$"), names


def implemented_methods(handler: type[tornado.web.RequestHandler]) -> list[str]:
    """HTTP methods a handler class implements (Tornado's defaults answer 405)."""
    return [
        m for m in HTTP_METHODS
        if getattr(handler, m.lower(), None) is not getattr(tornado.web.RequestHandler, m.lower(), None)
    ]


def api_endpoints() -> list[Endpoint]:
    """Every declared operation of every route in ``server.app.api_routes()``."""
    found = []
    for pattern, handler in api_routes():
        path, names = template_of(pattern)
        for method in implemented_methods(handler):
            spec = getattr(getattr(handler, method.lower()), "__endpoint__", None)
            if spec is not None:
                found.append(Endpoint(method, path, names, handler, spec))
    return found


def undeclared_methods() -> list[str]:
    """Methods of API handlers that answer requests without an ``@endpoint`` declaration."""
    bad = []
    for pattern, handler in api_routes():
        for method in implemented_methods(handler):
            if getattr(getattr(handler, method.lower()), "__endpoint__", None) is None:
                bad.append(f"{method} {template_of(pattern)[0]} ({handler.__name__})")
    return bad


def error_locs(body: dict[str, Any]) -> list[list[Any]]:
    return [e["loc"] for e in body.get("errors", [])]
