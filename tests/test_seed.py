"""server/seed.py: the Jinnan demo data, loaded into the real database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from argon2 import PasswordHasher

from server.district import JINNAN
from server.rooms.demo_data import demo_rooms
from server.seed import DEMO_PASSWORD, FIXED_STAFF, demo_logins, seed_demo
from server.staff.service import PHONE_CONTEXT

ROOT = Path(__file__).resolve().parents[1]


@pytest_asyncio.fixture
async def empty(deps: Any) -> Any:
    """This module's database with no rooms and no staff."""
    await deps.db.rooms.delete_many({})
    await deps.db.staff.delete_many({})
    return deps


async def snapshot(deps: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rooms = await deps.db.rooms.find({}).sort("code", 1).to_list()
    staff = await deps.db.staff.find({}).sort("username", 1).to_list()
    return rooms, staff


async def test_seed_loads_110_rooms_in_all_towns(empty) -> None:
    deps = empty
    report = await seed_demo(deps)
    assert (report.rooms_added, report.staff_added, report.skipped) == (110, 110 + len(FIXED_STAFF), False)
    assert "110 rooms" in str(report)
    rooms, staff = await snapshot(deps)
    assert len(rooms) == 110 and len(staff) == 115
    assert {r["town"] for r in rooms} == {t.name for t in JINNAN.towns}
    assert len({t.name for t in JINNAN.towns}) == 10
    assert [r["code"] for r in rooms] == sorted(r["code"] for r in demo_rooms())
    box = JINNAN.bbox
    for room in rooms:
        lng, lat = room["location"]["coordinates"]
        assert room["location"]["type"] == "Point"
        assert box.contains(lat, lng), room["code"]
        assert room["status"] == "active" and room["demo"] is True
        assert room["created_at"].tzinfo is not None
    # Some demo rooms fall short of the standards, so the warnings have something to show.
    assert any(r["area_m2"] < 20 for r in rooms)


async def test_one_room_admin_per_room(empty) -> None:
    deps = empty
    await seed_demo(deps)
    rooms, staff = await snapshot(deps)
    admins = [s for s in staff if s["role"] == "room_admin"]
    per_room = Counter(code for s in admins for code in s["rooms"])
    assert per_room == Counter({r["code"]: 1 for r in rooms})
    for admin in admins:
        assert admin["username"] == admin["rooms"][0].lower() and len(admin["rooms"]) == 1
        assert admin["towns"] == [] and admin["active"] is True and admin["demo"] is True
        phone = deps.cipher.decrypt(admin["phone_enc"], context=PHONE_CONTEXT)
        assert phone not in str(admin)
    fixed = {s["username"]: s for s in staff if s["role"] != "room_admin"}
    assert {(u, fixed[u]["role"], tuple(fixed[u]["towns"])) for u, _, _, _ in FIXED_STAFF} == {
        (u, role, towns) for u, _, role, towns in FIXED_STAFF}
    assert {u for u, _ in demo_logins()} <= {s["username"] for s in staff}


async def test_demo_accounts_use_the_demo_password_as_argon2(empty) -> None:
    deps = empty
    await seed_demo(deps)
    _, staff = await snapshot(deps)
    hasher = PasswordHasher()
    for doc in (staff[0], staff[-1], next(s for s in staff if s["username"] == "admin")):
        assert doc["password_hash"].startswith("$argon2")
        assert hasher.verify(doc["password_hash"], DEMO_PASSWORD)
    assert DEMO_PASSWORD not in str(staff)


async def test_seed_is_idempotent(empty) -> None:
    deps = empty
    await seed_demo(deps)
    first = await snapshot(deps)
    audit_before = await deps.db.audit.count_documents({})
    report = await seed_demo(deps)
    assert (report.rooms_added, report.staff_added, report.skipped) == (0, 0, False)
    assert await snapshot(deps) == first
    assert await deps.db.audit.count_documents({}) == audit_before


async def test_the_demo_has_a_challenge_and_a_contest_open_today(empty) -> None:
    deps = empty
    await seed_demo(deps)
    await seed_demo(deps, if_empty=True)
    challenges = await deps.db.challenges.find().to_list()
    contests = await deps.db.contests.find().to_list()
    assert [c["status"] for c in challenges] == ["published"]
    assert [c["status"] for c in contests] == ["open"]
    from server.readers.service import local_today

    today = local_today().isoformat()
    assert str(challenges[0]["starts_on"])[:10] <= today <= str(challenges[0]["ends_on"])[:10]


async def test_the_demo_rooms_have_books_on_their_shelves(empty) -> None:
    deps = empty
    await seed_demo(deps)
    titles = await deps.db.titles.count_documents({"demo": True})
    moves = await deps.db.stock_moves.count_documents({})
    assert titles == 50
    rooms_with_books = await deps.db.holdings.distinct("room")
    assert len(rooms_with_books) == await deps.db.rooms.count_documents({"status": "active"})
    await seed_demo(deps, if_empty=True)  # again: nothing more received
    assert await deps.db.stock_moves.count_documents({}) == moves
    assert await deps.db.titles.count_documents({"demo": True}) == titles
    from server.stock.service import check_ledger

    checked, mismatches = await check_ledger(deps)
    assert checked > 1000 and mismatches == []


async def test_seed_fills_in_what_is_missing(empty) -> None:
    deps = empty
    await seed_demo(deps)
    await deps.db.rooms.delete_one({"code": "JN-GG-003"})
    await deps.db.staff.delete_many({"username": {"$in": ["jn-xz-001", "inspector"]}})
    report = await seed_demo(deps)
    assert (report.rooms_added, report.staff_added) == (1, 2)
    rooms, staff = await snapshot(deps)
    assert len(rooms) == 110 and len(staff) == 115


async def test_if_empty_skips_when_rooms_exist(empty) -> None:
    deps = empty
    loaded = await seed_demo(deps, if_empty=True)  # empty: loads
    assert loaded.rooms_added == 110 and not loaded.skipped
    before = await snapshot(deps)
    report = await seed_demo(deps, if_empty=True)
    assert report.skipped and (report.rooms_added, report.staff_added) == (0, 0)
    assert str(report) == "demo data already present; nothing loaded"
    assert await snapshot(deps) == before


def _cli(deps: Any, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = deps.settings
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SHUWU_MODE": "test", "SHUWU_MONGO_URL": settings.mongo_url, "SHUWU_MONGO_DB": settings.mongo_db,
        "SHUWU_REDIS_URL": settings.redis_url, **env,
    }
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=120)


