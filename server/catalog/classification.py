"""中图法 (Chinese Library Classification, CLC) class codes → the 农家书屋 six classes.

The six classes of the reading-room standard (DOMAIN.md, "A room"): 政经, 科技,
生活, 文化, 少儿, 其他. There is no single national table from CLC to them;
this is the mapping the 农家书屋 replenishment lists use in practice, written as
prefix rules where the longest matching prefix wins, so a district can read it
and change one line:

- 政经 (politics, economics): A 马列毛邓, B 哲学宗教, C 社会科学总论, D 政治法律,
  E 军事, F 经济.
- 科技 (science and technology, farming included): N 自然科学总论, O 数理化,
  P 天文地球, Q 生物, R 医药卫生, S 农业科学, T 工业技术, U 交通运输,
  V 航空航天, X 环境科学.
- 生活 (everyday life), carved out of the classes above:
  R1 预防医学与卫生学 (nutrition R15, personal hygiene R16, maternal and child
  health R17), R212 中医养生, R247.1 食疗, TS97 生活服务技术 (diet, cooking
  TS972, tailoring, beauty, household), TS941.7 服装裁剪, G78 家庭教育,
  G85 群众体育, G89 文体活动 (chess, cards, games).
- 文化 (culture, education, literature, arts, history): G 文化科学教育体育,
  H 语言文字, I 文学, J 艺术, K 历史地理.
- 少儿 (children): a title flagged for children, whatever its class; and the
  classes of children's books themselves: I28 中国儿童文学, I18 世界儿童文学,
  I3xx.8 / I5xx.8 / I7xx.8 (a country's children's literature), G61 学前教育,
  Z228 少年儿童读物 (children's encyclopaedias).
- 其他: Z 综合性图书, and anything without a recognisable class.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Category = Literal["政经", "科技", "生活", "文化", "少儿", "其他"]
CATEGORIES: Final[tuple[Category, ...]] = ("政经", "科技", "生活", "文化", "少儿", "其他")

# Longest prefix wins. Keys are upper-case CLC prefixes.
PREFIX_RULES: Final[dict[str, Category]] = {
    **dict.fromkeys(("A", "B", "C", "D", "E", "F"), "政经"),
    **dict.fromkeys(("N", "O", "P", "Q", "R", "S", "T", "U", "V", "X"), "科技"),
    **dict.fromkeys(("G", "H", "I", "J", "K"), "文化"),
    "Z": "其他",
    # 生活
    "R1": "生活", "R212": "生活", "R247.1": "生活", "TS97": "生活", "TS941.7": "生活",
    "G78": "生活", "G85": "生活", "G89": "生活",
    # 少儿
    "I28": "少儿", "I18": "少儿", "G61": "少儿", "Z228": "少儿",
}
# A country's children's literature: I + country number + ".8" (e.g. I712.8 美国, I313.8 日本).
_FOREIGN_CHILDREN = re.compile(r"^I[1-7]\d{2}\.8")
# A class code: a main class letter (T has a second letter), then digits with the
# usual auxiliary signs (. - / = : " ( ) < > +); several codes may be separated.
CLC_RE = re.compile(r"^(?:[A-KNOPQRSUVXZ]|T[BDEFGHJKLMNPQSUV]?)(?:[0-9\-][0-9A-Z.\-/=:\"()<>+]*)?$")
_SPLIT = re.compile(r"[;；,，、\s]+")


def normalize_clc(raw: str | None) -> str | None:
    """The first class code in ``raw``, upper case, without a call number's
    "/author-mark" tail; None if empty. ValueError (Chinese message) if malformed."""
    if raw is None:
        return None
    text = raw.strip().upper().replace("．", ".").replace("－", "-")
    if not text:
        return None
    first = _SPLIT.split(text)[0]
    first = first.split("/")[0]  # 索书号 "I247.5/123" → class part
    if not CLC_RE.fullmatch(first):
        raise ValueError(f"“{raw.strip()[:20]}” 不是有效的中图法分类号（如 I247.5、S511、TS972.1）")
    return first


def category_for(clc: str | None, *, children: bool = False) -> Category:
    """The six-class category of a title from its (normalised) CLC code."""
    if children:
        return "少儿"
    if not clc:
        return "其他"
    if _FOREIGN_CHILDREN.match(clc):
        return "少儿"
    for end in range(len(clc), 0, -1):
        found = PREFIX_RULES.get(clc[:end])
        if found is not None:
            return found
    return "其他"
