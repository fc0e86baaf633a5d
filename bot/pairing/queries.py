"""Who can be paired, who was paired with whom, and a debrief's peers at its moment."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.calendar.recurrence import local_date_of
from bot.calendar.zones import zone
from bot.circles.queries import left_slack, members_with_profiles
from bot.pairing.rotation import PastPairing
from storage.models import (
    Circle,
    Delivery,
    PairingMember,
    PairingRound,
    Role,
)

# Delivery kinds, and why someone is not in a round's groups.
PAIRING_INTRO = "pairing_intro"


PAIRING_SKIPPED = "pairing_skipped"  # both built by bot/pairing/kinds.py


# Why someone was not paired (PairingMember.skip_reason).
AWAY = "away"


OPTED_OUT = "opted_out"


LEFT_SLACK = "left_slack"


ALONE = "alone"  # the only one available: nobody to pair with


TOLD = (AWAY, OPTED_OUT, ALONE)  # people who left Slack can't be told


FORGOTTEN = "UFORGOTTEN"  # bot/data_rights/rows.PLACEHOLDER: never paired, never messaged


@dataclass(frozen=True)
class Candidate:
    """An active participant at the round's moment, and why they can't be paired (if so)."""

    user_id: str
    team: str | None
    skip_reason: str | None = None
    away_until: date | None = None


def candidates(session: Session, circle: Circle, moment: datetime) -> list[Candidate]:
    found: list[Candidate] = []
    for membership, person in members_with_profiles(session, [circle.id], [Role.PARTICIPANT]):
        if membership.added_at > moment:
            continue
        team = (membership.team or (person.title if person else "") or "").strip() or None
        reason: str | None = None
        local_day = local_date_of(moment, zone(person.tz if person else None))
        if left_slack(person):
            reason = LEFT_SLACK
        elif membership.pairing_opt_out:
            reason = OPTED_OUT
        elif membership.away_until is not None and local_day <= membership.away_until:
            reason = AWAY
        found.append(
            Candidate(
                membership.user_id,
                team,
                reason,
                membership.away_until if reason == AWAY else None,
            )
        )
    return found


def history(session: Session, circle_id: int) -> list[PastPairing]:
    """The circle's earlier groups (pairs and trios), oldest round first."""
    rows = session.exec(
        select(
            PairingRound.round_no,
            PairingMember.round_id,
            PairingMember.group_no,
            PairingMember.user_id,
        )
        .join(PairingRound, col(PairingRound.id) == col(PairingMember.round_id))
        .where(PairingMember.circle_id == circle_id, col(PairingMember.group_no) > 0)
        .order_by(col(PairingRound.round_no), col(PairingMember.group_no), col(PairingMember.id))
    ).all()
    groups: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    for round_no, round_id, group_no, user_id in rows:
        groups[(round_no, round_id, group_no)].append(user_id)
    return [PastPairing(key[0], tuple(members)) for key, members in groups.items()]


class PeerIndex:
    """Who was grouped with whom in a circle's rounds, read once per circle and round."""

    def __init__(self) -> None:
        self._rounds: dict[int, list[tuple[datetime, int]]] = {}
        self._groups: dict[int, dict[str, tuple[str, ...]]] = {}

    def paired(self, session: Session, circle_id: int, moment: datetime) -> frozenset[str] | None:
        """Who is in a group of the latest round at or before `moment`; None: no round yet.

        Once a circle pairs, its debriefs go to the people in a pair (the debrief is about
        their session); before its first round they go to every participant.
        """
        round_id = self._latest_round(session, circle_id, moment)
        if round_id is None:
            return None
        return frozenset(self._groups_of(session, round_id))

    def peers(
        self, session: Session, circle_id: int, user_id: str, moment: datetime
    ) -> tuple[str, ...]:
        """The others in `user_id`'s group of the latest round at or before `moment`."""
        round_id = self._latest_round(session, circle_id, moment)
        if round_id is None:
            return ()
        return self._groups_of(session, round_id).get(user_id, ())

    def _latest_round(self, session: Session, circle_id: int, moment: datetime) -> int | None:
        if circle_id not in self._rounds:
            self._rounds[circle_id] = [
                (created_at, round_id)
                for created_at, round_id in session.exec(
                    select(PairingRound.created_at, PairingRound.id)
                    .where(PairingRound.circle_id == circle_id)
                    .order_by(col(PairingRound.created_at), col(PairingRound.id))
                ).all()
                if round_id is not None
            ]
        latest = [
            round_id for created_at, round_id in self._rounds[circle_id] if created_at <= moment
        ]
        return latest[-1] if latest else None

    def _groups_of(self, session: Session, round_id: int) -> dict[str, tuple[str, ...]]:
        if round_id not in self._groups:
            by_group: dict[int, list[str]] = defaultdict(list)
            for group_no, member in session.exec(
                select(PairingMember.group_no, PairingMember.user_id)
                .where(PairingMember.round_id == round_id, col(PairingMember.group_no) > 0)
                .order_by(col(PairingMember.id))
            ).all():
                by_group[group_no].append(member)
            self._groups[round_id] = {
                member: tuple(m for m in group if m != member and m != FORGOTTEN)
                for group in by_group.values()
                for member in group
                if member != FORGOTTEN
            }
        return self._groups[round_id]


def peers_at(session: Session, circle_id: int, user_id: str, moment: datetime) -> tuple[str, ...]:
    return PeerIndex().peers(session, circle_id, user_id, moment)


def debrief_peer(session: Session, kind: str, delivery: Delivery | None) -> str | None:
    """The peer a debrief's modal prefills: the first other member of the person's group."""
    if kind != "debrief" or delivery is None:
        return None
    found = peers_at(session, delivery.circle_id, delivery.recipient, delivery.due_at)
    return found[0] if found else None


def person_pairings(
    session: Session, *, team_id: str, user_id: str, circle_names: dict[int | None, str]
) -> list[dict[str, Any]]:
    """The rounds the person was in (for my-data): when, paired with whom, or why not."""
    mine = session.exec(
        select(PairingMember, PairingRound)
        .join(PairingRound, col(PairingRound.id) == col(PairingMember.round_id))
        .where(PairingMember.team_id == team_id, PairingMember.user_id == user_id)
        .order_by(col(PairingRound.created_at), col(PairingRound.id))
    ).all()
    if not mine:
        return []
    others: dict[tuple[int, int], list[str]] = defaultdict(list)
    for round_id, group_no, member in session.exec(
        select(PairingMember.round_id, PairingMember.group_no, PairingMember.user_id)
        .where(
            col(PairingMember.round_id).in_({m.round_id for m, _r in mine}),
            col(PairingMember.group_no) > 0,
        )
        .order_by(col(PairingMember.id))
    ).all():
        if member != user_id:
            others[(round_id, group_no)].append(member)
    return [
        {
            "circle": circle_names.get(r.circle_id),
            "round": r.round_no,
            "formed_at": r.created_at.isoformat(),
            "paired_with": others[(m.round_id, m.group_no)] if m.group_no else [],
            "not_paired_because": m.skip_reason,
        }
        for m, r in mine
    ]
