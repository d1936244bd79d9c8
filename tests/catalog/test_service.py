"""Catalog service against the real stack: create, edit, resolve scans, search and availability."""

from __future__ import annotations

import pytest
import pytest_asyncio

from server.catalog import service
from server.catalog.models import TitleInput, TitleQuery, TitleUpdate
from server.errors import Conflict, InvalidInput, NotFound
from server.staff.roles import Actor, Role

ACTOR = Actor(staff_id="000000000000000000000001", username="catalog-test", name="编目员", role=Role.DISTRICT_ADMIN)

CATALOG = [
    # isbn, title, author, clc, format
    ("7-02-000873-9", "西游记", "吴承恩", "I242.4", "book"),
    ("9787020008742", "西游记（青少版）", "吴承恩 原著", "I287.7", "book"),
    ("9787530213452", "西游记后传", "佚名", "I242.4", "book"),
    ("9787544230001", "大话西游", "周星星", "J9", "audio_visual"),
    ("9787109000001", "果树栽培技术", "王大明", "S66", "book"),
    ("9787109000018", "果树病虫害防治", "李小红", "S436", "book"),
    ("9787109000025", "蔬菜栽培技术手册", "张三", "S63", "book"),
    ("9787109000032", "红楼梦", "曹雪芹", "I242.4", "book"),
    ("9787109000049", "中国农民报", None, None, "periodical"),
]


async def _search(deps, q=None, **kw):
    return await service.search_titles(deps, TitleQuery(q=q, **kw))


def _titles(page):
    return [item.title for item in page.items]


@pytest_asyncio.fixture(scope="module")
async def catalog(deps):
    out = {}
    for isbn, title, author, clc, fmt in CATALOG:
        data = TitleInput(isbn=isbn, title=title, author=author, clc=clc, format=fmt)
        made = await service.create_title(deps, ACTOR, data)
        out[title] = made.title_id
    return out


async def test_create_converts_isbn10_and_derives_the_category(deps, catalog):
    got = await service.get_title(deps, catalog["西游记"])
    assert got.title_id == "9787020008735" == got.isbn
    assert got.category == "文化" and got.format == "book"
    assert (await service.get_title(deps, catalog["西游记（青少版）"])).category == "少儿"
    audit = await deps.db.audit.find_one({"action": "title.create", "target_id": "9787020008735"})
    assert audit and audit["actor"] == "catalog-test"


async def test_the_same_isbn_twice_is_a_conflict(deps, catalog):
    with pytest.raises(Conflict) as caught:
        await service.create_title(deps, ACTOR, TitleInput(isbn="978-7-02-000873-5", title="又一本西游记"))
    assert caught.value.code == "title_exists"


async def test_items_without_isbn_get_internal_ids_and_are_not_duplicated(deps, catalog):
    first = await service.create_title(deps, ACTOR, TitleInput(title="老农业手册", author="农业局", year=1988))
    second = await service.create_title(deps, ACTOR, TitleInput(title="老农业手册", author="农业局", year=1990))
    assert first.title_id.startswith("SW") and len(first.title_id) == 13
    assert int(second.title_id[2:]) == int(first.title_id[2:]) + 1
    with pytest.raises(Conflict):
        await service.create_title(deps, ACTOR, TitleInput(title="老农业手册 ", author="农业局", year=1988))


async def test_update_rederives_the_category_until_it_is_set_by_hand(deps, catalog):
    title_id = catalog["红楼梦"]
    got = await service.update_title(deps, ACTOR, title_id, TitleUpdate(clc="TS972.1"))
    assert got.category == "生活"
    got = await service.update_title(deps, ACTOR, title_id, TitleUpdate(category="政经"))
    assert got.category == "政经"
    got = await service.update_title(deps, ACTOR, title_id, TitleUpdate(clc="I242.4", price_cents=3500))
    assert got.category == "政经" and got.price_cents == 3500  # set by hand: stays
    got = await service.update_title(deps, ACTOR, title_id, TitleUpdate(category=None))
    assert got.category == "文化"  # cleared: derived again
    entry = await deps.db.audit.find_one({"action": "title.update", "target_id": title_id,
                                          "changes.price_cents": {"$exists": True}})
    assert entry["changes"]["price_cents"] == {"from": None, "to": 3500}


async def test_update_changes_the_search_keys(deps, catalog):
    title_id = catalog["果树病虫害防治"]
    await service.update_title(deps, ACTOR, title_id, TitleUpdate(title="果树病虫害绿色防控"))
    assert _titles(await _search(deps, "绿色防控")) == ["果树病虫害绿色防控"]
    assert _titles(await _search(deps, "虫害防治")) == []


async def test_update_refuses_to_clear_the_title_and_unknown_ids(deps, catalog):
    with pytest.raises(InvalidInput):
        await service.update_title(deps, ACTOR, catalog["西游记"], TitleUpdate(title=None))
    with pytest.raises(NotFound):
        await service.update_title(deps, ACTOR, "9780306406157", TitleUpdate(year=2000))
    with pytest.raises(NotFound):
        await service.update_title(deps, ACTOR, "not-an-isbn", TitleUpdate(year=2000))


