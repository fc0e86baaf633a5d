"""Pairing rotation rules (bot/pairing/rotation.py), over several rounds."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest

from bot.pairing.rotation import Participant, PastPairing, Round, pair_round


def people(n: int, teams: int | None = None) -> list[Participant]:
    return [Participant(f"U{i:03d}", team=f"team{i % teams}" if teams else None) for i in range(n)]


def run_rounds(group: list[Participant], rounds: int, seed: int = 7) -> list[Round]:
    history: list[PastPairing] = []
    played = []
    for number in range(1, rounds + 1):
        result = pair_round(group, history, seed=seed)
        played.append(result)
        history += [PastPairing(number, members) for members in result.groups]
    return played


def pairs_of(result: Round) -> list[frozenset[str]]:
    return [frozenset(p) for g in result.groups for p in combinations(g, 2)]


def assert_everyone_once(result: Round, group: list[Participant]) -> None:
    placed = [user for g in result.groups for user in g]
    assert sorted(placed) == sorted(p.user_id for p in group)  # nobody left out, nobody twice


@pytest.mark.parametrize("n", [4, 6, 8, 10, 12, 14])
def test_even_groups_meet_everyone_before_any_repeat(n: int) -> None:
    group = people(n)
    played = run_rounds(group, n - 1)
    met = Counter(pair for result in played for pair in pairs_of(result))
    for result in played:
        assert_everyone_once(result, group)
        assert all(len(g) == 2 for g in result.groups)
    # n-1 rounds of n/2 pairs: every possible pair exactly once.
    assert len(met) == n * (n - 1) // 2
    assert set(met.values()) == {1}


def test_repeats_start_only_once_everyone_has_met_everyone() -> None:
    group = people(6)
    played = run_rounds(group, 7)
    assert [r.repeats for r in played] == [0, 0, 0, 0, 0, 3, 3]


@pytest.mark.parametrize("n", [3, 5, 7, 9, 13])
def test_an_odd_count_makes_exactly_one_trio(n: int) -> None:
    group = people(n)
    for result in run_rounds(group, 4):
        assert_everyone_once(result, group)
        sizes = sorted(len(g) for g in result.groups)
        assert sizes == [2] * ((n - 3) // 2) + [3]


def test_odd_groups_avoid_repeats_while_the_group_allows() -> None:
    group = people(9)
    played = run_rounds(group, 3)
    assert [r.repeats for r in played] == [0, 0, 0]


def test_people_from_different_teams_are_preferred() -> None:
    group = people(8, teams=2)  # four people in each of two teams
    result = pair_round(group, [], seed=3)
    assert result.same_team == 0
    teams = {p.user_id: p.team for p in group}
    assert all(teams[a] != teams[b] for a, b in result.groups)


def test_two_teams_mix_first_then_meet_within_the_team() -> None:
    played = run_rounds(people(8, teams=2), 7)
    assert [r.repeats for r in played] == [0] * 7
    assert [r.same_team for r in played][:2] == [0, 0]


def test_team_preference_never_outweighs_a_repeat() -> None:
    group = people(4, teams=2)  # U000,U002 in team0; U001,U003 in team1
    played = run_rounds(group, 3)
    # Round 1 and 2 can mix teams; round 3 must pair team-mates rather than repeat.
    assert [r.same_team for r in played] == [0, 0, 2]
    assert [r.repeats for r in played] == [0, 0, 0]


def test_unknown_teams_never_count_as_the_same_team() -> None:
    result = pair_round(people(6), [], seed=1)
    assert result.same_team == 0


def test_deterministic_for_a_seed_and_history() -> None:
    group = people(10, teams=3)
    assert run_rounds(group, 4, seed=11) == run_rounds(group, 4, seed=11)
    assert pair_round(group, [], seed=11) == pair_round(list(reversed(group)), [], seed=11)
    seeds = {pair_round(group, [], seed=s).groups for s in range(10)}
    assert len(seeds) > 1  # the seed matters


def test_history_of_people_who_left_is_ignored() -> None:
    group = people(4)
    history = [PastPairing(1, ("U000", "UGONE")), PastPairing(1, ("U001", "U002", "UOLD"))]
    result = pair_round(group, history, seed=5)
    assert_everyone_once(result, group)
    assert frozenset({"U001", "U002"}) not in pairs_of(result)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_people_make_no_groups(n: int) -> None:
    assert pair_round(people(n), [], seed=1).groups == ()


def test_duplicate_participants_are_placed_once() -> None:
    group = people(4)
    result = pair_round([*group, group[0]], [], seed=2)
    assert_everyone_once(result, group)


@pytest.mark.parametrize("n", [40, 41])
def test_large_groups_use_the_heuristic_and_still_avoid_repeats(n: int) -> None:
    group = people(n, teams=5)
    played = run_rounds(group, 8)
    for result in played:
        assert_everyone_once(result, group)
        assert result.repeats == 0
        # 5 teams of 8: a random pairing averages 3.6 same-team pairs per round.
        assert result.same_team <= 3
    assert sum(len(g) == 3 for g in played[0].groups) == n % 2
