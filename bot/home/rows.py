"""What one person's App Home shows, read from the database into plain rows (bot/home/view.py
builds the Block Kit):
- their live circles, their role and their next check-in in their own zone (or the schedule's
  pinned one), or why there is none (no schedule, paused, away);
- their open action items (`bot.reflections.action_items.open_items`), each to be done;
- their last reflections (through `bot.reflections.visibility.readable_by`, like every reader);
- for each circle they facilitate, this week at a glance;
- what was shared with each circle they take part in (the week's highlights): a channel post
  quotes only what everyone in the channel may read (bot/reflections/channel_readers.py), so
  the circle's own people find the rest here, read through the same visibility rule.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from bot.calendar import weeks
from bot.calendar.recurrence import local_date_of
from bot.calendar.weeks import week_began
from bot.calendar.zones import circle_zone, zone
from bot.circles import rules as circles
from bot.circles.rules import Refusal, is_quiet_on
from bot.digest import compose as digest
from bot.reflections.action_items import open_items
from bot.reflections.visibility import readable_by, readable_for_role
from bot.rhythm.commands import next_occurrence, paused_until_text
from bot.rhythm.queries import live_demo_days, live_schedules
from bot.slack.text import day_text, slack_date
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DeliveryStatus,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
    Role,
    Schedule,
    ScheduleKind,
    SkipDay,
    Visibility,
)

View = dict[str, Any]


HIGHLIGHTS_PER_CIRCLE = 3

# How many fires of a schedule to look through for one that is not paused, skipped or away.
NEXT_CHECKIN_SEARCH = 60

DM_KINDS = ("checkin", "debrief")

NOT_FACILITATOR = (
    "Only a facilitator of that circle can send it a check-in, so nothing was sent. "
    "Open the Home tab again to see the circles you facilitate."
)


# --- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CircleRow:
    circle_id: int
    name: str
    channel_id: str
    role: str
    next_checkin: str  # mrkdwn built here: a date token, or why there is none


@dataclass(frozen=True)
class ItemRow:
    item_id: int
    text: str
    circle_name: str
    due_date: date | None
    today: date  # the owner's local date, to mark overdue items


@dataclass(frozen=True)
class ReflectionRow:
    reflection_id: int
    kind: str
    circle_name: str
    week_start: date
    excerpt: str  # raw text (escaped when built)
    visibility: str
    edited: bool


@dataclass(frozen=True)
class Highlights:
    """What was shared with one circle in its latest week with any, for its own people."""

    circle_name: str
    week_start: date
    quotes: list[digest.Quote]
    more: int


@dataclass(frozen=True)
class Glance:
    circle_id: int
    name: str
    channel_id: str
    week_start: date
    sent: int
    answered: int
    skipped: int
    failed: int
    open_items: int
    next_demo: tuple[str, datetime] | None
    paused_until: str | None


T = TypeVar("T")


@dataclass(frozen=True)
class Rows(Generic[T]):
    shown: list[T]
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.shown)


@dataclass(frozen=True)
class HomeData:
    tz: ZoneInfo
    circles: Rows[CircleRow]
    items: Rows[ItemRow]
    reflections: list[ReflectionRow]
    glances: Rows[Glance]
    highlights: list[Highlights]


# --- reading -----------------------------------------------------------------------------------


def viewer_zone(session: Session, team_id: str, user_id: str) -> ZoneInfo:
    """The person's zone as users.info last told us (members always have a row), else UTC."""
    person = session.get(Person, (team_id, user_id))
    return zone(person.tz if person is not None else None)


def circle_rows(
    session: Session,
    memberships: list[tuple[Circle, Membership]],
    tz: ZoneInfo,
    now: datetime,
    *,
    limit: int,
) -> Rows[CircleRow]:
    shown = [
        CircleRow(
            circle_id=circle.id or 0,
            name=circle.name,
            channel_id=circle.channel_id,
            role=membership.role,
            next_checkin=next_checkin_text(session, circle, membership, tz, now),
        )
        for circle, membership in memberships[:limit]
    ]
    return Rows(shown, len(memberships))


