"""Last summer's reading challenge for the demo: "<year>年暑期阅读挑战", 1 July – 31 August
(this year once August is over, else last year), closed, with ~600–900 children from every
town and ~20 schools who joined through their parents' mini-program accounts, and their
reading logs.

The challenge is created and closed through ``definitions`` (audited, as the district
office would); the families, members, participants, logs and badges are written in bulk
in the shapes ``accounts.service`` (add_child: a guardian's consent record) and
``challenges.service`` / ``reading`` store, with totals, per-day totals, recent amounts
and badges exactly as logging them one by one would leave them (no log is an outlier, so
none carries a flag). Every document is flagged ``demo: True``. Idempotent: nothing is
done when the challenge exists.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from bson import ObjectId
from pymongo import ReturnDocument

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.models import CHILD_RULES_VERSION, CONSENT_CHANNEL_MINIPROGRAM
from miniprogram_api.challenges import repo, rules
from server.readers.service import local_today

if TYPE_CHECKING:
    from server.resources import Deps

PARTICIPANTS: Final = (600, 900)
TWO_CHILD_FAMILIES: Final = 0.2
CAP_PER_LOG, CAP_PER_DAY = 3, 5
MILESTONES: Final = ({"threshold": 5, "badge": "阅读新星", "icon": "star"},
                     {"threshold": 10, "badge": "书香少年", "icon": "book"},
                     {"threshold": 20, "badge": "阅读达人", "icon": "trophy"})
INSERT_CHUNK: Final = 2000
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏"
_CHILD_GIVEN = "子涵 浩然 雨桐 梓轩 欣怡 一诺 宇轩 思彤 子墨 语嫣 俊熙 梦瑶 皓轩 诗涵 博文 可馨 天佑 若曦 明哲 佳琪 沐阳 安琪".split()
_PARENT_GIVEN = "海燕 丽华 晓东 建华 志强 春梅 红霞 国庆 文静 宏伟 立新 美玲".split()
_BOOKS = ("草房子 青铜葵花 小猪唏哩呼噜 没头脑和不高兴 稻草人 昆虫记 西游记（少儿版） 中国神话故事 安徒生童话 格林童话 "
          "小王子 夏洛的网 窗边的小豆豆 宝葫芦的秘密 城南旧事 海底两万里 森林报 十万个为什么 爱的教育 假如给我三天光明").split()


def summer_year(today: date) -> int:
    """The year of "last summer": this year once August is over, else last year."""
    return today.year if today > date(today.year, 8, 31) else today.year - 1


def schools(towns: list[str]) -> dict[str, list[str]]:
    """Two schools a town (a central primary school and a second one): ~20 for Jinnan."""
    out = {}
    for town in towns:
        short = town.removesuffix("街道").removesuffix("镇")
        out[town] = [f"{short}中心小学", f"{short}第二小学" if town.endswith("镇") else f"{short}实验小学"]
    return out


def _logs_for(rng: random.Random, first: date, last: date, appetite: float) -> list[tuple[date, int]]:
    """(day, amount) pairs of one child's summer: no day above the caps, no outlier."""
    n = max(1, min(40, round(rng.lognormvariate(2.0, 0.6) * appetite)))
    span = (last - first).days + 1
    days = sorted(rng.sample(range(span), min(n, span)))
    out, recent, totals = [], [], {}
    for d in days:
        day = first + timedelta(days=d)
        amount = rng.choice((1, 1, 1, 2, 2, 3))
        totals[day.isoformat()] = amount
        if rules.outlier_reasons(amount, recent, totals, day, CAP_PER_DAY):
            amount = totals[day.isoformat()] = 1
        out.append((day, amount))
        recent = (recent + [amount])[-rules.RECENT_AMOUNTS_KEPT:]
    return out


