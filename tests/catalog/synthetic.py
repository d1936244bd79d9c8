"""A generator of plausible catalog rows (for the search benchmark and large-catalog tests).

Titles are built from words a 农家书屋 catalog is full of, so 2- and 3-character runs
repeat the way they do in a real catalog (养殖, 技术, 故事 …) rather than being
random characters that would make every key unique.
"""

from __future__ import annotations

import random

import isbnlib

TOPICS = (
    "果树 蔬菜 小麦 水稻 玉米 大豆 棉花 葡萄 苹果 桃树 梨树 草莓 西瓜 食用菌 蘑菇 茶叶 花卉 中药材 "
    "生猪 肉牛 奶牛 山羊 绵羊 肉鸡 蛋鸡 鸭鹅 淡水鱼 河蟹 对虾 蜜蜂 家兔 土壤 化肥 农药 农机 大棚 温室 "
    "节水灌溉 病虫害 电商 合作社 乡村旅游 家庭农场 民宿 直播带货 垃圾分类 法律 婚姻 继承 土地承包 医保 养老 "
    "高血压 糖尿病 中医 养生 急救 育儿 营养 烹饪 家常菜 面点 剪纸 书法 国画 二胡 京剧 相声 民歌 诗词 "
    "唐诗 宋词 成语 历史 天津 津南 红色 长征 抗战 英雄 雷锋 童话 寓言 神话 恐龙 宇宙 海洋 昆虫 动物 植物"
).split()
KINDS = (
    "实用技术 栽培技术 养殖技术 病虫害防治 高效种植 致富指南 100问 图解 手册 知识读本 入门 "
    "百科 故事 精选 大全 问答 新编 彩图版 口袋书 读本 常识 指南 一本通 实战"
).split()
CLASSICS = (
    "西游记 红楼梦 水浒传 三国演义 儒林外史 聊斋志异 骆驼祥子 平凡的世界 白鹿原 活着 围城 朝花夕拾 "
    "呐喊 彷徨 边城 茶馆 雷雨 家 春 秋 四世同堂 城南旧事 小王子 安徒生童话 格林童话 伊索寓言 "
    "钢铁是怎样炼成的 鲁滨逊漂流记 海底两万里 昆虫记 爱的教育 草房子 青铜葵花 稻草人 "
    "乡土中国 人类简史 时间简史 万物简史 苏东坡传 曾国藩家书 论语 孟子 道德经 史记 资治通鉴"
).split()
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文华建国志红玉兰春梅海燕国庆学文晓东"
PUBLISHERS = (
    "中国农业出版社 金盾出版社 化学工业出版社 人民文学出版社 天津人民出版社 天津科学技术出版社 "
    "中国少年儿童出版社 人民卫生出版社 中国林业出版社 新蕾出版社 百花文艺出版社 科学普及出版社"
).split()
CLC = ("S66", "S82", "S43", "S5", "S68", "F32", "D92", "R151", "R2", "TS972", "I247.5", "I287", "J2", "K2",
       "G62", "Z228", "N49", "Q95", "I207.2", "I313")


def isbn13(rng: random.Random) -> str:
    body = "978" + rng.choice("7") + "".join(rng.choice("0123456789") for _ in range(8))
    isbn = body + _check13(body)
    assert isbnlib.is_isbn13(isbn)
    return isbn


def _check13(first12: str) -> str:
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def author(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def title(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return rng.choice(CLASSICS) + rng.choice(("", "（青少版）", "（插图本）", "（上）", "（下）"))
    if roll < 0.75:
        return rng.choice(TOPICS) + rng.choice(KINDS)
    return rng.choice(TOPICS) + rng.choice(TOPICS) + rng.choice(KINDS) + rng.choice(("", "", "（第二版）", "丛书"))


def rows(n: int, seed: int = 7) -> list[dict[str, object]]:
    """``n`` catalog rows with unique ISBNs, as TitleCreate-shaped dicts."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < n:
        isbn = isbn13(rng)
        if isbn in seen:
            continue
        seen.add(isbn)
        out.append({
            "isbn": isbn, "title": title(rng), "author": author(rng), "publisher": rng.choice(PUBLISHERS),
            "year": rng.randint(1995, 2025), "clc": rng.choice(CLC), "price_cents": rng.randint(800, 9800),
        })
    return out
