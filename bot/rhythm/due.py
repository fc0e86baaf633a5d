"""What is due: a pure function of the database and the time.

`due_messages(session, now=..., since=...)` lists every message whose moment lies in
(since, now], each under the unique key that makes sending it exactly-once:

- check-ins and debriefs: `checkin:<schedule>:<user>:<local date>` (one per person, schedule
  and local day), fired by `bot.recurrence` in the recipient's zone (or the pinned one);
- nudges: `nudge:<delivery id>`, once per check-in left unanswered and unskipped;
- demo-day reminders: `demoday:<demo day>:<seconds before>`, posted in the circle's channel;
- weekly digests (bot/digest.py has the keys and what they cover), fired by the circle's
  `digest` schedules: the channel post in the circle's zone (or the pinned one), each
  facilitator's and leader's DM in their own zone (or the pinned one), as the circle's
  creation message promises ("every Monday at 08:00 in their own time zone"). A leader of
  several circles gets one DM a week, due at the first of their circles' digest moments;
  it is registered under the lowest of their circles' ids. `local_date` of a digest is the
  Monday of the week it covers (the circle's zone). People who left Slack are skipped;
- digest charts: `digest_chart:<leader digest delivery>`, due as soon as that digest was
  sent (so always after it), into the same DM; only when `charts` is on (DIGEST_CHART).

Nothing is due for archived circles, on a paused circle's paused days, on a skipped local
date, for a person who is away, or before a schedule, membership or demo day existed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, func, select

from bot.calendar.recurrence import WeeklyRecurrence, fire_times_between, local_date_of
from storage.models import (
    Circle,
    Delivery,
    DeliveryStatus,
    DemoDay,
    Membership,
    Person,
    Role,
    Schedule,
    ScheduleKind,
    SkipDay,
)

logger = logging.getLogger(__name__)

# Kinds whose recipients are each participant, by DM.
DM_KINDS = (ScheduleKind.CHECKIN, ScheduleKind.DEBRIEF)
NUDGED_KINDS = (ScheduleKind.CHECKIN,)


@dataclass(frozen=True)
class DueMessage:
    key: str
    kind: str  # checkin | debrief | nudge | demoday_reminder | digest_* (bot/digest.py)
    team_id: str
    circle_id: int
    recipient: str  # user id (DM) or channel id
    due_at: datetime
    ref_id: int | None = None
    parent_id: int | None = None
    local_date: date | None = None


def zone(name: str | None) -> ZoneInfo:
    """A person's or circle's zone; unknown or missing names fall back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_paused_on(circle: Circle, moment: datetime, local_day: date) -> bool:
    if circle.paused_at is None or moment < circle.paused_at:
        return False
    return circle.paused_until is None or local_day <= circle.paused_until


