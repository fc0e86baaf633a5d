"""Peer pairing in circles: rounds formed exactly once, their group DMs, and the `/circle`
subcommands `pair`, `nopair`, `pair-me` and `team`.

Who is paired: the circle's active participants (role participant) who joined before the
round's moment, except people who left Slack (users.info says deleted, or a bot), opted out
(`/circle nopair`) or are away on the round's local date (their own zone). A person's team is
`Membership.team` (`/circle team @person <team>`), else their Slack profile title, else
unknown (never the same team as anyone). bot/pairing.py chooses the groups from the seed and
the circle's earlier rounds; the seed is derived from the circle id and stays the same from
round to round, because the rotation it plans spans the whole cycle.

A round is formed exactly once, in one transaction that holds the round (`pairing_round`,
unique key), its members (`pairing_member`: a group number, or 0 and why not paired) and its
messages as pending deliveries: one `pairing_intro` per group (a group DM, key
`pairing:<round>:<group>`, recipient the group's first member) and one `pairing_skipped` per
person left out who can still be told (`pairing_skip:<round>:<user>`). The circle row is
locked first (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers anyway), so two
processes forming the same round find the key taken and form nothing.

- `/circle pair` (a facilitator) forms a round now, under `pairing:manual:<circle>:<minute>`:
  pressing it twice within a minute forms one round; a minute later it forms the next one.
  Fewer than two people who can be paired is refused with the reasons, and nothing is written.
- A `pairing` schedule fires in its pinned zone, else the circle's (like the digest's channel
  post): each occurrence is `pairing:<schedule>:<local date>`, formed by `Deliverer.tick`
  (`form_due_rounds`) unless the circle is paused that day or the date is skipped; an
  occurrence found later than the grace window is not formed at all (nobody would be told in
  time). With one person available the round records them as `alone` and tells them.

Debriefs name the peer: `peers_at` finds the recipient's group in the latest round at or before
the debrief's moment (bot/delivery.SharedMessages and the reflection modal's prefill).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from slack_sdk import WebClient
from sqlmodel import Session, col, func, select

from bot.calendar.recurrence import fire_times_between, local_date_of, next_fire_time, recurrence_of
from bot.calendar.zones import circle_zone, zone
from bot.circles import rules as circles
from bot.circles.queries import left_slack, members_with_profiles
from bot.circles.rules import Refusal, circle_here, is_paused_on, refuse_if_paused
from bot.delivery.engine import OPEN_GROUP_DM
from bot.pairing.rotation import Participant, PastPairing, Round, pair_round
from bot.slack import block_kit, mrkdwn, people
from bot.slack.text import day_text
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import NoPair, Pair, PairMe, SetTeam
from prompts import mention, render
from storage.db import Database
from storage.models import (
    Circle,
    Delivery,
    DeliveryStatus,
    PairingMember,
    PairingRound,
    Person,
    Role,
    Schedule,
    ScheduleKind,
    SkipDay,
)

logger = logging.getLogger(__name__)

PAIRING_INTRO = "pairing_intro"
PAIRING_SKIPPED = "pairing_skipped"  # both in bot/delivery.PAIRING_DELIVERY_KINDS

# Why someone was not paired (PairingMember.skip_reason).
AWAY = "away"
OPTED_OUT = "opted_out"
LEFT_SLACK = "left_slack"
ALONE = "alone"  # the only one available: nobody to pair with
TOLD = (AWAY, OPTED_OUT, ALONE)  # people who left Slack can't be told

FORGOTTEN = "UFORGOTTEN"  # bot/data_rights.PLACEHOLDER: never paired, never messaged

Message = dict[str, Any]


def round_seed(circle_id: int) -> int:
    """The circle's pairing seed: stable across rounds, different between circles."""
    digest = hashlib.sha256(f"circlebot-pairing:{circle_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def manual_key(circle_id: int, now: datetime) -> str:
    return f"pairing:manual:{circle_id}:{now:%Y-%m-%dT%H:%M}"


def scheduled_key(schedule_id: int, local_day: date) -> str:
    return f"pairing:{schedule_id}:{local_day.isoformat()}"


# --------------------------------------------------------------------------- who is paired


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


def too_few_refusal(circle: Circle, found: Sequence[Candidate]) -> Refusal | None:
    """Why no pairs can be formed by hand now (fewer than two people available), if so."""
    available = [c for c in found if c.skip_reason is None]
    if len(available) >= 2:
        return None
    name = mrkdwn.escape(circle.name)
    if not found:
        return Refusal(
            f"*{name}* has no participants to pair yet, so no pairs were formed. Add at least "
            "two with `/circle add @ana @ben`, then run `/circle pair` again."
        )
    if len(found) == 1:
        return Refusal(
            f"Pairing needs at least two participants, and *{name}* has one "
            f"({mrkdwn.user(found[0].user_id)}), so no pairs were formed. Add more with "
            "`/circle add @person`, then run `/circle pair` again."
        )
    skipped = "; ".join(
        f"{mrkdwn.user(c.user_id)} {skip_text(c.skip_reason, c.away_until)}"
        for c in found
        if c.skip_reason
    )
    return Refusal(
        f"Only {len(available)} of the {len(found)} participants of *{name}* can be paired "
        f"right now, so no pairs were formed: {skipped}."
    )


def skip_text(reason: str | None, away_until: date | None = None) -> str:
    if reason == AWAY:
        return f"is away until {day_text(away_until, year=True)}" if away_until else "is away"
    if reason == OPTED_OUT:
        return "opted out (`/circle pair-me` to join again)"
    if reason == LEFT_SLACK:
        return "left Slack"
    if reason == ALONE:
        return "had nobody else to pair with"
    return "was not paired"


# --------------------------------------------------------------------------- forming a round


@dataclass
class Formed:
    round: PairingRound
    created: bool  # False: the key was already taken (formed earlier, or by someone else)
    groups: tuple[tuple[str, ...], ...] = ()
    skipped: list[Candidate] = field(default_factory=list)
    repeats: int = 0
    same_team: int = 0
    delivery_ids: list[int] = field(default_factory=list)


def form_round(
    session: Session,
    circle: Circle,
    *,
    key: str,
    moment: datetime,
    now: datetime,
    created_by: str | None,
    schedule_id: int | None,
    refuse_too_few: bool,
) -> Formed | None:
    """Form the round under `key` once, in the caller's transaction.

    Returns None when nobody at all could be paired or told (no participants); raises the
    too-few Refusal (writing nothing) when `refuse_too_few` and fewer than two are available.
    """
    assert circle.id is not None
    # Serialise rounds of this circle (PostgreSQL): the key check below then can't race.
    session.exec(select(Circle.id).where(Circle.id == circle.id).with_for_update()).first()
    existing = session.exec(select(PairingRound).where(PairingRound.key == key)).first()
    if existing is not None:
        return _existing(session, existing)
    found = candidates(session, circle, moment)
    if refuse_too_few and (refusal := too_few_refusal(circle, found)) is not None:
        raise refusal
    if not found:
        return None
    available = [c for c in found if c.skip_reason is None]
    skipped = [c for c in found if c.skip_reason is not None]
    if len(available) == 1:
        skipped.append(Candidate(available[0].user_id, available[0].team, ALONE))
        available = []
    seed = round_seed(circle.id)
    result = (
        pair_round(
            [Participant(c.user_id, c.team) for c in available],
            history(session, circle.id),
            seed=seed,
        )
        if available
        else Round(groups=(), repeats=0, same_team=0)
    )
    latest = session.exec(
        select(func.max(PairingRound.round_no)).where(PairingRound.circle_id == circle.id)
    ).one()
    pairing_round = PairingRound(
        team_id=circle.team_id,
        circle_id=circle.id,
        round_no=(latest or 0) + 1,
        seed=seed,
        key=key,
        schedule_id=schedule_id,
        created_by=created_by,
        created_at=moment,
    )
    session.add(pairing_round)
    session.flush()
    assert pairing_round.id is not None
    round_id = pairing_round.id
    local_day = local_date_of(moment, circle_zone(session, circle))

    def delivery(delivery_key: str, kind: str, recipient: str) -> Delivery:
        return Delivery(
            team_id=circle.team_id,
            circle_id=circle.id,  # type: ignore[arg-type]
            key=delivery_key,
            kind=kind,
            recipient=recipient,
            ref_id=round_id,
            local_date=local_day,
            due_at=moment,
            status=DeliveryStatus.PENDING,
            attempts=0,
            created_at=now,
        )

    deliveries: list[Delivery] = []
    for group_no, group in enumerate(result.groups, start=1):
        for user_id in group:
            session.add(_member(circle, round_id, user_id, group_no=group_no))
        deliveries.append(delivery(f"pairing:{round_id}:{group_no}", PAIRING_INTRO, group[0]))
    for person in skipped:
        session.add(_member(circle, round_id, person.user_id, skip_reason=person.skip_reason))
        if person.skip_reason in TOLD:
            deliveries.append(
                delivery(
                    f"pairing_skip:{round_id}:{person.user_id}", PAIRING_SKIPPED, person.user_id
                )
            )
    session.add_all(deliveries)
    session.flush()
    return Formed(
        round=pairing_round,
        created=True,
        groups=result.groups,
        skipped=skipped,
        repeats=result.repeats,
        same_team=result.same_team,
        delivery_ids=[d.id for d in deliveries if d.id is not None],
    )


def _member(
    circle: Circle,
    round_id: int,
    user_id: str,
    *,
    group_no: int = 0,
    skip_reason: str | None = None,
) -> PairingMember:
    return PairingMember(
        team_id=circle.team_id,
        circle_id=circle.id,  # type: ignore[arg-type]
        round_id=round_id,
        group_no=group_no,
        user_id=user_id,
        skip_reason=skip_reason,
    )


def _existing(session: Session, pairing_round: PairingRound) -> Formed:
    members = session.exec(
        select(PairingMember)
        .where(PairingMember.round_id == pairing_round.id)
        .order_by(col(PairingMember.group_no), col(PairingMember.id))
    ).all()
    groups: dict[int, list[str]] = defaultdict(list)
    skipped: list[Candidate] = []
    for m in members:
        if m.group_no:
            groups[m.group_no].append(m.user_id)
        else:
            skipped.append(Candidate(m.user_id, None, m.skip_reason))
    return Formed(
        round=pairing_round,
        created=False,
        groups=tuple(tuple(g) for _n, g in sorted(groups.items())),
        skipped=skipped,
    )


# --------------------------------------------------------------------------- the tick


@dataclass(frozen=True)
class DueRound:
    key: str
    circle_id: int
    schedule_id: int
    moment: datetime


def due_rounds(session: Session, *, now: datetime, since: datetime) -> list[DueRound]:
    """Occurrences of live pairing schedules in (since, now], in the pinned zone or else the
    circle's; none on a paused day or a skipped date."""
    rows = session.exec(
        select(Schedule, Circle)
        .join(Circle, col(Circle.id) == col(Schedule.circle_id))
        .where(
            Schedule.kind == ScheduleKind.PAIRING,
            col(Schedule.removed_at).is_(None),
            col(Circle.archived_at).is_(None),
        )
    ).all()
    if not rows:
        return []
    skipped: dict[int, set[date]] = defaultdict(set)
    for skip in session.exec(
        select(SkipDay).where(col(SkipDay.circle_id).in_({c.id for _s, c in rows}))
    ).all():
        skipped[skip.circle_id].add(skip.day)
    due: list[DueRound] = []
    for schedule, circle in rows:
        assert schedule.id is not None and circle.id is not None
        tz = zone(schedule.pinned_tz) if schedule.pinned_tz else circle_zone(session, circle)
        start = max(since, schedule.created_at)
        for moment in fire_times_between(recurrence_of(schedule), tz, start, now):
            local_day = local_date_of(moment, tz)
            if is_paused_on(circle, moment, local_day) or local_day in skipped[circle.id]:
                continue
            due.append(
                DueRound(scheduled_key(schedule.id, local_day), circle.id, schedule.id, moment)
            )
    return due


def form_due_rounds(
    db: Database, client: WebClient, *, now: datetime, since: datetime, grace: timedelta
) -> int:
    """Form every pairing round due by `now` and not formed yet; returns the messages queued
    (pending deliveries, which the same tick then sends)."""
    with db.read_session() as session:
        due = due_rounds(session, now=now, since=since)
        if not due:
            return 0
        taken = set(
            session.exec(
                select(PairingRound.key).where(col(PairingRound.key).in_([d.key for d in due]))
            ).all()
        )
    queued = 0
    for item in due:
        if item.key in taken:
            continue
        if item.moment < now - grace:
            logger.info("pairing %s is later than the grace window: not formed", item.key)
            continue
        try:
            queued += _form_due(db, client, item, now)
        except Exception:  # one circle's trouble must not stop the others' rounds or messages
            logger.exception("could not form the pairing round %s", item.key)
    return queued


def _form_due(db: Database, client: WebClient, item: DueRound, now: datetime) -> int:
    with db.read_session() as session:
        circle = session.get(Circle, item.circle_id)
        if circle is None:
            return 0
        ids = [c.user_id for c in candidates(session, circle, item.moment)]
        team_id = circle.team_id
    refresh_profiles(db, client, team_id, ids, now)
    with db.session() as session:
        circle = session.get(Circle, item.circle_id)
        if circle is None or circle.is_archived:
            return 0
        formed = form_round(
            session,
            circle,
            key=item.key,
            moment=item.moment,
            now=now,
            created_by=None,
            schedule_id=item.schedule_id,
            refuse_too_few=False,
        )
    if formed is None or not formed.created:
        return 0
    logger.info(
        "pairing round %s of circle %s: %d groups, %d not paired",
        formed.round.round_no,
        item.circle_id,
        len(formed.groups),
        len(formed.skipped),
    )
    return len(formed.delivery_ids)


def refresh_profiles(
    db: Database, client: WebClient, team_id: str, user_ids: list[str], now: datetime
) -> None:
    """users.info for profiles older than a day (titles are teams; deleted people drop out).
    Slack unreachable: the last known profiles are used."""
    if not user_ids:
        return
    try:
        people.look_up_people(db, client, team_id, user_ids, now=now)
    except people.SlackUnavailable:
        logger.warning("could not refresh profiles before pairing; using the last known ones")


# --------------------------------------------------------------------------- peers of a debrief


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


# --------------------------------------------------------------------------- messages


def mentions(user_ids: Iterable[str]) -> Markup:
    """`<@A>`, `<@A> and <@B>`, `<@A>, <@B> and <@C>` (validated ids only)."""
    shown = [mention(u) for u in user_ids]
    if len(shown) <= 1:
        return shown[0] if shown else Markup()
    return Markup(", ").join(shown[:-1]) + Markup(" and ") + shown[-1]


def intro_message(*, circle_name: str, members: Sequence[str], next_debrief: str | None) -> Message:
    """The group DM: who is paired, a suggested agenda, and when the debrief comes."""
    who = mentions(members)
    head = render(
        "messages/pairing_intro.md.j2",
        members=who,
        circle_name=circle_name,
        trio=len(members) > 2,
    )
    agenda = render("messages/pairing_agenda.md.j2")
    debrief = render("messages/pairing_debrief.md.j2", next_debrief=next_debrief)
    fallback = render("messages/pairing_intro_fallback.md.j2", members=who, circle_name=circle_name)
    return {
        "text": fallback,
        "blocks": [block_kit.section(head), block_kit.section(agenda), block_kit.context(debrief)],
    }


def skipped_message(*, circle_name: str, reason: str | None, away_until: date | None) -> Message:
    text = render(
        "messages/pairing_skipped.md.j2",
        circle_name=circle_name,
        reason=reason,
        until=day_text(away_until, year=True) if away_until else None,
    )
    return {"text": text, "blocks": [block_kit.section(text)]}


def next_debrief_text(session: Session, circle: Circle, after: datetime) -> str | None:
    """The circle's next debrief after `after`, for people; None when none is scheduled."""
    schedules = session.exec(
        select(Schedule).where(
            Schedule.circle_id == circle.id,
            Schedule.kind == ScheduleKind.DEBRIEF,
            col(Schedule.removed_at).is_(None),
        )
    ).all()
    if not schedules:
        return None
    home = circle_zone(session, circle)
    found: list[tuple[datetime, str]] = []
    for schedule in schedules:
        tz: ZoneInfo = zone(schedule.pinned_tz) if schedule.pinned_tz else home
        moment = next_fire_time(recurrence_of(schedule), tz, after)
        local = moment.astimezone(tz)
        when = f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"
        where = f" ({tz.key})" if schedule.pinned_tz else ", each of you in your own time zone"
        found.append((moment, when + where))
    return min(found)[1]


def message_for_delivery(session: Session, delivery: Delivery, circle: Circle) -> Message | None:
    """A pairing delivery's message (None: nothing to send any more)."""

    if delivery.kind == PAIRING_SKIPPED:
        row = session.exec(
            select(PairingMember).where(
                PairingMember.round_id == delivery.ref_id,
                PairingMember.user_id == delivery.recipient,
            )
        ).first()
        if row is None:
            return None
        membership = circles.membership_of(session, circle, delivery.recipient)
        away_until = (
            membership.away_until if membership is not None and row.skip_reason == AWAY else None
        )
        return skipped_message(
            circle_name=circle.name, reason=row.skip_reason, away_until=away_until
        )
    first = session.exec(
        select(PairingMember).where(
            PairingMember.round_id == delivery.ref_id,
            PairingMember.user_id == delivery.recipient,
            col(PairingMember.group_no) > 0,
        )
    ).first()
    if first is None:
        return None
    members = [
        user_id
        for user_id in session.exec(
            select(PairingMember.user_id)
            .where(
                PairingMember.round_id == delivery.ref_id,
                PairingMember.group_no == first.group_no,
            )
            .order_by(col(PairingMember.user_id))
        ).all()
        if user_id != FORGOTTEN
    ]
    if len(members) < 2:
        return None
    message = intro_message(
        circle_name=circle.name,
        members=members,
        next_debrief=next_debrief_text(session, circle, delivery.due_at),
    )
    return {OPEN_GROUP_DM: members, **message}


# --------------------------------------------------------------------------- the commands


def pair(command: Pair, inv: Invocation, deps: Deps) -> Outcome:
    return _pair(inv, deps)


def no_pair(command: NoPair, inv: Invocation, deps: Deps) -> Outcome:
    return _opt(inv, deps, opt_out=True)


def pair_me(command: PairMe, inv: Invocation, deps: Deps) -> Outcome:
    return _opt(inv, deps, opt_out=False)


def set_team(command: SetTeam, inv: Invocation, deps: Deps) -> Outcome:
    return _set_team(command, inv, deps)


def _pair(inv: Invocation, deps: Deps) -> Outcome:
    now = deps.clock()
    with deps.db.read_session() as session:
        circle = circle_here(session, inv, subcommand="pair")
        circles.require_facilitator(session, circle, inv.user_id, "pair people")
        refuse_if_paused(session, circle, now, "nobody is paired")
        found = candidates(session, circle, now)
        refusal = too_few_refusal(circle, found)
        if refusal is not None:
            raise refusal
        circle_id, team_id, name = circle.id or 0, circle.team_id, circle.name
    count = sum(c.skip_reason is None for c in found)

    def follow_up() -> str:
        refresh_profiles(deps.db, deps.client, team_id, [c.user_id for c in found], now)
        with deps.db.session() as session:
            live = session.get(Circle, circle_id)
            if live is None or live.is_archived:
                return "This circle was archived meanwhile, so nobody was paired."
            circles.require_facilitator(session, live, inv.user_id, "pair people")
            formed = form_round(
                session,
                live,
                key=manual_key(circle_id, now),
                moment=now,
                now=now,
                created_by=inv.user_id,
                schedule_id=None,
                refuse_too_few=True,
            )
        assert formed is not None  # refuse_too_few: never None
        if not formed.created:
            return (
                f"*{mrkdwn.escape(name)}* was already paired this minute (round "
                f"{formed.round.round_no}); nothing was formed or sent twice.\n"
                + _groups_text(formed)
            )
        deps.deliverer.send(formed.delivery_ids, now=now)
        with deps.db.read_session() as session:
            rows = session.exec(
                select(Delivery).where(col(Delivery.id).in_(formed.delivery_ids))
            ).all()
            problems = [_problem(d) for d in rows if d.status != DeliveryStatus.SENT]
        return _round_text(name, formed, problems)

    return Outcome(
        f"Pairing {count} participants of *{mrkdwn.escape(name)}*…",
        follow_up,
    )


def _groups_text(formed: Formed) -> str:
    lines = [f"• {mentions(group)}" for group in formed.groups]
    if formed.skipped:
        lines.append(
            "Not paired this round: "
            + "; ".join(
                f"{mrkdwn.user(c.user_id)} {skip_text(c.skip_reason, c.away_until)}"
                for c in formed.skipped
            )
            + "."
        )
    return "\n".join(lines)


def _problem(delivery: Delivery) -> Markup:
    """A message of the round that wasn't sent, and Slack's reason (ids and escaped text)."""
    group = delivery.kind == PAIRING_INTRO
    return Markup(  # noqa: S704
        f"{'The group DM' if group else 'The note'} to {mention(delivery.recipient)}"
        + (" and the others in their group" if group else "")
        + f" wasn't sent: `{mrkdwn.escape(delivery.error or delivery.status)}`"
    )


def _round_text(name: str, formed: Formed, problems: Sequence[Markup]) -> str:
    return render(
        "messages/pairing_round.md.j2",
        circle_name=name,
        round_no=formed.round.round_no,
        groups=[mentions(group) for group in formed.groups],
        trio=any(len(group) > 2 for group in formed.groups),
        skipped=[
            (mention(c.user_id), skip_text(c.skip_reason, c.away_until)) for c in formed.skipped
        ],
        repeats=formed.repeats,
        same_team=formed.same_team,
        problems=problems,
    )


def _opt(inv: Invocation, deps: Deps, *, opt_out: bool) -> Outcome:
    sub = "nopair" if opt_out else "pair-me"
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand=sub)
        membership = circles.require_member(
            session, circle, inv.user_id, "choose whether they are paired"
        )
        name = mrkdwn.escape(circle.name)
        if membership.role != Role.PARTICIPANT:
            return Outcome(
                f"Only participants are paired in *{name}*, and you're "
                f"{'a facilitator' if membership.role == Role.FACILITATOR else 'a leader'} here, "
                "so there is nothing to change."
            )
        if membership.pairing_opt_out == opt_out:
            return Outcome(
                f"You already opted out of pairing in *{name}*. `/circle pair-me` joins again."
                if opt_out
                else f"You're already in the pairing of *{name}*: nothing changed."
            )
        membership.pairing_opt_out = opt_out
        session.add(membership)
    if opt_out:
        return Outcome(
            f"You won't be paired in *{name}* from the next round on; each round tells you "
            "that you were left out. `/circle pair-me` joins again."
        )
    return Outcome(f"You're back in the pairing of *{name}*: the next round includes you.")


