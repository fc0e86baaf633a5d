"""Peer pairing rotation: who coaches whom this round. Pure functions, no I/O.

Rules, in order of weight:
1. No pair repeats until each person has met every possible partner (as far as the group
   allows): a pair costs `REPEAT` for every earlier meeting, so any matching without repeats
   beats any matching with one.
2. People from different teams are preferred: a same-team pair costs `SAME_TEAM`.
3. Among repeats, the pair that met longest ago is preferred.
4. An odd count makes one trio; nobody is left out.

Ties are broken by a seeded random weight per pair, so a round is deterministic for a given
seed and history (tests can predict it) yet varies between seeds.

Choosing the best matching round by round can corner itself: after a few rounds the pairs
not yet met may no longer split into a full round. So the first choice is a rotation planned
for the whole cycle: a round-robin schedule (the circle method) over a seeded ordering that
interleaves teams. Its rounds never share a pair, so while the group is unchanged a fresh
round (no pair met before) is always left until everyone has met everyone; among the fresh
rounds the cheapest (fewest same-team pairs) is taken. When no round of the rotation is
fresh (people joined or left, or an odd count's trio met before), the round is optimised on
its own: exactly by dynamic programming over subsets for up to 14 people, by a greedy
matching improved by pair swaps (2-opt) above that. 200 people take a few milliseconds
(bench/pairing.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations

REPEAT = 1_000_000  # per earlier meeting of the same two people
SAME_TEAM = 1_000
RECENCY = 10  # per round since they last met, subtracted: older repeats are cheaper
TIE = 10  # the seeded tie-breaker stays below every real preference

EXACT_LIMIT = 14  # people; above this the heuristic is used
MAX_SWAP_PASSES = 30


@dataclass(frozen=True)
class Participant:
    user_id: str
    team: str | None = None  # None: unknown, never counts as "same team"


@dataclass(frozen=True)
class PastPairing:
    """A group (pair or trio) from an earlier round; `round_no` grows with time."""

    round_no: int
    members: tuple[str, ...]


Group = tuple[str, ...]


@dataclass(frozen=True)
class Round:
    groups: tuple[Group, ...]
    repeats: int  # pairs in this round that had met before
    same_team: int  # pairs in this round from the same team


def pair_round(
    participants: Sequence[Participant], history: Iterable[PastPairing], *, seed: int
) -> Round:
    """Groups for one round: pairs, plus one trio when the count is odd.

    Fewer than 2 people make no group (the caller tells them why).
    """
    people = sorted({p.user_id: p for p in participants}.values(), key=lambda p: p.user_id)
    if len(people) < 2:
        return Round(groups=(), repeats=0, same_team=0)
    cost = _Costs(people, list(history), seed)
    groups = _from_rotation(cost, seed)
    if groups is None:
        groups = (
            _exact(cost) if len(people) <= EXACT_LIMIT else _heuristic(cost, random.Random(seed))
        )
    ordered = tuple(sorted(tuple(sorted(group)) for group in groups))
    return Round(
        groups=ordered,
        repeats=sum(cost.met(a, b) > 0 for g in ordered for a, b in combinations(g, 2)),
        same_team=sum(cost.same_team(a, b) for g in ordered for a, b in combinations(g, 2)),
    )


class _Costs:
    def __init__(self, people: list[Participant], history: list[PastPairing], seed: int) -> None:
        self.ids = [p.user_id for p in people]
        self.index = {user_id: i for i, user_id in enumerate(self.ids)}
        self.teams = [(p.team or "").strip().casefold() or None for p in people]
        n = len(people)
        self.meetings = [[0] * n for _ in range(n)]
        self.last_round = [[0] * n for _ in range(n)]
        latest = max((h.round_no for h in history), default=0)
        for past in history:
            present = [self.index[m] for m in past.members if m in self.index]
            for a, b in combinations(present, 2):
                self.meetings[a][b] += 1
                self.meetings[b][a] += 1
                self.last_round[a][b] = self.last_round[b][a] = max(
                    self.last_round[a][b], past.round_no
                )
        rng = random.Random(seed)
        self.table = [[0] * n for _ in range(n)]
        for a, b in combinations(range(n), 2):
            value = rng.randrange(TIE)
            if self.teams[a] is not None and self.teams[a] == self.teams[b]:
                value += SAME_TEAM
            if self.meetings[a][b]:
                age = latest - self.last_round[a][b]
                value += REPEAT * self.meetings[a][b] - min(age, REPEAT // (2 * RECENCY)) * RECENCY
            self.table[a][b] = self.table[b][a] = value

    def pair(self, a: int, b: int) -> int:
        return self.table[a][b]

    def trio(self, a: int, b: int, c: int) -> int:
        return self.table[a][b] + self.table[a][c] + self.table[b][c]

    def met(self, a: str, b: str) -> int:
        return self.meetings[self.index[a]][self.index[b]]

    def same_team(self, a: str, b: str) -> bool:
        ta, tb = self.teams[self.index[a]], self.teams[self.index[b]]
        return ta is not None and ta == tb

    def names(self, group: Iterable[int]) -> Group:
        return tuple(self.ids[i] for i in group)


def _rotation_order(cost: _Costs, seed: int) -> list[int]:
    """Everyone in a seeded order that takes teams in turn (team-mates spread apart).

    It depends only on the seed, the people and their teams (not on history), so it stays
    the same from round to round while the group does: that is what makes the rotation a
    plan for the whole cycle.
    """
    rng = random.Random(f"rotation:{seed}")
    by_team: dict[str, list[int]] = {}
    for i, team in enumerate(cost.teams):
        by_team.setdefault(team or f"\0{i}", []).append(i)  # unknown team: a team of one
    queues = []
    for team in sorted(by_team):
        members = by_team[team]
        rng.shuffle(members)
        queues.append(members)
    rng.shuffle(queues)
    queues.sort(key=len, reverse=True)
    order: list[int] = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop())
    return order


def _round_robin(order: list[int]) -> list[list[list[int]]]:
    """The circle method: len-1 rounds in which every two people meet exactly once.

    An odd count gets a ghost; whoever meets the ghost joins another pair later (a trio).
    """
    ghost = -1
    seats = order + ([ghost] if len(order) % 2 else [])
    n = len(seats)
    rounds = []
    for _ in range(n - 1):
        rounds.append([[seats[i], seats[n - 1 - i]] for i in range(n // 2)])
        seats = [seats[0], seats[-1], *seats[1:-1]]
    return rounds


def _from_rotation(cost: _Costs, seed: int) -> list[Group] | None:
    """The cheapest round of the planned rotation in which nobody meets again, if any."""
    best: tuple[int, list[list[int]]] | None = None
    for pairs in _round_robin(_rotation_order(cost, seed)):
        groups = [p for p in pairs if -1 not in p]
        alone = [a for p in pairs if -1 in p for a in p if a != -1]
        if alone:  # odd: the one without a partner joins the pair where they cost least
            target = min(
                range(len(groups)),
                key=lambda i: cost.pair(alone[0], groups[i][0]) + cost.pair(alone[0], groups[i][1]),
            )
            groups[target] = [*groups[target], alone[0]]
        if any(cost.meetings[a][b] for g in groups for a, b in combinations(g, 2)):
            continue
        total = sum(cost.pair(a, b) for g in groups for a, b in combinations(g, 2))
        if best is None or total < best[0]:
            best = (total, groups)
    return [cost.names(g) for g in best[1]] if best is not None else None


def _exact(cost: _Costs) -> list[Group]:
    """Minimum-cost partition into pairs (and one trio if odd), by DP over subsets."""
    n = len(cost.ids)
    full = (1 << n) - 1
    odd = n % 2 == 1

    @cache
    def best(left: int, need_trio: bool) -> tuple[int, tuple[tuple[int, ...], ...]]:
        """Cheapest grouping of the people in bitmask `left` (a trio still owed if need_trio)."""
        if left == 0:
            return 0, ()
        first = (left & -left).bit_length() - 1
        rest = left & ~(1 << first)
        others = [i for i in range(n) if rest >> i & 1]
        found: tuple[int, tuple[tuple[int, ...], ...]] | None = None
        # A pair keeps the parity of what is left; an owed trio needs three people left.
        if not need_trio or len(others) >= 4:
            for j in others:
                sub_cost, sub_groups = best(rest & ~(1 << j), need_trio)
                total = cost.pair(first, j) + sub_cost
                if found is None or total < found[0]:
                    found = (total, ((first, j), *sub_groups))
        if need_trio:
            for j, k in combinations(others, 2):
                sub_cost, sub_groups = best(rest & ~(1 << j) & ~(1 << k), False)
                total = cost.trio(first, j, k) + sub_cost
                if found is None or total < found[0]:
                    found = (total, ((first, j, k), *sub_groups))
        assert found is not None
        return found

    _, groups = best(full, odd)
    return [cost.names(g) for g in groups]


def _heuristic(cost: _Costs, rng: random.Random) -> list[Group]:
    """Greedy pairs (most constrained person first), improved by swapping partners."""
    n = len(cost.ids)
    order = list(range(n))
    rng.shuffle(order)
    # People with the fewest partners they have not met yet choose first.
    unmet = {a: sum(1 for b in range(n) if b != a and cost.meetings[a][b] == 0) for a in order}
    order.sort(key=lambda a: unmet[a])
    free = set(range(n))
    pairs: list[list[int]] = []
    leftover: int | None = None
    for a in order:
        if a not in free:
            continue
        free.discard(a)
        if not free:
            leftover = a
            break
        b = min(free, key=lambda other: cost.pair(a, other))
        free.discard(b)
        pairs.append([a, b])
    _improve(pairs, cost)
    groups: list[list[int]] = [list(p) for p in pairs]
    if leftover is not None:  # odd: the extra person joins the pair where they cost least
        target = min(
            range(len(groups)),
            key=lambda i: cost.pair(leftover, groups[i][0]) + cost.pair(leftover, groups[i][1]),
        )
        groups[target].append(leftover)
    return [cost.names(g) for g in groups]


def _improve(pairs: list[list[int]], cost: _Costs) -> None:
    """2-opt: for two pairs (a,b),(c,d) try (a,c),(b,d) and (a,d),(b,c); keep improvements."""
    for _ in range(MAX_SWAP_PASSES):
        improved = False
        for i in range(len(pairs)):
            for j in range(i + 1, len(pairs)):
                a, b = pairs[i]
                c, d = pairs[j]
                now = cost.pair(a, b) + cost.pair(c, d)
                swap1 = cost.pair(a, c) + cost.pair(b, d)
                swap2 = cost.pair(a, d) + cost.pair(b, c)
                if swap1 < now and swap1 <= swap2:
                    pairs[i], pairs[j] = [a, c], [b, d]
                    improved = True
                elif swap2 < now:
                    pairs[i], pairs[j] = [a, d], [b, c]
                    improved = True
        if not improved:
            return
