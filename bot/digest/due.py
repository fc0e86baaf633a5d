"""What of the digest is due: a pure function of the database and the time.

Weekly digests (bot/digest/compose.py has the keys and what they cover) are fired by the
circle's `digest` schedules: the channel post in the circle's zone (or the pinned one), each
facilitator's and leader's DM in their own zone (or the pinned one), as the circle's creation
message promises ("every Monday at 08:00 in their own time zone"). A leader of several
circles gets one DM a week, due at the first of their circles' digest moments; it is
registered under the lowest of their circles' ids. `local_date` of a digest is the Monday of
the week it covers (the circle's zone). People who left Slack are skipped.

Digest charts: `digest_chart:<leader digest delivery>`, due as soon as that digest was sent
(so always after it), into the same DM; only when charts are on (DIGEST_CHART).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from bot.calendar.recurrence import (
    WeeklyRecurrence,
    fire_times_between,
    local_date_of,
    recurrence_of,
)
from bot.calendar.zones import circle_zones, zone
from bot.circles.queries import left_slack, members_with_profiles
from bot.circles.rules import is_quiet_on
from bot.delivery.kinds import DueMessage, Live
from bot.digest import compose as digest
from storage.models import (
    Circle,
    Delivery,
    DeliveryStatus,
    Membership,
    Person,
    Role,
    Schedule,
    ScheduleKind,
)

logger = logging.getLogger(__name__)


def _digests(
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
            if is_quiet_on(circle, moment, local_date_of(moment, post_tz), skips[circle_id]):
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
                local_day = local_date_of(moment, tz)
                if is_quiet_on(circle, moment, local_day, skips[circle_id]):
                    continue
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


def digest_due(
    session: Session, live: Live, *, now: datetime, since: datetime, charts: bool
) -> list[DueMessage]:
    found = _digests(session, live.circles, live.skips, now=now, since=since)
    if charts:
        found += _digest_charts(session, live.circles, now=now, since=since)
    return found