@pytest.mark.parametrize("code", ["9787020008735", "978-7-02-000873-5", "7020008739", "7-02-000873-9",
                                  " ISBN 978 7 02 000873 5 ", "978702000873590000"])
async def test_resolve_scan_accepts_every_form(deps, catalog, code):
    got = await service.resolve_scan(deps.db, code)
    assert got.title == "西游记"


async def test_resolve_scan_errors(deps, catalog):
    with pytest.raises(NotFound):
        await service.resolve_scan(deps.db, "9780306406157")
    with pytest.raises(InvalidInput) as caught:
        await service.resolve_scan(deps.db, "9787020008736", loc=("body", "isbn"))
    assert caught.value.errors[0].loc == ("body", "isbn")
    with pytest.raises(NotFound):
        await service.resolve_scan(deps.db, "SW99999999999")


async def test_find_titles_one_query(deps, catalog, command_counter):
    command_counter.reset()
    found = await service.find_titles(deps.db, [catalog["西游记"], catalog["红楼梦"], "9780306406157"])
    assert set(found) == {catalog["西游记"], catalog["红楼梦"]}
    assert len(command_counter.commands) == 1


@pytest.mark.parametrize(("q", "first"), [
    ("西游记", "西游记"), ("西游", "西游记"), ("游记", "西游记"), ("xiyouji", "西游记"), ("xi you ji", "西游记"),
    ("xyj", "西游记"), ("youji", "西游记"), ("吴承恩", "西游记"), ("wce", "西游记"), ("8735", "西游记"),
    ("9787020008735", "西游记"), ("7-02-000873-9", "西游记"), ("栽培技术", "果树栽培技术"),
    ("gszp", "果树栽培技术"), ("guoshu", "果树栽培技术"), ("曹雪芹", "红楼梦"), ("hlm", "红楼梦"),
])
async def test_search_every_kind_of_query(deps, catalog, q, first):
    page = await _search(deps, q)
    assert page.items and page.items[0].title == first, (q, _titles(page))


async def test_search_ranks_exact_prefix_anywhere_author(deps, catalog):
    page = await _search(deps, "西游")
    assert _titles(page) == ["西游记", "西游记后传", "西游记（青少版）", "大话西游"]
    assert [i.match for i in page.items] == ["prefix", "prefix", "prefix", "anywhere"]
    page = await _search(deps, "西游记")
    assert page.items[0].match == "exact"
    assert (await _search(deps, "吴承恩")).items[0].match == "author"
    assert (await _search(deps, "9787020008735")).items[0].match == "code"


async def test_search_filters_and_pages(deps, catalog):
    assert _titles(await _search(deps, "西游", format="audio_visual")) == ["大话西游"]
    assert _titles(await _search(deps, "西游", category="少儿")) == ["西游记（青少版）"]
    first = await _search(deps, "西游", limit=3)
    assert len(first.items) == 3 and first.next_cursor
    rest = await _search(deps, "西游", limit=3, cursor=first.next_cursor)
    assert _titles(rest) == ["大话西游"] and rest.next_cursor is None
    listing = await _search(deps, None, format="periodical")
    assert _titles(listing) == ["中国农民报"]
    for forged in ("not-a-cursor", "WyI5Nzg3MDIwMDA4NzM1Il0", "Wy0xXQ"):  # garbage, ["978…"], [-1]
        with pytest.raises(InvalidInput):
            await _search(deps, "西游", cursor=forged)


async def test_search_reports_availability_with_one_aggregation(deps, catalog, command_counter):
    xyj, hlm = catalog["西游记"], catalog["红楼梦"]
    await deps.db.holdings.insert_many([
        {"room": "JN-XSG-001", "title_id": xyj, "on_shelf": 2, "on_loan": 1, "in_transit": 0, "lost": 0, "damaged": 0},
        {"room": "JN-GG-001", "title_id": xyj, "on_shelf": 1, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0},
        {"room": "JN-GG-002", "title_id": xyj, "on_shelf": 0, "on_loan": 3, "in_transit": 0, "lost": 0, "damaged": 0},
        {"room": "JN-GG-001", "title_id": hlm, "on_shelf": 4, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0},
    ])
    command_counter.reset()
    page = await _search(deps, "西游", room="JN-XSG-001")
    assert [c.split(":")[0] for c in command_counter.commands] == ["find", "find", "aggregate"]
    by_title = {i.title: i for i in page.items}
    assert (by_title["西游记"].on_shelf_here, by_title["西游记"].rooms_on_shelf) == (2, 2)
    assert (by_title["大话西游"].on_shelf_here, by_title["大话西游"].rooms_on_shelf) == (0, 0)
    page = await _search(deps, "hlm")
    assert page.items[0].on_shelf_here is None and page.items[0].rooms_on_shelf == 1


async def test_nonsense_and_empty_queries_find_nothing(deps, catalog):
    assert (await _search(deps, "x")).items == []
    assert (await _search(deps, "！！")).items == []
    assert (await _search(deps, "zzzzqqq")).items == []
