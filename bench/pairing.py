"""Pairing benchmark: rounds for a large circle, with growing history.

    python bench/pairing.py [--people 200] [--teams 8] [--rounds 12] [--seed 7]

Plays ROUNDS consecutive rounds (each round's groups become the next round's history) and
prints the time of each round, the median and worst, and the repeats and same-team pairs
per round. Target (issue 6): a round for 200 participants computed in under a second.
The time covers the whole computation (`bot.pairing.rotation.pair_round`); reading members and
history from the database is one indexed query each and not included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.pairing.rotation import Participant, PastPairing, pair_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--teams", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    people = [
        Participant(f"U{i:05d}", team=f"team{i % args.teams}" if args.teams else None)
        for i in range(args.people)
    ]
    history: list[PastPairing] = []
    times: list[float] = []
    print(f"pairing {args.people} participants in {args.teams} teams, {args.rounds} rounds")
    print(f"{'round':>5} {'ms':>8} {'groups':>7} {'trios':>6} {'repeats':>8} {'same team':>10}")
    for number in range(1, args.rounds + 1):
        start = time.perf_counter()
        result = pair_round(people, history, seed=args.seed)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        trios = sum(len(g) == 3 for g in result.groups)
        print(
            f"{number:>5} {elapsed * 1000:>8.1f} {len(result.groups):>7} {trios:>6} "
            f"{result.repeats:>8} {result.same_team:>10}"
        )
        history += [PastPairing(number, members) for members in result.groups]
    # Someone joins: the planned rotation changes, and its rounds now repeat earlier pairs,
    # so the round is optimised on its own (greedy + 2-opt for big groups).
    joined = [*people, Participant("UNEWCOMER", team="team0")]
    start = time.perf_counter()
    result = pair_round(joined, history, seed=args.seed)
    elapsed = time.perf_counter() - start
    times.append(elapsed)
    print(
        f"{'+1':>5} {elapsed * 1000:>8.1f} {len(result.groups):>7} "
        f"{sum(len(g) == 3 for g in result.groups):>6} {result.repeats:>8} {result.same_team:>10}"
        "   (after someone joined)"
    )
    median, worst = statistics.median(times), max(times)
    verdict = "met" if worst < 1.0 else "NOT met"
    print(
        f"median {median * 1000:.1f} ms, worst {worst * 1000:.1f} ms (target < 1000 ms: {verdict})"
    )


if __name__ == "__main__":
    main()
