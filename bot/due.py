"""What is due: a pure function of the database and the time.

`due_messages(session, now=..., since=...)` lists every message whose moment lies in
(since, now], each under the unique key that makes sending it exactly-once:

- check-ins and debriefs: `checkin:<schedule>:<user>:<local date>` (one per person, schedule
  and local day), fired by `bot.recurrence` in the recipient's zone (or the pinned one);
- nudges: `nudge:<delivery id>`, once per check-in left unanswered and unskipped;
- demo-day reminders: `demoday:<demo day>:<seconds before>`, posted in the circle's channel.

Nothing is due for archived circles, on a paused circle's paused days, on a skipped local
date, for a person who is away, or before a schedule, membership or demo day existed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from bot.recurrence import WeeklyRecurrence, fire_times_between, local_date_of
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

# Kinds whose recipients are each participant, by DM.
DM_KINDS = (ScheduleKind.CHECKIN, ScheduleKind.DEBRIEF)
NUDGED_KINDS = (ScheduleKind.CHECKIN,)


@dataclass(frozen=True)
class DueMessage:
    key: str
    kind: str  # checkin | debrief | nudge | demoday_reminder
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


def participants_of(
    session: Session, circle_ids: set[int]
) -> dict[int, list[tuple[Membership, Person | None]]]:
    """Active participants per circle with their Slack profile; people gone or bots left out."""
    rows = session.exec(
        select(Membership, Person)
        .join(
            Person,
            (col(Person.team_id) == col(Membership.team_id))
            & (col(Person.user_id) == col(Membership.user_id)),
            isouter=True,
        )
        .where(
            col(Membership.circle_id).in_(circle_ids),
            col(Membership.removed_at).is_(None),
            Membership.role == Role.PARTICIPANT,
        )
        .order_by(col(Membership.added_at), col(Membership.user_id))
    ).all()
    found: dict[int, list[tuple[Membership, Person | None]]] = defaultdict(list)
    for member, profile in rows:
        if profile is not None and (profile.deleted or profile.is_bot):
            continue  # people who left Slack get nothing
        found[member.circle_id].append((member, profile))
    return found


def due_messages(session: Session, *, now: datetime, since: datetime) -> list[DueMessage]:
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
                for membership in members:
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