async def seed_summer_challenge(deps: Deps, *, seed: int = 20260703, scale: float = 1.0) -> int:
    """Create last summer's challenge with its families and logs (see the module docstring).
    Returns its number of participants."""
    from miniprogram_api.challenges import definitions
    from miniprogram_api.challenges.models import ChallengeIn, ChallengeUpdate
    from server.staff.roles import Actor, Role

    today = local_today()
    year = summer_year(today)
    title = f"{year}年暑期阅读挑战"
    found = await deps.db[repo.CHALLENGES].find_one({"title": title, "demo": True}, {"_id": 1})
    if found is not None:
        return await deps.db[repo.PARTICIPANTS].count_documents({"challenge_id": found["_id"]})
    admin = await deps.db["staff"].find_one({"role": "district_admin"}, {"username": 1}, sort=[("_id", 1)])
    actor = Actor(staff_id=str(admin["_id"]) if admin else "seed", username=admin["username"] if admin else "seed-demo",
                  name="演示数据", role=Role.DISTRICT_ADMIN)
    first, last = date(year, 7, 1), date(year, 8, 31)
    created = await definitions.create_challenge(deps, actor, ChallengeIn.model_validate({
        "title": title, "starts_on": first.isoformat(), "ends_on": last.isoformat(), "unit": "books",
        "description": "暑假里每读完一本书就来打卡：读满 5 本得“阅读新星”，10 本得“书香少年”，20 本得“阅读达人”。",
        "cap_per_log": CAP_PER_LOG, "cap_per_day": CAP_PER_DAY, "milestones": list(MILESTONES),
        "teams": ["room", "school", "town"], "draw": {"min_total": 10}, "status": "published"}))
    challenge = await deps.db[repo.CHALLENGES].find_one_and_update(
        {"_id": ObjectId(created.id)}, {"$set": {"demo": True}}, return_document=ReturnDocument.AFTER)
    assert challenge is not None
    rng = random.Random(seed)
    rooms = await deps.db["rooms"].find({"status": "active"}, {"code": 1, "name": 1, "town": 1}).sort("code", 1).to_list()
    by_town: dict[str, list[dict[str, Any]]] = {}
    for room in rooms:
        by_town.setdefault(room["town"], []).append(room)
    school_of = schools(sorted(by_town))
    titles = await deps.db["titles"].find({"category": "少儿", "format": "book"}, {"title": 1}).limit(200).to_list()
    wanted = max(round(rng.randint(*PARTICIPANTS) * scale), len(by_town))
    docs: dict[str, list[dict[str, Any]]] = {"accounts": [], "members": [], "participants": [], "logs": [],
                                             "badges": []}
    towns = sorted(by_town)
    while len(docs["participants"]) < wanted:
        town = towns[len(docs["participants"]) % len(towns)] if len(docs["participants"]) < len(towns) else \
            rng.choices(towns, [len(by_town[t]) for t in towns])[0]
        room = rng.choice(by_town[town])
        joined = datetime.combine(first + timedelta(days=rng.randint(0, 20)), time(12), tzinfo=UTC)
        account_id, surname = ObjectId(), rng.choice(_SURNAMES)
        docs["accounts"].append({"_id": account_id, "openid": f"demo-summer-{year}-{len(docs['accounts']):05d}",
                                 "created_at": joined, "last_login_at": joined, "status": "active", "demo": True})
        common = {"account_id": account_id, "birth_date": None, "home_room": room["code"], "home_town": town,
                  "public_board": True, "history_enabled": True, "status": "active", "reader_id": None,
                  "created_at": joined, "updated_at": joined, "demo": True}
        docs["members"].append({**common, "_id": ObjectId(), "relation": "self", "name": surname + rng.choice(_PARENT_GIVEN),
                                "birth_year": year - rng.randint(30, 45), "school": None, "class_name": None,
                                "consent": None})
        for _ in range(2 if rng.random() < TWO_CHILD_FAMILIES else 1):
            age = rng.choice((6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13))
            school = school_of[town][0 if rng.random() < 0.6 else 1]
            member = {**common, "_id": ObjectId(), "relation": "child", "name": surname + rng.choice(_CHILD_GIVEN),
                      "birth_year": year - age, "school": school, "class_name": f"{max(age - 6, 1)}年级{rng.randint(1, 4)}班",
                      "guardian_relation": rng.choice(("父亲", "母亲", "母亲", "祖母")),
                      "consent": {"version": CHILD_RULES_VERSION, "signed_at": joined,
                                  "channel": CONSENT_CHANNEL_MINIPROGRAM, "withdrawn_at": None}}
            docs["members"].append(member)
            _join(rng, challenge, member, room, joined, titles, docs)
    for name, collection in (("accounts", accounts_repo.ACCOUNTS), ("members", accounts_repo.MEMBERS),
                             ("participants", repo.PARTICIPANTS), ("logs", repo.LOGS), ("badges", repo.BADGES)):
        for i in range(0, len(docs[name]), INSERT_CHUNK):
            await deps.db[collection].insert_many(docs[name][i : i + INSERT_CHUNK], ordered=False)
    closed = await definitions.update_challenge(deps, actor, created.id, ChallengeUpdate.model_validate({"status": "closed"}))
    await definitions.rebuild(deps, {**challenge, "status": closed.status})
    return len(docs["participants"])