def next_checkin_text(
    session: Session, circle: Circle, membership: Membership, tz: ZoneInfo, now: datetime
) -> str:
    """When this member's next check-in comes, in their zone; or why none is coming.

    The same rules as `bot.due` decide: no check-in on a paused day, a skipped date, or
    while the person is away; only participants get check-ins.
    """
    schedules = [s for s in live_schedules(session, circle) if s.kind == ScheduleKind.CHECKIN]
    if not schedules:
        return "No check-in scheduled."
    if membership.role != Role.PARTICIPANT:
        return "Check-ins go to the participants."
    notes: list[str] = []
    my_today = local_date_of(now, tz)
    away = membership.away_until
    if away is not None and away >= my_today:
        notes.append(f"You're away until {day_text(away, year=True)} (inclusive).")
    paused = paused_until_text(circle, local_date_of(now, circle_zone(session, circle)))
    if paused is not None:
        notes.append(f"The circle is paused until {paused}.")
    moment, fire_tz = _first_checkin(session, circle, membership, schedules, tz, now)
    if moment is None:
        notes.append("No check-in coming up." if notes else "No check-in scheduled.")
    else:
        notes.append(f"Your next check-in: {slack_date(moment, fire_tz)}.")
    return " ".join(notes)


def _first_checkin(
    session: Session,
    circle: Circle,
    membership: Membership,
    schedules: list[Schedule],
    tz: ZoneInfo,
    now: datetime,
) -> tuple[datetime | None, ZoneInfo]:
    if circle.paused_at is not None and circle.paused_until is None:
        return None, tz  # paused until someone resumes: nothing is coming
    skipped = set(
        session.exec(select(col(SkipDay.day)).where(SkipDay.circle_id == circle.id)).all()
    )
    best: tuple[datetime | None, ZoneInfo] = (None, tz)
    for schedule in schedules:
        fire_tz = zone(schedule.pinned_tz) if schedule.pinned_tz else tz
        moment = now
        for _ in range(NEXT_CHECKIN_SEARCH):
            moment = next_occurrence(schedule, tz, moment)
            day = local_date_of(moment, fire_tz)
            away = membership.away_until is not None and day <= membership.away_until
            if not (is_quiet_on(circle, moment, day, skipped) or away):
                if best[0] is None or moment < best[0]:
                    best = (moment, fire_tz)
                break
    return best


def item_rows(
    session: Session, team_id: str, user_id: str, tz: ZoneInfo, now: datetime, *, limit: int
) -> Rows[ItemRow]:
    items = open_items(session, team_id=team_id, user_id=user_id)
    names = _circle_names(session, {item.circle_id for item in items[:limit]})
    today = local_date_of(now, tz)
    shown = [
        ItemRow(
            item_id=item.id or 0,
            text=item.text,
            circle_name=names.get(item.circle_id, ""),
            due_date=item.due_date,
            today=today,
        )
        for item in items[:limit]
    ]
    return Rows(shown, len(items))


def reflection_rows(
    session: Session, team_id: str, user_id: str, *, limit: int
) -> list[ReflectionRow]:
    """The person's own last reflections in live circles, newest first."""
    found = session.exec(
        select(Reflection, Circle)
        .join(Circle, col(Circle.id) == col(Reflection.circle_id))
        .where(
            readable_by(team_id, user_id),
            Reflection.user_id == user_id,
            col(Circle.archived_at).is_(None),
        )
        .order_by(col(Reflection.submitted_at).desc(), col(Reflection.id).desc())
        .limit(limit)
    ).all()
    excerpts = _first_answers(session, [reflection.id or 0 for reflection, _ in found])
    return [
        ReflectionRow(
            reflection_id=reflection.id or 0,
            kind=reflection.kind,
            circle_name=circle.name,
            week_start=reflection.week_start,
            excerpt=excerpts.get(reflection.id or 0, ""),
            visibility=reflection.visibility,
            edited=reflection.edited_at is not None,
        )
        for reflection, circle in found
    ]


def _first_answers(session: Session, reflection_ids: list[int]) -> dict[int, str]:
    """Each reflection's first written answer (answers are saved in question order)."""
    if not reflection_ids:
        return {}
    answers = session.exec(
        select(ReflectionAnswer)
        .where(col(ReflectionAnswer.reflection_id).in_(reflection_ids))
        .order_by(col(ReflectionAnswer.id))
    ).all()
    first: dict[int, str] = {}
    rated: dict[int, str] = {}
    for answer in answers:
        if answer.text and answer.text.strip():
            first.setdefault(answer.reflection_id, answer.text)
        elif answer.number is not None:
            rated.setdefault(answer.reflection_id, f"Rated {answer.number} of 5")
    return {**rated, **first}


