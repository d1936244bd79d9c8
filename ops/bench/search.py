"""Part 3: catalog search — 汉字 fragments, full pinyin, pinyin initials and ISBNs.

The queries are drawn from the generated catalog itself (so most find something) with
a fixed seed. Timed three ways, one query at a time:

- the service's search function in-process (server time, no HTTP);
- GET /api/v1/catalog/titles?q=&room= against the server (client-side latency);
- baseline: ``{"title": {"$regex": <query, escaped>}}`` on the titles collection, all
  matches fetched (a ranked search must see every match). A regex on the title cannot
  find pinyin, initials or an ISBN: it still scans the collection, which is the cost
  compared. A scan is slow, so the baseline runs on an evenly spaced subset of the
  queries (every kind represented) and the ratio compares the same subset.
"""

from __future__ import annotations

import inspect
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pypinyin import lazy_pinyin

from ops.bench.stats import Samples
from server.resources import Deps

KINDS = ("汉字", "pinyin", "initials", "isbn")
MIX = (0.35, 0.25, 0.2, 0.2)


@dataclass(frozen=True)
class Query:
    kind: str
    q: str


def _han(text: str) -> str:
    return "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")


def make_queries(rows: list[dict[str, Any]], n: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    out: list[Query] = []
    while len(out) < n:
        row = rng.choice(rows)
        kind = rng.choices(KINDS, MIX)[0]
        han = _han(str(row["title"]))
        if kind == "汉字":
            source = han if rng.random() < 0.85 else _han(str(row["author"]))
            if len(source) < 2:
                continue
            size = rng.choice((2, 2, 3, 4))
            start = rng.randrange(max(1, len(source) - size + 1))
            out.append(Query(kind, source[start : start + size]))
        elif kind in ("pinyin", "initials"):
            if len(han) < 2:
                continue
            size = min(len(han), rng.choice((2, 3, 3, 4)))
            start = 0 if rng.random() < 0.6 else rng.randrange(len(han) - size + 1)
            syllables = lazy_pinyin(han[start : start + size])
            out.append(Query(kind, "".join(syllables) if kind == "pinyin" else "".join(s[0] for s in syllables)))
        else:
            isbn = str(row["isbn"])
            out.append(Query(kind, isbn if rng.random() < 0.3 else isbn[-rng.choice((4, 5, 6)):]))
    return out


def find_search_function() -> tuple[Callable[..., Awaitable[Any]], Any] | str:
    """(the catalog service's search function, its query model) or why it is not available."""
    try:
        from server.catalog import service as catalog_service
        from server.catalog.models import TitleQuery
    except ImportError as exc:
        return f"server.catalog.service is missing ({exc})"
    for name in ("search_titles", "search", "find_titles"):
        fn = getattr(catalog_service, name, None)
        if fn is not None and inspect.iscoroutinefunction(fn):
            return fn, TitleQuery
    return "server.catalog.service has no async search function (search_titles / search)"


async def time_service(deps: Deps, actor: Any, queries: list[Query], room: str
                       ) -> tuple[Samples, dict[str, Samples], list[float | None]]:
    """Each query through the service function; also the per-query times (None: it failed)."""
    found = find_search_function()
    assert not isinstance(found, str)
    fn, query_model = found
    with_actor = len(inspect.signature(fn).parameters) >= 3  # search(deps, actor, query) or (deps, query)
    total = Samples("service function, in-process")
    by_kind = {k: Samples(f"  {k}") for k in KINDS}
    hits = 0
    per_query: list[float | None] = []
    for query in queries:
        model = query_model(q=query.q, room=room)
        t0 = time.perf_counter()
        try:
            page = await (fn(deps, actor, model) if with_actor else fn(deps, model))
        except Exception as exc:  # counted: a benchmark reports
            total.fail(type(exc).__name__)
            by_kind[query.kind].fail(type(exc).__name__)
            per_query.append(None)
            continue
        took = time.perf_counter() - t0
        per_query.append(took)
        total.ok(took)
        by_kind[query.kind].ok(took)
        hits += bool(getattr(page, "items", None))
    total.name += f" ({hits}/{len(queries)} found something)"
    return total, by_kind, per_query


async def time_http(client: httpx.AsyncClient, token: str, queries: list[Query], room: str) -> Samples:
    samples = Samples("HTTP GET /api/v1/catalog/titles")
    headers = {"Authorization": f"Bearer {token}"}
    for query in queries:
        t0 = time.perf_counter()
        try:
            r = await client.get("/api/v1/catalog/titles", params={"q": query.q, "room": room}, headers=headers)
        except httpx.HTTPError as exc:
            samples.fail(type(exc).__name__)
            continue
        if r.status_code != 200:
            samples.fail(str(r.status_code))
            continue
        samples.ok(time.perf_counter() - t0)
    return samples


async def time_regex(deps: Deps, queries: list[Query]) -> Samples:
    samples = Samples(f"$regex scan on title ({len(queries)} q)")
    for query in queries:
        t0 = time.perf_counter()
        await deps.db.titles.find({"title": {"$regex": re.escape(query.q)}}, {"_id": 1, "title": 1}).to_list()
        samples.ok(time.perf_counter() - t0)
    return samples


def subset(queries: list[Query], n: int) -> list[int]:
    """Indexes of ``n`` evenly spaced queries."""
    if n >= len(queries):
        return list(range(len(queries)))
    step = len(queries) / n
    return [int(i * step) for i in range(n)]


def pick_per_query(per_query: list[float | None], indexes: list[int], name: str) -> Samples:
    """The times of the queries at ``indexes`` (failed ones left out)."""
    out = Samples(name)
    out.latencies = [t for i in indexes if (t := per_query[i]) is not None]
    return out
