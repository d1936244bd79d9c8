"""Selection benchmark (issue 5, part 3): the optimizer against the greedy baseline.

Generated demand for ``rooms`` rooms × ``titles`` candidate titles (pure, no database):
prints the optimizer's objective, the proven upper bound (LP relaxation of the full,
unpruned model) and gap, wall time, and the greedy baseline's objective in the same run
with the ratio; both are checked against every plan rule.

    python -m ops.bench.distribution_selection [--quick] [--time-limit SECS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any

from distribution.greedy import greedy_select
from distribution.selection import (
    Candidate,
    RoomDemand,
    Rules,
    check_rules,
    select_titles,
)

PROVINCES = ("天津", "北京", "河北", "山东", "江苏", "上海", "湖南", "四川")
# Share of candidates per category (the list leans to 科技 and 文化 like the targets).
CATEGORY_MIX = {"政经": 0.08, "科技": 0.35, "生活": 0.12, "文化": 0.30, "少儿": 0.12, "其他": 0.03}


def generate(rooms: int, titles: int, seed: int = 1, budget_per_room_fen: int = 450_000
             ) -> tuple[Rules, list[Candidate], list[RoomDemand]]:
    """A synthetic plan: candidates with prices ¥15–80, 75% on the list, 20% from 天津;
    per room a taste per category, a few admin picks and reader suggestions, some titles held."""
    rnd = random.Random(seed)
    cats = list(CATEGORY_MIX)
    weights = list(CATEGORY_MIX.values())
    cands = []
    for i in range(titles):
        cat = rnd.choices(cats, weights)[0]
        price = int(rnd.lognormvariate(3.45, 0.35) * 100) // 10 * 10
        price = min(max(price, 1500), 12000)
        cands.append(Candidate(title_id=f"T{i:05d}", price_fen=price, category=cat, on_list=rnd.random() < 0.75,
                               province="天津" if rnd.random() < 0.2 else rnd.choice(PROVINCES[1:]),
                               publisher=f"出版社{rnd.randrange(60):02d}"))
    popularity = [rnd.paretovariate(2.5) for _ in range(titles)]
    demands = []
    for r in range(rooms):
        taste = {c: rnd.uniform(0.5, 1.6) for c in cats}
        kids = rnd.uniform(0.05, 0.4)
        taste["少儿"] *= 1 + 2 * kids
        values: dict[str, float] = {}
        extra: dict[str, float] = {}
        reasons: dict[str, list[str]] = {}
        for i, c in enumerate(cands):
            v = popularity[i] * taste[c.category] * rnd.uniform(0.6, 1.4) + (0.3 if c.on_list else 0.0)
            values[c.title_id] = round(v, 4)
        for i in rnd.sample(range(titles), min(titles, 25)):
            tid = cands[i].title_id
            values[tid] += 8.0
            extra[tid] = 2.0
            reasons[tid] = ["管理员点选"]
        for i in rnd.sample(range(titles), min(titles, 15)):
            tid = cands[i].title_id
            n = rnd.randint(1, 5)
            values[tid] += 1.5 * n
            extra[tid] = max(extra.get(tid, 0.0), 0.5 * n)
            reasons.setdefault(tid, []).append(f"{n} 位读者荐购")
        held = frozenset(cands[i].title_id for i in rnd.sample(range(titles), titles // 50))
        demands.append(RoomDemand(room=f"JN-R{r:03d}", values=values, extra_copy_values=extra, reasons=reasons,
                                  excluded=held))
    rules = Rules(budget_fen=budget_per_room_fen * rooms)
    return rules, cands, demands


async def run_selection_bench(rooms: int = 110, titles: int = 5000, seed: int = 1, time_limit: float = 60,
                              threads: int = 2) -> dict[str, Any]:
    """Run optimizer and greedy on one generated instance; both verified against every rule."""
    t0 = time.perf_counter()
    rules, cands, demands = generate(rooms, titles, seed)
    gen_secs = time.perf_counter() - t0
    greedy = await asyncio.to_thread(greedy_select, rules, cands, demands)
    greedy_violations = check_rules(rules, [d.room for d in demands], greedy.lines)
    res = await asyncio.to_thread(select_titles, rules, cands, demands, time_limit=time_limit, threads=threads)
    return {
        "rooms": rooms, "titles": titles, "seed": seed, "time_limit": time_limit, "generate_secs": round(gen_secs, 2),
        "status": res.status, "objective": round(res.objective, 2),
        "bound": round(res.bound, 2) if res.bound is not None else None,
        "gap": round(res.gap, 5) if res.gap is not None else None, "wall_secs": round(res.wall_secs, 2),
        "method": res.method, "violations": len(res.violations),
        "greedy_objective": round(greedy.objective, 2), "greedy_secs": round(greedy.wall_secs, 2),
        "greedy_feasible": greedy.feasible, "greedy_violations": len(greedy_violations),
        "ratio_greedy_to_optimizer": round(greedy.objective / res.objective, 4) if res.objective else None,
        "greedy_gap_to_bound": round((res.bound - greedy.objective) / res.bound, 5) if res.bound else None,
        "spend_fen": res.totals["fen"], "budget_fen": rules.budget_fen, "lines": len(res.lines),
        "copies": res.totals["copies"],
        "stats": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in res.stats.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="20 rooms × 800 titles")
    ap.add_argument("--rooms", type=int, default=110)
    ap.add_argument("--titles", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=60)
    args = ap.parse_args()
    rooms, titles = (20, 800) if args.quick else (args.rooms, args.titles)
    out = asyncio.run(run_selection_bench(rooms, titles, args.seed, args.time_limit))
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
