"""What of the rhythm is due: a pure function of the database and the time.

`rhythm_due(session, live, now=..., since=...)` lists every check-in, debrief, nudge and
demo-day reminder whose moment lies in (since, now], each under the unique key that makes
sending it exactly-once (bot/delivery/kinds.py):

- check-ins and debriefs: `checkin:<schedule>:<user>:<local date>` (one per person, schedule
  and local day), fired by bot/calendar/recurrence.py in the recipient's zone (or the pinned
  one); once a circle pairs, its debriefs go to the people in a pair of the latest round;
- nudges: `nudge:<delivery id>`, once per check-in left unanswered and unskipped;
- demo-day reminders: `demoday:<demo day>:<seconds before>`, posted in the circle's channel.

Nothing is due for archived circles (the engine hands over live ones only), on a paused
circle's paused days, on a skipped local date, for a person who is away, or before a
schedule, membership or demo day existed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from bot.calendar.recurrence import (
    fire_times_between,
    local_date_of,
    recurrence_of,
)
from bot.calendar.zones import circle_zone, zone
from bot.circles.queries import participants_of
from bot.circles.rules import is_quiet_on
from bot.delivery.kinds import DueMessage, Live
from bot.pairing.queries import PeerIndex
from storage.models import (
    Circle,
    Delivery,
    DeliveryStatus,
    DemoDay,
    Membership,
    Schedule,
    ScheduleKind,
)

logger = logging.getLogger(__name__)

# Kinds whose recipients are each participant, by DM.
DM_KINDS = (ScheduleKind.CHECKIN, ScheduleKind.DEBRIEF)
NUDGED_KINDS = (ScheduleKind.CHECKIN,)


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
                if is_quiet_on(circle, moment, local_day, skips[circle.id or 0]):
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
            if is_quiet_on(circle, moment, local_day, skips[circle.id or 0]):
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


def rhythm_due(session: Session, live: Live, *, now: datetime, since: datetime) -> list[DueMessage]:
    return [
        *_scheduled_dms(session, live.circles, live.skips, now=now, since=since),
        *_nudges(session, live.circles, now=now, since=since),
        *_demoday_reminders(session, live.circles, live.skips, now=now, since=since),
    ]