async def test_seed_demo_command(empty) -> None:
    deps = empty
    result = _cli(deps, "seed-demo", "--if-empty")
    assert result.returncode == 0, result.stderr
    assert "demo data loaded: 110 rooms, 115 staff accounts" in result.stdout
    assert await deps.db.rooms.count_documents({}) == 110
    result = _cli(deps, "seed-demo", "--if-empty")
    assert result.returncode == 0 and "nothing loaded" in result.stdout
    result = _cli(deps, "seed-demo")
    assert result.returncode == 0 and "0 rooms, 0 staff" in result.stdout


@pytest.mark.parametrize("if_empty", [True, False])
async def test_seed_demo_refuses_production(empty, if_empty) -> None:
    deps = empty
    secrets = {"SHUWU_COOKIE_SECRET": "p" * 40,
               "SHUWU_DATA_KEY": "UFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFA=",
               "SHUWU_BLIND_INDEX_KEY": "UVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVFRUVE=",
               "SHUWU_WECHAT_APPID": "wx1", "SHUWU_WECHAT_SECRET": "s" * 32}
    args = ["seed-demo", "--if-empty"] if if_empty else ["seed-demo"]
    result = _cli(deps, *args, SHUWU_MODE="production", **secrets)
    assert result.returncode == 2
    assert "seed-demo refuses to run in production mode" in result.stderr
    assert await deps.db.rooms.count_documents({}) == 0