def _set_team(command: SetTeam, inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="team")
        circles.require_facilitator(session, circle, inv.user_id, "set people's teams")
        name = mrkdwn.escape(circle.name)
        who = mrkdwn.user(command.user_id)
        membership = circles.membership_of(session, circle, command.user_id)
        if membership is None or not membership.is_active:
            raise Refusal(
                f"{who} isn't in *{name}*, so they have no team here. Add them first with "
                f"`/circle add @person`."
            )
        membership.team = command.team
        session.add(membership)
        if command.team is not None:
            return Outcome(
                f"{who}'s team in *{name}* is now *{mrkdwn.escape(command.team)}*. Pairing "
                "prefers partners from other teams. `/circle team @person` with no team goes "
                "back to their Slack title."
            )
        person = session.get(Person, (circle.team_id, command.user_id))
        title = person.title.strip() if person is not None else ""
    if title:
        return Outcome(
            f"Cleared {who}'s team in *{name}*: pairing uses their Slack title, "
            f"*{mrkdwn.escape(title)}*, as their team."
        )
    return Outcome(
        f"Cleared {who}'s team in *{name}*. Their Slack profile has no title, so their team is "
        "unknown: pairing never counts them as the same team as anyone."
    )


# --------------------------------------------------------------------------- my-data


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
