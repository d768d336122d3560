"""`harness arena --votes FILE`: a Bradley–Terry ranking with bootstrap intervals and the win-rate matrix from
imported pairwise votes (a CSV of model_a, model_b, winner, as Chatbot Arena exports human votes; read by
harness.judging.bradley_terry.read_human_votes), printed as text or JSON. The judges' own battles of a suite are
ranked on its leaderboard instead (docs/judging.md, "Pairwise battles")."""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.names import visible


def add_parser(sub: Any) -> None:
    p = sub.add_parser("arena", help="rank models by Bradley-Terry from a CSV of pairwise votes")
    p.add_argument("--votes", required=True, help="CSV with columns model_a, model_b, winner")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the battles (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print scores and the win-rate matrix as JSON")


def cmd_arena(args: argparse.Namespace) -> int:
    from harness import bounds
    from harness.errors import HarnessError
    from harness.judging.bradley_terry import bradley_terry_intervals, read_human_votes, win_rate_matrix

    resamples = int(bounds.at_least(args.resamples, 1, field="--resamples"))
    battles = read_human_votes(args.votes)
    if not battles:
        raise HarnessError("no votes in the file", path=args.votes)
    scores = bradley_terry_intervals(battles, resamples=resamples, seed=args.seed)
    matrix = win_rate_matrix(battles)
    order = sorted(scores, key=lambda m: -scores[m][0])
    if args.json:
        print(json.dumps({"battles": len(battles), "scores": {m: list(scores[m]) for m in order},
                          "win_rates": [[a, b, v] for (a, b), v in matrix.items()]}, indent=2, ensure_ascii=False))
        return 0
    width = max(len(visible(m)) for m in order)
    print(f"Bradley-Terry from {len(battles)} votes (Elo scale, mean 1000; 95% bootstrap interval over votes):")
    for rank, model in enumerate(order, 1):
        score, low, high = scores[model]
        print(f"{rank:3}  {visible(model).ljust(width)}  {score:7.1f}  [{low:7.1f}, {high:7.1f}]")
    print("\nwin rate of the row's model against the column's:")
    names = [visible(m) for m in order]
    print(" " * (width + 2) + "  ".join(n[:10].rjust(10) for n in names))
    for a, name in zip(order, names):
        cells = ["" if a == b else ("-" if (a, b) not in matrix else f"{matrix[(a, b)]:.3f}") for b in order]
        print(name.ljust(width + 2) + "  ".join(c.rjust(10) for c in cells))
    return 0