def _join(rng: random.Random, challenge: dict[str, Any], member: dict[str, Any], room: dict[str, Any],
          joined: datetime, titles: list[dict[str, Any]], docs: dict[str, list[dict[str, Any]]]) -> None:
    """The member's participant, logs and badges, as joining and logging one by one leaves them."""
    year = date.fromisoformat(challenge["starts_on"]).year
    age = rules.age_in(year, member["birth_year"])
    pid, by = ObjectId(), f"mp:{member['account_id']}"
    first = max(joined.date(), date.fromisoformat(challenge["starts_on"]))
    logs = _logs_for(rng, first, date.fromisoformat(challenge["ends_on"]), rng.uniform(0.5, 1.6))
    total, days, badges, recent = 0, {}, [], []
    last_at = joined
    for day, amount in logs:
        at = datetime.combine(day, time(12, rng.randint(0, 59)), tzinfo=UTC)  # 20:xx in Tianjin
        book = rng.choice(titles) if titles and rng.random() < 0.5 else None
        total += amount
        days[day.isoformat()] = days.get(day.isoformat(), 0) + amount
        recent = (recent + [amount])[-rules.RECENT_AMOUNTS_KEPT:]
        docs["logs"].append({"_id": ObjectId(), "challenge_id": challenge["_id"], "participant_id": pid,
                             "member_id": member["_id"], "account_id": member["account_id"], "read_on": day.isoformat(),
                             "amount": amount, "points": amount, "title_id": book["_id"] if book else None,
                             "book_title": book["title"] if book else rng.choice(_BOOKS), "room": room["code"],
                             "town": room["town"], "status": "counted", "flag": None, "created_at": at,
                             "created_by": by, "demo": True})
        for i in rules.newly_reached(challenge["milestones"], total, badges):
            m = challenge["milestones"][i]
            badges.append(i)
            docs["badges"].append({"challenge_id": challenge["_id"], "participant_id": pid,
                                   "member_id": member["_id"], "account_id": member["account_id"],
                                   "milestone_index": i, "badge": m["badge"], "icon": m["icon"],
                                   "threshold": m["threshold"], "total_at_award": total, "awarded_at": at,
                                   "demo": True})
        last_at = at
    docs["participants"].append({
        "_id": pid, "challenge_id": challenge["_id"], "member_id": member["_id"], "account_id": member["account_id"],
        "reader_id": None, "name": member["name"], "room": room["code"], "town": room["town"],
        "school": member["school"], "class_name": member["class_name"], "room_name": room["name"], "public": True,
        "status": "active", "age": age, "age_group": rules.age_group_for(challenge["age_groups"], age),
        "total": total, "log_count": len(logs), "days": days, "recent": recent, "badges": badges,
        "joined_at": joined, "joined_by": by, "updated_at": last_at, "demo": True})
