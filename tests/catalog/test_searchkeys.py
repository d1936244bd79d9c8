"""Search keys, query plans and ranking (pure: no database)."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.catalog.searchkeys import (
    ANYWHERE,
    AUTHOR,
    EXACT,
    PREFIX,
    match_tier,
    normalize,
    plan_query,
    rank,
    search_fields,
    search_keys,
    segmentations,
    syllables,
    units,
)

XYJ = ("9787020008735", "西游记", "吴承恩")


def finds(query: str, title_id: str, title: str, author: str | None = None) -> int | None:
    """The tier ``query`` finds the title with, the way the database would: the plan's keys
    must meet the title's keys (the index), then verification decides."""
    fields = search_fields(title, author)
    plan = plan_query(query)
    if not set(plan.keys) & set(search_keys(fields, title_id)):
        return None
    return match_tier(plan, title_id, fields.as_doc())


def test_normalize_and_units():
    assert normalize("  西游记（上）· ＡＢＣ 2版! ") == "西游记上abc2版"
    assert units("python编程2版") == ["python", "bian", "cheng", "2", "ban"]
    assert units("重庆") == ["chong", "qing"]  # phrase-aware reading


def test_every_kind_of_query_finds_xiyouji():
    assert finds("西游记", *XYJ) == EXACT
    assert finds("西游", *XYJ) == PREFIX
    assert finds("游记", *XYJ) == ANYWHERE
    assert finds("西", *XYJ) == PREFIX
    assert finds("xiyouji", *XYJ) == EXACT
    assert finds("xi you ji", *XYJ) == EXACT
    assert finds("Xi'You'Ji", *XYJ) == EXACT
    assert finds("xiyouj", *XYJ) == PREFIX  # still typing
    assert finds("youji", *XYJ) == ANYWHERE
    assert finds("xyj", *XYJ) == EXACT
    assert finds("xy", *XYJ) == PREFIX
    assert finds("吴承恩", *XYJ) == AUTHOR
    assert finds("wuchengen", *XYJ) == AUTHOR
    assert finds("wce", *XYJ) == AUTHOR
    assert finds("8735", *XYJ) == PREFIX
    assert finds("008735", *XYJ) == PREFIX


def test_what_does_not_match():
    assert finds("东游记", *XYJ) is None
    assert finds("x", *XYJ) is None  # one letter is too little
    assert finds("xiyoujix", *XYJ) is None
    assert finds("1234", *XYJ) is None
    assert plan_query("  ").empty and plan_query("！？").empty


def test_initials_anywhere_from_three_letters():
    assert finds("sgyy", "9787000000001", "三国演义") == EXACT
    assert finds("gyy", "9787000000001", "三国演义") == ANYWHERE


def test_latin_and_digits_in_titles():
    assert finds("python", "9787000000002", "Python编程入门") == PREFIX
    assert finds("2024", "9787000000003", "农业年鉴2024") == ANYWHERE


def test_segmentations_prefer_whole_syllables_and_allow_an_unfinished_last_one():
    assert segmentations("xiyouji")[0] == ["xi", "you", "ji"]
    assert ["xi", "an"] in segmentations("xian") and ["xian"] in segmentations("xian")
    assert segmentations("xiyouj")[0] == ["xi", "you", "j"]
    assert segmentations("xyj") == []  # not pinyin: initials handle it
    assert len(segmentations("xianxianxianxian")) <= 8


def test_ranking_exact_then_prefix_then_anywhere_then_author_and_shorter_first():
    docs = []
    for n, (title, author) in enumerate([
        ("西游记后传", "佚名"), ("大话西游", "佚名"), ("西游记", "吴承恩"), ("西游记（青少版）", "吴承恩"),
        ("红楼梦", "西游记研究会"), ("我读西游", "张三"),
    ]):
        fields = search_fields(title, author)
        docs.append({"_id": f"SW{n:011d}", "title": title, "search": fields.as_doc()})
    hits = rank(plan_query("西游"), docs)
    assert [d["title"] for _, d in hits] == ["西游记", "西游记后传", "西游记（青少版）", "大话西游", "我读西游", "红楼梦"]
    hits = rank(plan_query("西游记"), docs)
    assert [d["title"] for _, d in hits][:3] == ["西游记", "西游记后传", "西游记（青少版）"]
    assert hits[-1][1]["title"] == "红楼梦" and hits[-1][0] == AUTHOR


han = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@settings(max_examples=150, deadline=None)
@given(st.text(han, min_size=2, max_size=16), st.data())
def test_every_run_of_two_or_more_characters_finds_the_title(title, data):
    start = data.draw(st.integers(0, len(title) - 2))
    end = data.draw(st.integers(start + 2, len(title)))
    assert finds(title[start:end], "9787000000001", title) is not None


@settings(max_examples=100, deadline=None)
@given(st.text(han, min_size=2, max_size=12))
def test_the_full_pinyin_and_the_initials_of_a_title_find_it_exactly(title):
    syllables_ = units(normalize(title))
    # rare characters without a reading, and 嗯 (n) / 呣 (m), are not findable by pinyin
    assume(all(s in syllables() for s in syllables_))
    assume(len(" ".join(syllables_)) <= 60)  # the longest query taken
    assert finds("".join(syllables_), "9787000000001", title) == EXACT
    assert finds(" ".join(syllables_), "9787000000001", title) == EXACT
    initials = "".join(s[0] for s in syllables_)
    if len(initials) <= 12:
        assert finds(initials, "9787000000001", title) in {EXACT, PREFIX}  # another reading may tie