def recurrence_of(schedule: Schedule) -> WeeklyRecurrence:
    return WeeklyRecurrence(
        weekday=schedule.weekday,
        at=time(schedule.at_minute // 60, schedule.at_minute % 60),
        interval_weeks=schedule.interval_weeks,
        anchor=schedule.anchor,
    )


def circle_zone(session: Session, circle: Circle) -> ZoneInfo:
    """The circle's zone: its own setting, else its creator's, else UTC."""
    if circle.tz:
        return zone(circle.tz)
    creator = session.get(Person, (circle.team_id, circle.created_by))
    return zone(creator.tz if creator else None)


def left_slack(person: Person | None) -> bool:
    """Whether a member's profile says they left Slack (or are a bot): they get nothing."""
    return person is not None and (person.deleted or person.is_bot)


def members_with_profiles(
    session: Session, circle_ids: Iterable[int | None], roles: Iterable[str]
) -> list[tuple[Membership, Person | None]]:
    """Active members with one of `roles` in these circles, with their Slack profile (if any),
    oldest membership first. Callers decide what to do with people who left Slack."""
    return list(
        session.exec(
            select(Membership, Person)
            .join(
                Person,
                (col(Person.team_id) == col(Membership.team_id))
                & (col(Person.user_id) == col(Membership.user_id)),
                isouter=True,
            )
            .where(
                col(Membership.circle_id).in_(list(circle_ids)),
                col(Membership.removed_at).is_(None),
                col(Membership.role).in_(list(roles)),
            )
            .order_by(col(Membership.added_at), col(Membership.user_id))
        ).all()
    )


def participants_of(
    session: Session, circle_ids: set[int]
) -> dict[int, list[tuple[Membership, Person | None]]]:
    """Active participants per circle with their Slack profile; people gone or bots left out."""
    found: dict[int, list[tuple[Membership, Person | None]]] = defaultdict(list)
    for member, profile in members_with_profiles(session, circle_ids, [Role.PARTICIPANT]):
        if left_slack(profile):
            continue  # people who left Slack get nothing
        found[member.circle_id].append((member, profile))
    return found


def due_messages(
    session: Session, *, now: datetime, since: datetime, charts: bool = True
) -> list[DueMessage]:
    circles = {
        c.id: c for c in session.exec(select(Circle).where(col(Circle.archived_at).is_(None))).all()
    }
    if not circles:
        return []
    skips: dict[int, set[date]] = defaultdict(set)
    for skip in session.exec(
        select(SkipDay).where(col(SkipDay.circle_id).in_(list(circles)))
    ).all():
        skips[skip.circle_id].add(skip.day)
    due: list[DueMessage] = []
    due += _scheduled_dms(session, circles, skips, now=now, since=since)
    due += _nudges(session, circles, now=now, since=since)
    due += _demoday_reminders(session, circles, skips, now=now, since=since)
    due += _digests(session, circles, skips, now=now, since=since)
    if charts:
        due += _digest_charts(session, circles, now=now, since=since)
    return due


def _scheduled_dms(
    session: Session,
    circles: dict[int | None, Circle],
    skips: dict[int, set[date]],
    *,
    now: datetime,
    since: datetime,
) -> list[DueMessage]:
    schedules = session.exec(
        select(Schedule).where(
            col(Schedule.circle_id).in_(list(circles)),
            col(Schedule.removed_at).is_(None),
            col(Schedule.kind).in_(list(DM_KINDS)),
        )
    ).all()
    if not schedules:
        return []
    participants = participants_of(session, {s.circle_id for s in schedules})
    from bot.pairing.rounds import PeerIndex

    pairs = PeerIndex()  # once a circle pairs, its debriefs go to the people in a pair

    due: list[DueMessage] = []
    for schedule in schedules:
        circle = circles[schedule.circle_id]
        recurrence = recurrence_of(schedule)
        start = max(since, schedule.created_at)
        by_zone: dict[str, list[Membership]] = defaultdict(list)
        for membership, person in participants[schedule.circle_id]:
            by_zone[schedule.pinned_tz or (person.tz if person else "UTC")].append(membership)
        for zone_name, members in by_zone.items():
            tz = zone(zone_name)
            for moment in fire_times_between(recurrence, tz, start, now):
                local_day = local_date_of(moment, tz)
                if is_paused_on(circle, moment, local_day) or local_day in skips[circle.id or 0]:
                    continue
                paired = (
                    pairs.paired(session, circle.id or 0, moment)
                    if schedule.kind == ScheduleKind.DEBRIEF
                    else None
                )
                for membership in members:
                    if paired is not None and membership.user_id not in paired:
                        continue
                    if membership.added_at > moment:
                        continue
                    if membership.away_until is not None and local_day <= membership.away_until:
                        continue
                    due.append(
                        DueMessage(
                            key=f"{schedule.kind}:{schedule.id}:{membership.user_id}:{local_day}",
                            kind=schedule.kind,
                            team_id=circle.team_id,
                            circle_id=schedule.circle_id,
                            recipient=membership.user_id,
                            due_at=moment,
                            ref_id=schedule.id,
                            local_date=local_day,
                        )
                    )
    return due


def _nudges(
    session: Session, circles: dict[int | None, Circle], *, now: datetime, since: datetime
) -> list[DueMessage]:
    nudging = {cid: c for cid, c in circles.items() if c.nudge_after_minutes}
    if not nudging:
        return []
    longest = max(c.nudge_after_minutes or 0 for c in nudging.values())
    sent = session.exec(
        select(Delivery).where(
            col(Delivery.circle_id).in_(list(nudging)),
            col(Delivery.kind).in_(list(NUDGED_KINDS)),
            Delivery.status == DeliveryStatus.SENT,
            col(Delivery.answered_at).is_(None),
            col(Delivery.skipped_at).is_(None),
            col(Delivery.sent_at) > since - timedelta(minutes=longest),
        )
    ).all()
    due: list[DueMessage] = []
    for delivery in sent:
        circle = nudging[delivery.circle_id]
        assert delivery.sent_at is not None and circle.nudge_after_minutes
        moment = delivery.sent_at + timedelta(minutes=circle.nudge_after_minutes)
        if not since < moment <= now:
            continue
        due.append(
            DueMessage(
                key=f"nudge:{delivery.id}",
                kind="nudge",
                team_id=delivery.team_id,
                circle_id=delivery.circle_id,
                recipient=delivery.recipient,
                due_at=moment,
                ref_id=delivery.ref_id,
                parent_id=delivery.id,
                local_date=delivery.local_date,
            )
        )
    return due


def _demoday_reminders(
    session: Session,
    circles: dict[int | None, Circle],
    skips: dict[int, set[date]],
    *,
    now: datetime,
    since: datetime,
) -> list[DueMessage]:
    demo_days = session.exec(
        select(DemoDay).where(
            col(DemoDay.circle_id).in_(list(circles)),
            col(DemoDay.cancelled_at).is_(None),
            DemoDay.starts_at > since,
        )
    ).all()
    due: list[DueMessage] = []
    for demo_day in demo_days:
        circle = circles[demo_day.circle_id]
        tz = circle_zone(session, circle)
        for offset in demo_day.offsets_seconds:
            moment = demo_day.starts_at - timedelta(seconds=offset)
            if not since < moment <= now or moment < demo_day.created_at:
                continue
            local_day = local_date_of(moment, tz)
            if is_paused_on(circle, moment, local_day) or local_day in skips[circle.id or 0]:
                continue
            due.append(
                DueMessage(
                    key=f"demoday:{demo_day.id}:{offset}",
                    kind="demoday_reminder",
                    team_id=circle.team_id,
                    circle_id=demo_day.circle_id,
                    recipient=circle.channel_id,
                    due_at=moment,
                    ref_id=demo_day.id,
                    local_date=local_day,
                )
            )
    return due


def circle_zones(session: Session, circles: list[Circle]) -> dict[int, ZoneInfo]:
    """`circle_zone` for many circles, reading their creators' profiles in one query."""
    creators = {c.created_by for c in circles if not c.tz}
    people = (
        {
            (p.team_id, p.user_id): p.tz
            for p in session.exec(select(Person).where(col(Person.user_id).in_(creators))).all()
        }
        if creators
        else {}
    )
    return {c.id or 0: zone(c.tz or people.get((c.team_id, c.created_by))) for c in circles}


def _digests(
    session: Session,
    circles: dict[int | None, Circle],
    skips: dict[int, set[date]],
    *,
    now: datetime,
    since: datetime,
) -> list[DueMessage]:
    from bot.digest import compose as digest

    schedules = session.exec(
        select(Schedule).where(
            col(Schedule.circle_id).in_(list(circles)),
            col(Schedule.removed_at).is_(None),
            Schedule.kind == ScheduleKind.DIGEST,
        )
    ).all()
    if not schedules:
        return []
    ids = {s.circle_id for s in schedules}
    zones = circle_zones(session, [circles[i] for i in ids])
    readers = _digest_readers(session, ids)
    home = _leaders_home_circle(session, circles, readers)

    # One message per key: a leader's DM is due at the first of their circles' moments.
    found: dict[str, DueMessage] = {}
    fire_times = _FireTimes(now)

    def keep(message: DueMessage) -> None:
        if message.key not in found or message.due_at < found[message.key].due_at:
            found[message.key] = message

    for schedule in schedules:
        circle = circles[schedule.circle_id]
        circle_id, circle_tz = schedule.circle_id, zones[schedule.circle_id]
        recurrence = recurrence_of(schedule)
        start = max(since, schedule.created_at)

        post_tz = zone(schedule.pinned_tz) if schedule.pinned_tz else circle_tz
        for moment in fire_times(recurrence, post_tz, start):
            if not _runs_on(circle, skips[circle_id], moment, post_tz):
                continue
            week = digest.digest_week(moment, circle_tz)
            keep(
                DueMessage(
                    key=digest.circle_key(circle_id, week),
                    kind=digest.DIGEST_CIRCLE,
                    team_id=circle.team_id,
                    circle_id=circle_id,
                    recipient=circle.channel_id,
                    due_at=moment,
                    ref_id=schedule.id,
                    local_date=week,
                )
            )

        by_zone: dict[str, list[Membership]] = defaultdict(list)
        for membership, person in readers.get(circle_id, []):
            by_zone[schedule.pinned_tz or (person.tz if person else "UTC")].append(membership)
        for zone_name, members in by_zone.items():
            tz = zone(zone_name)
            for moment in fire_times(recurrence, tz, start):
                if not _runs_on(circle, skips[circle_id], moment, tz):
                    continue
                local_day = local_date_of(moment, tz)
                week = digest.digest_week(moment, circle_tz)
                for membership in members:
                    if membership.added_at > moment:
                        continue
                    if membership.away_until is not None and local_day <= membership.away_until:
                        continue
                    user_id = membership.user_id
                    if membership.role == Role.FACILITATOR:
                        key = digest.facilitator_key(circle_id, user_id, week)
                        kind, home_id = digest.DIGEST_FACILITATOR, circle_id
                    else:
                        key = digest.leader_key(circle.team_id, user_id, week)
                        kind = digest.DIGEST_LEADER
                        home_id = home.get((circle.team_id, user_id), circle_id)
                    keep(
                        DueMessage(
                            key=key,
                            kind=kind,
                            team_id=circle.team_id,
                            circle_id=home_id,
                            recipient=user_id,
                            due_at=moment,
                            ref_id=schedule.id,
                            local_date=week,
                        )
                    )
    return list(found.values())


class _FireTimes:
    """`fire_times_between(…, now)`, worked out once per recurrence, zone and start: most
    circles keep the default digest (Monday 08:00), and a tick looks at all of them."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._known: dict[tuple[WeeklyRecurrence, str, datetime], list[datetime]] = {}

    def __call__(
        self, recurrence: WeeklyRecurrence, tz: ZoneInfo, start: datetime
    ) -> list[datetime]:
        shared = recurrence
        # A weekly series' anchor only matters before its first week.
        anchor = recurrence.anchor
        if (
            recurrence.interval_weeks == 1
            and anchor
            and anchor < (start - timedelta(days=8)).date()
        ):
            shared = replace(recurrence, anchor=None)
        key = (shared, tz.key, start)
        if key not in self._known:
            self._known[key] = fire_times_between(recurrence, tz, start, self.now)
        return self._known[key]


def _runs_on(circle: Circle, skipped: set[date], moment: datetime, tz: ZoneInfo) -> bool:
    """Not a paused day of the circle, nor a skipped date (local dates in `tz`)."""
    local_day = local_date_of(moment, tz)
    return not (is_paused_on(circle, moment, local_day) or local_day in skipped)


def _digest_readers(
    session: Session, circle_ids: set[int]
) -> dict[int, list[tuple[Membership, Person | None]]]:
    """Active facilitators and leaders per circle; people who left Slack (or bots) skipped.

    The facilitators' digest names leaders who left Slack, so the skip is visible there.
    """
    rows = members_with_profiles(session, circle_ids, [Role.FACILITATOR, Role.LEADER])
    found: dict[int, list[tuple[Membership, Person | None]]] = defaultdict(list)
    for member, profile in rows:
        if left_slack(profile):
            logger.debug(
                "no digest for %s in circle %s: left Slack", member.user_id, member.circle_id
            )
            continue
        found[member.circle_id].append((member, profile))
    return found


def _leaders_home_circle(
    session: Session,
    circles: dict[int | None, Circle],
    readers: dict[int, list[tuple[Membership, Person | None]]],
) -> dict[tuple[str, str], int]:
    """For each leader, the lowest id of the live circles they lead (their DM's circle_id)."""
    leaders = {m.user_id for rows in readers.values() for m, _p in rows if m.role == Role.LEADER}
    if not leaders:
        return {}
    rows = session.exec(
        select(Membership.team_id, Membership.user_id, func.min(Membership.circle_id))
        .where(
            col(Membership.user_id).in_(leaders),
            col(Membership.circle_id).in_([i for i in circles if i is not None]),
            Membership.role == Role.LEADER,
            col(Membership.removed_at).is_(None),
        )
        .group_by(col(Membership.team_id), col(Membership.user_id))
    ).all()
    return {(team_id, user_id): int(lowest) for team_id, user_id, lowest in rows}


def _digest_charts(
    session: Session, circles: dict[int | None, Circle], *, now: datetime, since: datetime
) -> list[DueMessage]:
    from bot.digest import compose as digest

    sent = session.exec(
        select(Delivery).where(
            Delivery.status == DeliveryStatus.SENT,
            col(Delivery.due_at) > since - timedelta(days=1),  # sent within its grace window
            Delivery.kind == digest.DIGEST_LEADER,
            col(Delivery.circle_id).in_(list(circles)),
            col(Delivery.sent_at) > since,
            col(Delivery.sent_at) <= now,
            col(Delivery.channel_id).is_not(None),
        )
    ).all()
    return [digest_chart_due(delivery) for delivery in sent]


def digest_chart_due(leader_digest: Delivery) -> DueMessage:
    """The chart that follows a sent leader's digest, into the same DM."""
    from bot.digest import compose as digest

    assert leader_digest.id is not None and leader_digest.sent_at is not None
    return DueMessage(
        key=digest.chart_key(leader_digest.id),
        kind=digest.DIGEST_CHART,
        team_id=leader_digest.team_id,
        circle_id=leader_digest.circle_id,
        recipient=leader_digest.channel_id or leader_digest.recipient,
        due_at=leader_digest.sent_at,
        parent_id=leader_digest.id,
        local_date=leader_digest.local_date,
    )