def circle_highlights(
    session: Session, memberships: list[tuple[Circle, Membership]], now: datetime, *, limit: int
) -> list[Highlights]:
    """For each circle the person takes part in (participant or facilitator), other people's
    quotes its members may read (bot/reflections/visibility.py) from this week, or else last week:
    what the channel post may have had to leave out."""
    found: list[Highlights] = []
    for circle, membership in memberships:
        readable = readable_for_role(membership.role)
        if Visibility.CIRCLE not in readable:  # leaders read their own digest instead
            continue
        this_monday = weeks.week_start(now, circle_zone(session, circle))
        for monday in (this_monday, this_monday - timedelta(weeks=1)):
            quotes, more = digest.quotes(
                session,
                [circle.id or 0],
                week=monday,
                now=now,
                readable=readable,
                limit=HIGHLIGHTS_PER_CIRCLE,
                not_by=membership.user_id,  # their own are under "Your last reflections"
            )
            if quotes:
                found.append(Highlights(circle.name, monday, quotes, more))
                break
        if len(found) >= limit:
            break
    return found


def glances(
    session: Session, memberships: list[tuple[Circle, Membership]], now: datetime, *, limit: int
) -> Rows[Glance]:
    facilitated = [c for c, m in memberships if m.role == Role.FACILITATOR]
    return Rows(
        [glance_of(session, circle, now) for circle in facilitated[:limit]], len(facilitated)
    )


def glance_of(session: Session, circle: Circle, now: datetime) -> Glance:
    """This week of a circle for its facilitators: the `/circle status` week (Monday in the
    circle's zone until now), check-ins and debriefs only."""
    tz = circle_zone(session, circle)
    start = week_began(now, tz)
    rows = session.exec(
        select(Delivery.status, Delivery.answered_at, Delivery.skipped_at).where(
            Delivery.circle_id == circle.id,
            col(Delivery.kind).in_(DM_KINDS),
            col(Delivery.due_at) >= start,
            col(Delivery.due_at) <= now,
        )
    ).all()
    statuses = Counter(status for status, _answered, _skipped in rows)
    open_count = session.exec(
        select(func.count())
        .select_from(ActionItem)
        .where(ActionItem.circle_id == circle.id, ActionItem.status == ActionItemStatus.OPEN)
    ).one()
    upcoming = [d for d in live_demo_days(session, circle) if d.starts_at > now]
    return Glance(
        circle_id=circle.id or 0,
        name=circle.name,
        channel_id=circle.channel_id,
        week_start=start.astimezone(tz).date(),
        sent=statuses[DeliveryStatus.SENT],
        answered=sum(1 for _s, answered, _k in rows if answered is not None),
        skipped=sum(1 for _s, _a, skipped in rows if skipped is not None),
        failed=statuses[DeliveryStatus.FAILED],
        open_items=int(open_count),
        next_demo=(upcoming[0].title, upcoming[0].starts_at) if upcoming else None,
        paused_until=paused_until_text(circle, local_date_of(now, tz)),
    )


def _circle_names(session: Session, circle_ids: set[int]) -> dict[int, str]:
    if not circle_ids:
        return {}
    rows = session.exec(select(Circle.id, Circle.name).where(col(Circle.id).in_(circle_ids)))
    return {circle_id: name for circle_id, name in rows.all() if circle_id is not None}


def facilitated_circle(session: Session, *, team_id: str, user_id: str, circle_id: int) -> Circle:
    """The live circle `circle_id` if `user_id` is an active facilitator of it, else Refusal.

    A button's value comes back from the client, so it is checked again on every click; the
    refusal names nothing, so a forged id tells nothing about other circles.
    """
    circle = session.get(Circle, circle_id)
    if circle is None or circle.team_id != team_id or circle.is_archived:
        raise Refusal(NOT_FACILITATOR)
    membership = circles.membership_of(session, circle, user_id)
    if membership is None or not membership.is_active or membership.role != Role.FACILITATOR:
        raise Refusal(NOT_FACILITATOR)
    return circle


# --- building ----------------------------------------------------------------------------------
