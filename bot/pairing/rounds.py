"""Forming a pairing round exactly once (`/circle pair`, or a `pairing` schedule in the tick)."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from slack_sdk import WebClient
from sqlmodel import Session, col, func, select

from bot.calendar.recurrence import fire_times_between, local_date_of, recurrence_of
from bot.calendar.zones import circle_zone, zone
from bot.circles.rules import Refusal, is_quiet_on
from bot.pairing.queries import (
    ALONE,
    AWAY,
    LEFT_SLACK,
    OPTED_OUT,
    PAIRING_INTRO,
    PAIRING_SKIPPED,
    TOLD,
    Candidate,
    candidates,
    history,
)
from bot.pairing.rotation import Participant, Round, pair_round
from bot.slack import mrkdwn, people
from bot.slack.text import day_text
from storage.db import Database
from storage.models import (
    Circle,
    Delivery,
    DeliveryStatus,
    PairingMember,
    PairingRound,
    Schedule,
    ScheduleKind,
    SkipDay,
)

logger = logging.getLogger(__name__)


def round_seed(circle_id: int) -> int:
    """The circle's pairing seed: stable across rounds, different between circles."""
    digest = hashlib.sha256(f"circlebot-pairing:{circle_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def manual_key(circle_id: int, now: datetime) -> str:
    return f"pairing:manual:{circle_id}:{now:%Y-%m-%dT%H:%M}"


def scheduled_key(schedule_id: int, local_day: date) -> str:
    return f"pairing:{schedule_id}:{local_day.isoformat()}"


# --------------------------------------------------------------------------- who is paired


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
            if is_quiet_on(circle, moment, local_day, skipped[circle.id]):
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


# --------------------------------------------------------------------------- messages


# --------------------------------------------------------------------------- the commands


# --------------------------------------------------------------------------- my-data
