"""Demo readers for the demo year (``server.circulation.demo``): ~25–60 a room registered
over the last three years at the room's desk, about 35 % children under 14, each child with
a guardian and the desk consent record ``readers.service.register`` stores. Phones are
encrypted with ``deps.cipher`` and indexed with ``phone_key``, as registration does;
card numbers are given by the caller (a block reserved from the card counter)."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from bson import ObjectId

from server.readers.models import is_child
from server.readers.service import PHONE_CONTEXT, guardian_document, phone_key

if TYPE_CHECKING:
    from server.resources import Deps

CONSENT_VERSION: Final = "2026.1"
CHILD_SHARE: Final = 0.35
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚"
_ADULT_GIVEN = "秀英 桂英 秀兰 玉兰 淑珍 建国 建华 志强 永刚 海燕 春梅 丽华 国庆 红霞 晓东 文静 宏伟 志明 凤琴 淑华 德胜 玉梅".split()
_CHILD_GIVEN = "子涵 浩然 雨桐 梓轩 欣怡 一诺 宇轩 思彤 子墨 语嫣 俊熙 梦瑶 皓轩 诗涵 博文 可馨 天佑 若曦 明哲 佳琪".split()


def object_id_at(rng: random.Random, at: datetime) -> ObjectId:
    """An ObjectId whose time is ``at`` (so "newest first" by _id is by date), unique by its random tail."""
    return ObjectId(struct.pack(">I", int(at.timestamp())) + rng.randbytes(8))


@dataclass
class Reader:
    """A demo reader as the simulation sees them (``doc`` is what gets stored)."""

    doc: dict[str, Any]
    child: bool
    weight: float
    open: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)  # (due, returned, kind)



def plan_readers(rng: random.Random, deps: Deps, room: dict[str, Any], n: int, *, admin: tuple[str, str],
                 today: date, now: datetime) -> list[Reader]:
    """``n`` readers of ``room`` registered over the last three years, about 35 % children
    (with a guardian and a desk consent record, as ``readers.service.register`` stores them)."""
    out = []
    for _ in range(n):
        created = now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
        created = created.replace(microsecond=0)
        child = rng.random() < CHILD_SHARE
        surname = rng.choice(_SURNAMES)
        if child:
            born = today - timedelta(days=rng.randint(7 * 365 + 2, 13 * 365 + 300))
            guardian_phone = f"13{rng.randint(0, 9)}{rng.randrange(10**8):08d}"
            guardian = guardian_document(deps, name=surname + rng.choice(_ADULT_GIVEN), phone=guardian_phone,
                                         relation=rng.choice(("父亲", "母亲", "母亲", "祖父", "祖母")))
            consent = {"version": CONSENT_VERSION, "signed_at": created, "recorded_at": created, "channel": "desk",
                       "recorded_by": admin[0], "recorded_by_id": admin[1], "room": room["code"]}
            phone = None
            name, birth_year, birth_date = surname + rng.choice(_CHILD_GIVEN), born.year, born.isoformat()
        else:
            guardian = consent = None
            phone = f"1{rng.choice('35789')}{rng.randint(0, 9)}{rng.randrange(10**8):08d}"
            name, birth_year, birth_date = surname + rng.choice(_ADULT_GIVEN), today.year - rng.randint(18, 78), None
        doc = {"_id": object_id_at(rng, created), "name": name, "birth_year": birth_year, "birth_date": birth_date,
               "home_room": room["code"], "home_town": room["town"],
               "phone_enc": deps.cipher.encrypt(phone, context=PHONE_CONTEXT) if phone else None,
               "phone_key": phone_key(deps, phone) if phone else None, "id_enc": None, "guardian": guardian,
               "consent": consent, "blocked": None, "open_loans": {"book": 0, "audio_visual": 0},
               "created_at": created, "created_by": admin[0], "updated_at": created, "demo": True}
        doc["lookup_keys"] = sorted({k for k in (doc["phone_key"], (guardian or {}).get("phone_key")) if k})
        assert child == is_child(birth_year, born if child else None, today)
        out.append(Reader(doc, child, rng.lognormvariate(0, 0.8)))
    return out
