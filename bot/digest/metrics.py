"""The figures behind the weekly digests: what a circle did in one week, and its trends.

Everything here is a count or a k-anonymous figure; nothing returns text people wrote (the
digest's highlights are read separately, through bot/reflections/visibility.py). The rules:

- Weeks are Monday to Sunday in the circle's zone (bot/calendar/weeks.py). A reflection counts for
the
  week its check-in was for (`week_start`), whenever it was written; one written after its
  week ended is also listed in `late_answers` of the week it was written in.
- The people measured in a week are its *counted participants*: participant memberships
  active at some point in the week, minus people who left Slack (and bots). Their reflections,
  check-ins and action items are what the figures are made of.
- A rate, average or median over fewer than K_ANONYMITY people is not a number but a
  `Figure` with `missing` set ("not enough responses yet"). Counts are always given.
- `private` reflections contribute to counts only: they count as participation and as
  reflections and peer sessions, but their 1-5 answers stay out of the confidence average.
- A week is measured as of `min(week end, now)`: the current week to date, or a finished one
  as it stood at its end (overdue items, completion) with every answer received since
  counted for its own week (participation, confidence, response).
- Trends: participation over TREND_WEEKS weeks; confidence against the week before.

Cost grows with the week, not with the history: each query reads one week's rows (eight for
the participation trend, four for follow-through) through an index that starts with
circle_id and ends with the time column those weeks bound, plus the circle's still-open
action items. The same queries serve one circle or a thousand (`metrics_for_circles`): circles
are grouped by zone and each group costs one round of queries.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Executable,
    Float,
    Integer,
    and_,
    bindparam,
    case,
    distinct,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col

from bot.calendar.weeks import week_bounds, week_start
from bot.calendar.zones import zone
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
    Role,
    Visibility,
)
from storage.types import UTCDateTime

K_ANONYMITY = 3  # fewer people than this behind an aggregate: no number
TREND_WEEKS = 8
FOLLOW_THROUGH_WEEKS = 4  # completion rate and time-to-implement look this far back
# A check-in is sent within the delivery grace window (6 h) of its due time, so the ones
# sent in a week were all due at most this long before it began.
SEND_MARGIN = timedelta(days=1)
REFLECTION_KINDS = ("checkin", "debrief")
SCALE_KIND = "scale"
CHUNK = 1000  # circles per query (bind parameters stay far below SQLite's limit)
SPARK_LEVELS = "▁▂▃▄▅▆▇█"

V = TypeVar("V", float, timedelta)
Key = tuple[int, str]  # (circle_id, user_id): a person as a member of one circle


class Missing(StrEnum):
    """Why a figure has no value."""

    NOT_ENOUGH_RESPONSES = "not_enough_responses"  # fewer than K_ANONYMITY people behind it
    NO_PARTICIPANTS = "no_participants"  # nobody to measure: no (remaining) participants
    PAUSED = "paused"  # the circle was paused all week


@dataclass(frozen=True)
class Figure(Generic[V]):
    """A rate, average or median, or the reason there is none.

    `people` is how many people it is computed over (a count, shown or not as the digest
    likes); `value` is None exactly when `missing` is set.
    """

    value: V | None
    people: int
    missing: Missing | None = None

    @property
    def shown(self) -> bool:
        return self.missing is None


def _figure(
    people: int,
    compute: Callable[[], V],
    *,
    paused: bool = False,
    nobody: Missing = Missing.NOT_ENOUGH_RESPONSES,
) -> Figure[V]:
    if paused:
        return Figure(None, people, Missing.PAUSED)
    if people == 0:
        return Figure(None, 0, nobody)
    if people < K_ANONYMITY:
        return Figure(None, people, Missing.NOT_ENOUGH_RESPONSES)
    return Figure(compute(), people)


@dataclass(frozen=True)
class Trend:
    """One figure per week, oldest first."""

    weeks: tuple[date, ...]
    figures: tuple[Figure[float], ...]

    @property
    def values(self) -> list[float | None]:
        return [figure.value for figure in self.figures]


@dataclass(frozen=True)
class CheckinFigures:
    """Check-in DMs sent in the week to counted participants, and what became of them."""

    sent: int
    answered: int  # by now, however late
    skipped: int
    response_rate: Figure[float]  # answered / sent, over the people they were sent to
    median_time_to_respond: Figure[timedelta]  # sent_at to answered_at, over those who answered


@dataclass(frozen=True)
class ActionItemFigures:
    committed: int  # created in the week
    completed: int  # done in the week
    overdue: int  # open at the week's end (or now), due before that day
    # Over the FOLLOW_THROUGH_WEEKS weeks ending with this one, from `window_start`:
    window_start: date
    completion_rate: Figure[float]  # done / committed, for items created in the window
    median_time_to_implement: Figure[timedelta]  # created_at to done_at, items done in it


@dataclass(frozen=True)
class DemoDayFigures:
    held: int  # demo days (not cancelled) that started in the week
    presenters: int  # sign-ups for those
    next_demo_day_id: int | None  # the first one starting at or after now
    next_starts_at: datetime | None
    next_signups: int


@dataclass(frozen=True)
class LateAnswers:
    """Reflections written in this week for an earlier one, which they count for."""

    week_start: date  # the week they count for
    count: int


@dataclass(frozen=True)
class _WeekFacts:
    """What one week's participation (and, for the last two weeks, confidence) is computed
    from (no text)."""

    paused: bool
    active: frozenset[Key]
    reflected: frozenset[Key]
    # Per person, the sum and number of their 1-5 answers in non-private reflections.
    scale_answers: tuple[tuple[Key, int, int], ...]


@dataclass(frozen=True)
class _Facts:
    """Everything a WeekMetrics is computed from; `combine` merges these across circles."""

    trend: tuple[_WeekFacts, ...]  # TREND_WEEKS weeks, the digest's week last
    checkins: tuple[tuple[Key, bool, bool, float | None], ...]  # answered, skipped, seconds
    window_items: tuple[tuple[Key, int, int], ...]  # per owner: created in the window, done
    implemented: tuple[tuple[Key, float], ...]  # done in the window: seconds since created


@dataclass(frozen=True)
class WeekMetrics:
    """The digest figures of one circle's week, or the totals of several (`combine`)."""

    circle_ids: tuple[int, ...]
    time_zone: str | None  # the zone weeks are counted in (totals: None if circles differ)
    week_start: date
    starts_at: datetime
    ends_at: datetime
    as_of: datetime  # min(ends_at, now): the moment the week is measured at
    complete: bool  # the week has ended
    paused: bool  # the circle was paused all week (totals: every circle was)
    active_participants: int
    participants_reflected: int
    participation: Figure[float]
    checkin_reflections: int
    debrief_reflections: int
    private_reflections: int  # included in the two counts above
    private_authors: frozenset[str]  # the people behind private_reflections (for thresholds)
    checkins: CheckinFigures
    action_items: ActionItemFigures
    confidence: Figure[float]  # mean of the week's 1-5 answers
    confidence_previous: Figure[float]  # the same for the week before
    confidence_change: Figure[float]  # confidence minus confidence_previous
    participation_trend: Trend
    peer_sessions: int  # distinct pairs of people with a debrief about their session
    demo_days: DemoDayFigures
    late_answers: tuple[LateAnswers, ...]
    late_authors: frozenset[str]  # the people behind late_answers (for thresholds)
    _facts: _Facts = field(repr=False, compare=False)


def metrics_for_circle(
    session: Session, circle_id: int, *, now: datetime, week: date | None = None
) -> WeekMetrics:
    """The figures of one circle for the week starting on Monday `week` (its zone), or,
    without `week`, for the current week to date."""
    found = metrics_for_circles(session, [circle_id], now=now, week=week)
    if circle_id not in found:
        raise LookupError(f"no circle {circle_id}")
    return found[circle_id]


def metrics_for_circles(
    session: Session, circle_ids: Iterable[int], *, now: datetime, week: date | None = None
) -> dict[int, WeekMetrics]:
    """`metrics_for_circle` for many circles with the same few queries. Unknown ids are left
    out of the result."""
    if now.tzinfo is None:
        raise ValueError("metrics need an aware `now`")
    if week is not None and week.weekday() != 0:
        raise ValueError(f"{week} is not a Monday")
    ids = sorted(set(circle_ids))
    found: dict[int, WeekMetrics] = {}
    for first in range(0, len(ids), CHUNK):
        found.update(_load_and_compute(session, ids[first : first + CHUNK], now, week))
    return found


def combine(
    metrics: Sequence[WeekMetrics],
    *,
    week_counts: Callable[[WeekMetrics, int], bool] | None = None,
) -> WeekMetrics:
    """Totals over several circles' metrics of the same week (a leader's sponsored circles).

    Figures are pooled (not averaged per circle) and the K_ANONYMITY threshold applies to
    the distinct people behind the pooled figure: participation counts people, so someone
    in two circles is one participant, who reflected if they did in either. A paused circle
    stays out of participation. `week_counts(metrics, n)` says whether a circle's week n of
    the trend (0 = the oldest) goes into the pooled trend (bot/digest/disclosure.py leaves out the
    weeks a circle's own figure is withheld); by default every week does.
    """
    if not metrics:
        raise ValueError("nothing to combine")
    weeks = {m.week_start for m in metrics}
    if len(weeks) > 1:
        raise ValueError(f"metrics of different weeks: {sorted(weeks)}")
    trend = tuple(
        _merge_weeks(
            [m._facts.trend[index] for m in metrics if week_counts is None or week_counts(m, index)]
        )
        for index in range(TREND_WEEKS)
    )
    facts = _Facts(
        trend=trend,
        checkins=tuple(c for m in metrics for c in m._facts.checkins),
        window_items=tuple(i for m in metrics for i in m._facts.window_items),
        implemented=tuple(i for m in metrics for i in m._facts.implemented),
    )
    late: Counter[date] = Counter()
    for m in metrics:
        for entry in m.late_answers:
            late[entry.week_start] += entry.count
    upcoming = [
        (m.demo_days.next_starts_at, m.demo_days)
        for m in metrics
        if m.demo_days.next_starts_at is not None
    ]
    nearest = min(upcoming, key=lambda pair: pair[0])[1] if upcoming else None
    first = metrics[0]
    return _metrics(
        facts,
        circle_ids=tuple(sorted(i for m in metrics for i in m.circle_ids)),
        time_zone=zones.pop() if len(zones := {m.time_zone for m in metrics}) == 1 else None,
        week=first.week_start,
        trend_weeks=first.participation_trend.weeks,
        starts_at=min(m.starts_at for m in metrics),
        ends_at=max(m.ends_at for m in metrics),
        as_of=max(m.as_of for m in metrics),
        counts=_Counts(
            checkin_reflections=sum(m.checkin_reflections for m in metrics),
            debrief_reflections=sum(m.debrief_reflections for m in metrics),
            private_reflections=sum(m.private_reflections for m in metrics),
            private_authors=frozenset().union(*(m.private_authors for m in metrics)),
            committed=sum(m.action_items.committed for m in metrics),
            completed=sum(m.action_items.completed for m in metrics),
            overdue=sum(m.action_items.overdue for m in metrics),
            window_start=min(m.action_items.window_start for m in metrics),
            peer_sessions=sum(m.peer_sessions for m in metrics),
        ),
        demo_days=DemoDayFigures(
            held=sum(m.demo_days.held for m in metrics),
            presenters=sum(m.demo_days.presenters for m in metrics),
            next_demo_day_id=nearest.next_demo_day_id if nearest else None,
            next_starts_at=nearest.next_starts_at if nearest else None,
            next_signups=nearest.next_signups if nearest else 0,
        ),
        late_answers=tuple(LateAnswers(monday, n) for monday, n in sorted(late.items())),
        late_authors=frozenset().union(*(m.late_authors for m in metrics)),
    )


def sparkline(values: Sequence[float | None], *, low: float = 0.0, high: float = 1.0) -> str:
    """▁▂▃▄▅▆▇█ for values between `low` and `high` (rates by default), a space for None."""
    if high <= low:
        raise ValueError("high must be above low")
    marks = []
    for value in values:
        if value is None:
            marks.append(" ")
            continue
        share = min(max((value - low) / (high - low), 0.0), 1.0)
        marks.append(SPARK_LEVELS[round(share * (len(SPARK_LEVELS) - 1))])
    return "".join(marks)


# --- computing from facts ----------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    checkin_reflections: int
    debrief_reflections: int
    private_reflections: int
    private_authors: frozenset[str]
    committed: int
    completed: int
    overdue: int
    window_start: date
    peer_sessions: int


def _people(keys: Iterable[Key]) -> int:
    """Distinct people (someone in two circles is one person)."""
    return len({user_id for _circle, user_id in keys})


def _participation(week: _WeekFacts) -> Figure[float]:
    """Of the people active in the week, the share who reflected (in any of the circles)."""
    active, reflected = _people(week.active), _people(week.reflected)
    return _figure(
        active, lambda: reflected / active, paused=week.paused, nobody=Missing.NO_PARTICIPANTS
    )


def _confidence(week: _WeekFacts) -> Figure[float]:
    answers = [(key, total, n) for key, total, n in week.scale_answers if n]
    return _figure(
        _people(key for key, _total, _n in answers),
        lambda: sum(total for _k, total, _n in answers) / sum(n for _k, _t, n in answers),
    )


def _change(now: Figure[float], before: Figure[float]) -> Figure[float]:
    """This week's figure minus the previous week's, when both are shown."""
    if now.value is None:
        return now
    if before.value is None:
        return Figure(None, before.people, before.missing)
    return Figure(now.value - before.value, min(now.people, before.people))


def _median_time(samples: Sequence[tuple[Key, float]]) -> Figure[timedelta]:
    return _figure(
        _people(key for key, _seconds in samples),
        lambda: timedelta(seconds=statistics.median(seconds for _key, seconds in samples)),
    )


def _metrics(
    facts: _Facts,
    *,
    circle_ids: tuple[int, ...],
    time_zone: str | None,
    week: date,
    trend_weeks: tuple[date, ...],
    starts_at: datetime,
    ends_at: datetime,
    as_of: datetime,
    counts: _Counts,
    demo_days: DemoDayFigures,
    late_answers: tuple[LateAnswers, ...],
    late_authors: frozenset[str],
) -> WeekMetrics:
    this_week = facts.trend[-1]
    participation = [_participation(w) for w in facts.trend]
    confidence, previous = _confidence(facts.trend[-1]), _confidence(facts.trend[-2])
    sent = facts.checkins
    answered = [(key, seconds) for key, ok, _skip, seconds in sent if ok and seconds is not None]
    window = facts.window_items
    return WeekMetrics(
        circle_ids=circle_ids,
        time_zone=time_zone,
        week_start=week,
        starts_at=starts_at,
        ends_at=ends_at,
        as_of=as_of,
        complete=as_of >= ends_at,
        paused=this_week.paused,
        active_participants=_people(this_week.active),
        participants_reflected=_people(this_week.reflected),
        participation=participation[-1],
        checkin_reflections=counts.checkin_reflections,
        debrief_reflections=counts.debrief_reflections,
        private_reflections=counts.private_reflections,
        private_authors=counts.private_authors,
        checkins=CheckinFigures(
            sent=len(sent),
            answered=len(answered),
            skipped=sum(1 for _key, _ok, skip, _s in sent if skip),
            response_rate=_figure(
                _people(key for key, *_rest in sent), lambda: len(answered) / len(sent)
            ),
            median_time_to_respond=_median_time(answered),
        ),
        action_items=ActionItemFigures(
            committed=counts.committed,
            completed=counts.completed,
            overdue=counts.overdue,
            window_start=counts.window_start,
            completion_rate=_figure(
                _people(key for key, _created, _done in window),
                lambda: sum(done for *_rest, done in window) / sum(n for _k, n, _d in window),
            ),
            median_time_to_implement=_median_time(facts.implemented),
        ),
        confidence=confidence,
        confidence_previous=previous,
        confidence_change=_change(confidence, previous),
        participation_trend=Trend(trend_weeks, tuple(participation)),
        peer_sessions=counts.peer_sessions,
        demo_days=demo_days,
        late_answers=late_answers,
        late_authors=late_authors,
        _facts=facts,
    )


def _merge_weeks(weeks: Sequence[_WeekFacts]) -> _WeekFacts:
    running = [w for w in weeks if not w.paused]
    return _WeekFacts(
        paused=bool(weeks) and not running,
        active=frozenset().union(*(w.active for w in running)),
        reflected=frozenset().union(*(w.reflected for w in running)),
        scale_answers=tuple(a for w in weeks for a in w.scale_answers),
    )


# --- reading the rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Week:
    monday: date
    start: datetime
    end: datetime
    as_of: datetime  # min(end, now)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.as_of


def _week(monday: date, tz: ZoneInfo, now: datetime) -> _Week:
    start, end = week_bounds(monday, tz)
    return _Week(monday, start, end, min(end, now))


@dataclass(frozen=True)
class _Span:
    """The weeks a circle is measured over; circles of one zone share it (and its queries)."""

    tz: ZoneInfo
    weeks: tuple[_Week, ...]  # TREND_WEEKS weeks, the digest's week last

    @property
    def week(self) -> _Week:
        return self.weeks[-1]

    @property
    def window(self) -> _Week:
        """The FOLLOW_THROUGH_WEEKS weeks ending with the digest's week, as one span."""
        first = self.weeks[-FOLLOW_THROUGH_WEEKS]
        return _Week(first.monday, first.start, self.week.end, self.week.as_of)

    @property
    def today(self) -> date:
        """The local date when the week is measured: items due before it are overdue."""
        return self.week.as_of.astimezone(self.tz).date()

    def parameters(self, ids: list[int], now: datetime) -> dict[str, Any]:
        week = self.week
        return {
            "ids": ids,
            "now": now,
            "first_monday": self.weeks[0].monday,
            "monday": week.monday,
            "previous_monday": self.weeks[-2].monday,
            **{f"week_{n}": w.monday for n, w in enumerate(self.weeks)},
            "start": week.start,
            "as_of": week.as_of,
            "due_from": week.start - SEND_MARGIN,
            "window_start": self.window.start,
            "today": self.today,
        }


@dataclass(frozen=True)
class _Member:
    user_id: str
    added_at: datetime
    removed_at: datetime | None
    gone: bool  # left Slack, or a bot

    def counts_in(self, week: _Week) -> bool:
        """A participant to measure in `week` (up to its as_of)."""
        if self.gone or self.added_at >= week.as_of:
            return False
        return self.removed_at is None or self.removed_at > week.start


@dataclass
class _CircleRows:
    """One circle's rows from every query."""

    circle_id: int
    span: _Span
    paused_at: datetime | None
    paused_until: date | None
    members: list[_Member] = field(default_factory=list)
    reflections: list[Any] = field(default_factory=list)  # per author (and peer)
    checkins: list[Any] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    late: list[Any] = field(default_factory=list)
    demo_days: list[Any] = field(default_factory=list)

    def paused_all(self, week: _Week) -> bool:
        """Paused from before the week began to its end (or to now): no rhythm that week.

        Only the current (or last) pause is stored, so earlier pauses are not seen here.
        """
        if self.paused_at is None or self.paused_at > week.start:
            return False
        last_day = (week.as_of - timedelta(microseconds=1)).astimezone(self.span.tz).date()
        return self.paused_until is None or self.paused_until >= last_day

    def counted(self, week: _Week) -> frozenset[str]:
        return frozenset(m.user_id for m in self.members if m.counts_in(week))


@dataclass(frozen=True)
class _Statements:
    circles: Executable
    reflections: Executable
    late: Executable
    checkins: Executable
    items: Executable
    demo_days: Executable


class _SecondsBetween(FunctionElement[float]):
    """`end - start` in seconds, for two UTCDateTime columns."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(_SecondsBetween, "sqlite")
def _seconds_between_sqlite(element: _SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(_SecondsBetween)
def _seconds_between(element: _SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@cache
def _statements() -> _Statements:
    """The queries, built once with bound parameters (see `_Span.parameters`).

    Each reads one circle's (or a zone's circles') rows of the measured weeks through an
    index that starts with circle_id and ends with the column those weeks bound (for the
    action items still open, however old, with status). tests/bot/digest/test_metrics.py checks the
    plans; `python bench/digest.py --explain` prints them on both databases.
    """
    ids = bindparam("ids", expanding=True, type_=Integer())
    now = bindparam("now", type_=UTCDateTime())
    first_monday = bindparam("first_monday", type_=Date())
    monday = bindparam("monday", type_=Date())
    previous_monday = bindparam("previous_monday", type_=Date())
    start = bindparam("start", type_=UTCDateTime())
    as_of = bindparam("as_of", type_=UTCDateTime())
    due_from = bindparam("due_from", type_=UTCDateTime())
    window_start = bindparam("window_start", type_=UTCDateTime())
    today = bindparam("today", type_=Date())

    # Each circle with its participant memberships, ever (a few per circle: removed ones
    # still count for the weeks they were in), and whether those people are still in Slack.
    creator, person = aliased(Person), aliased(Person)
    circles: Executable = (
        select(
            col(Circle.id),
            col(Circle.tz),
            col(Circle.paused_at),
            col(Circle.paused_until),
            col(creator.tz).label("creator_tz"),
            col(Membership.user_id),
            col(Membership.added_at),
            col(Membership.removed_at),
            col(person.deleted),
            col(person.is_bot),
        )
        .select_from(Circle)
        .outerjoin(
            creator,
            and_(
                col(creator.team_id) == col(Circle.team_id),
                col(creator.user_id) == col(Circle.created_by),
            ),
        )
        .outerjoin(
            Membership,
            and_(
                col(Membership.circle_id) == col(Circle.id),
                col(Membership.role) == Role.PARTICIPANT,
            ),
        )
        .outerjoin(
            person,
            and_(
                col(person.team_id) == col(Membership.team_id),
                col(person.user_id) == col(Membership.user_id),
            ),
        )
        .where(col(Circle.id).in_(ids))
    )

    # The trend weeks' reflections (ix_reflection_circle_week), per author: in which of the
    # weeks they wrote (a bit per week), what they wrote in the digest's week, and the sum
    # and number of their 1-5 answers in it and the week before (confidence and its change);
    # a debrief's peer in the digest's week.
    def scale_answers(aggregate: Callable[[Any], ColumnElement[int]]) -> ColumnElement[int]:
        return (
            select(aggregate(col(ReflectionAnswer.number)))
            .where(
                col(ReflectionAnswer.reflection_id) == col(Reflection.id),
                col(ReflectionAnswer.kind) == SCALE_KIND,
            )
            .scalar_subquery()
        )

    averaged = and_(
        col(Reflection.week_start) >= previous_monday,
        col(Reflection.visibility) != Visibility.PRIVATE,  # private answers: counts only
    )
    debrief_this_week = and_(
        col(Reflection.week_start) == monday, col(Reflection.kind) == "debrief"
    )
    written = (
        select(
            col(Reflection.circle_id),
            col(Reflection.week_start),
            col(Reflection.user_id),
            col(Reflection.kind),
            col(Reflection.visibility),
            case((debrief_this_week, col(Reflection.peer_user_id))).label("peer"),
            case((averaged, scale_answers(func.sum))).label("scale_sum"),
            case((averaged, scale_answers(func.count))).label("scale_n"),
        )
        .where(
            col(Reflection.circle_id).in_(ids),
            col(Reflection.week_start) >= first_monday,
            col(Reflection.week_start) <= monday,
            col(Reflection.kind).in_(REFLECTION_KINDS),
            col(Reflection.submitted_at) <= now,
        )
        .subquery()
    )
    w = written.c
    week_bit = case(
        *(
            (w.week_start == bindparam(f"week_{n}", type_=Date()), literal_column(str(1 << n)))
            for n in range(TREND_WEEKS)
        )
    )
    one: ColumnElement[int] = literal_column("1")
    this_week, week_before = w.week_start == monday, w.week_start == previous_monday
    reflections = select(
        w.circle_id,
        w.user_id,
        w.peer,
        func.sum(distinct(week_bit)).label("weeks"),
        func.count(case((and_(this_week, w.kind == "checkin"), one))).label("checkins"),
        func.count(case((and_(this_week, w.kind == "debrief"), one))).label("debriefs"),
        func.count(case((and_(this_week, w.visibility == Visibility.PRIVATE), one))).label(
            "private"
        ),
        func.sum(case((this_week, w.scale_sum))).label("scale_sum"),
        func.sum(case((this_week, w.scale_n))).label("scale_n"),
        func.sum(case((week_before, w.scale_sum))).label("before_sum"),
        func.sum(case((week_before, w.scale_n))).label("before_n"),
    ).group_by(w.circle_id, w.user_id, w.peer)

    # Check-ins sent in the week (ix_delivery_circle_due: they were due shortly before).
    checkins = select(
        col(Delivery.circle_id),
        col(Delivery.recipient),
        col(Delivery.sent_at),
        col(Delivery.answered_at),
        col(Delivery.skipped_at),
    ).where(
        col(Delivery.circle_id).in_(ids),
        col(Delivery.due_at) >= due_from,
        col(Delivery.due_at) < as_of,
        col(Delivery.kind) == "checkin",
        col(Delivery.sent_at) >= start,
        col(Delivery.sent_at) < as_of,
    )

    # Action items that can matter, one index per branch: created in the window, done in it
    # or since, dropped since the week began (open, so maybe overdue, at its end); the
    # branches are disjoint, so UNION ALL needs no sorting. Each row says what it counts for
    # as the items stood at `as_of` (as flags: no datetimes to convert).
    in_circles = col(ActionItem.circle_id).in_(ids)
    before_window = col(ActionItem.created_at) < window_start
    item_columns = (
        col(ActionItem.circle_id),
        col(ActionItem.user_id),
        col(ActionItem.created_at),
        col(ActionItem.done_at),
        col(ActionItem.dropped_at),
        col(ActionItem.due_date),
    )
    recent = union_all(
        select(*item_columns).where(in_circles, col(ActionItem.created_at) >= window_start),
        select(*item_columns).where(
            in_circles,
            col(ActionItem.status) == ActionItemStatus.DONE,
            col(ActionItem.done_at) >= window_start,
            before_window,
        ),
        select(*item_columns).where(
            in_circles,
            col(ActionItem.status) == ActionItemStatus.DROPPED,
            col(ActionItem.dropped_at) >= start,
            before_window,
        ),
    ).subquery()
    i = recent.c

    def flag(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
        return case((and_(*conditions), literal_column("1")), else_=literal_column("0"))

    zero: ColumnElement[int] = literal_column("0")
    open_then = and_(
        i.created_at < as_of,
        or_(i.done_at.is_(None), i.done_at >= as_of),
        or_(i.dropped_at.is_(None), i.dropped_at >= as_of),
    )
    done_in_window = and_(i.done_at >= window_start, i.done_at < as_of)
    # Items still open (however old) that were created before the window only add to
    # `overdue`: counted per owner. (The condition is in the count, not the WHERE, so that
    # the index on status is the one used.)
    overdue_before_window = func.count(
        case((and_(before_window, col(ActionItem.due_date) < today), literal_column("1")))
    )
    items = union_all(
        select(
            i.circle_id,
            i.user_id,
            flag(i.created_at >= start, i.created_at < as_of).label("committed"),
            flag(i.done_at >= start, i.done_at < as_of).label("completed"),
            flag(open_then, i.due_date < today).label("overdue"),
            flag(i.created_at >= window_start, i.created_at < as_of).label("in_window"),
            flag(i.done_at < as_of).label("done_then"),
            case((done_in_window, _SecondsBetween(i.created_at, i.done_at))).label(
                "seconds_to_done"
            ),
        ),
        select(
            col(ActionItem.circle_id),
            col(ActionItem.user_id),
            zero,
            zero,
            overdue_before_window,
            zero,
            zero,
            null(),
        )
        .where(in_circles, col(ActionItem.status) == ActionItemStatus.OPEN)
        .group_by(col(ActionItem.circle_id), col(ActionItem.user_id)),
    )

    # Reflections written in the week for an earlier one (ix_reflection_circle_submitted).
    late = select(
        col(Reflection.circle_id),
        col(Reflection.user_id),
        col(Reflection.week_start),
    ).where(
        col(Reflection.circle_id).in_(ids),
        col(Reflection.submitted_at) >= start,
        col(Reflection.submitted_at) < as_of,
        col(Reflection.week_start) < monday,
        col(Reflection.kind).in_(REFLECTION_KINDS),
    )

    # Demo days from the week on (held in it, or the next one) with their sign-up counts.
    demo_days = (
        select(
            col(DemoDay.id),
            col(DemoDay.circle_id),
            col(DemoDay.starts_at),
            func.count(col(DemoSignup.id)).label("signups"),
        )
        .select_from(DemoDay)
        .outerjoin(
            DemoSignup,
            and_(col(DemoSignup.demo_day_id) == col(DemoDay.id), col(DemoSignup.created_at) <= now),
        )
        .where(
            col(DemoDay.circle_id).in_(ids),
            col(DemoDay.starts_at) >= start,
            or_(col(DemoDay.cancelled_at).is_(None), col(DemoDay.cancelled_at) > now),
        )
        .group_by(col(DemoDay.id), col(DemoDay.circle_id), col(DemoDay.starts_at))
    )
    return _Statements(circles, reflections, late, checkins, items, demo_days)


def _load_and_compute(
    session: Session, ids: list[int], now: datetime, week: date | None
) -> dict[int, WeekMetrics]:
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(ids) > 1:
        # The estimated cost of many circles' lookups passes jit_above_cost, and compiling
        # them takes longer (~0.4 s a query) than running them (~40 ms for 200 circles).
        connection.exec_driver_sql("SET LOCAL jit = off")
    statements = _statements()
    circles: dict[int, _CircleRows] = {}
    spans: dict[tuple[str, date], _Span] = {}
    for row in connection.execute(statements.circles, {"ids": ids}).all():
        if row.id not in circles:
            tz = zone(row.tz or row.creator_tz)
            monday = week if week is not None else week_start(now, tz)
            if (tz.key, monday) not in spans:
                spans[tz.key, monday] = _span(tz, monday, now)
            circles[row.id] = _CircleRows(
                row.id, spans[tz.key, monday], row.paused_at, row.paused_until
            )
        if row.user_id is not None:
            gone = bool(row.deleted or row.is_bot)
            circles[row.id].members.append(_Member(row.user_id, row.added_at, row.removed_at, gone))

    by_span: dict[_Span, list[int]] = defaultdict(list)
    for circle_id, rows in circles.items():
        by_span[rows.span].append(circle_id)
    for span, circle_ids in by_span.items():
        parameters = span.parameters(circle_ids, now)
        for name in ("reflections", "late", "checkins", "items", "demo_days"):
            for row in connection.execute(getattr(statements, name), parameters).all():
                getattr(circles[row.circle_id], name).append(row)
    return {circle_id: _compute(rows, now) for circle_id, rows in circles.items()}


def _span(tz: ZoneInfo, monday: date, now: datetime) -> _Span:
    weeks = tuple(
        _week(monday - timedelta(weeks=back), tz, now) for back in range(TREND_WEEKS - 1, -1, -1)
    )
    if weeks[-1].start > now:
        raise ValueError(f"the week of {monday} has not started yet")
    return _Span(tz, weeks)


def _compute(rows: _CircleRows, now: datetime) -> WeekMetrics:
    circle_id, span = rows.circle_id, rows.span
    week, window = span.week, span.window
    counted_by_week = {w.monday: rows.counted(w) for w in span.weeks}
    counted = counted_by_week[week.monday]

    def keys(user_ids: Iterable[str]) -> frozenset[Key]:
        return frozenset((circle_id, user_id) for user_id in user_ids)

    reflected: dict[date, set[str]] = defaultdict(set)
    scale: dict[date, dict[str, tuple[int, int]]] = defaultdict(dict)
    checkin_reflections = debrief_reflections = private_reflections = 0
    private_authors: set[str] = set()
    peer_pairs: set[frozenset[str]] = set()
    week_before = span.weeks[-2].monday
    for reflection in rows.reflections:
        _circle, user_id, peer, weeks, checkins, debriefs, private = reflection[:7]
        scale_sum, scale_n, before_sum, before_n = reflection[7:]
        for bit, w in enumerate(span.weeks):  # the query's bit per trend week
            if weeks & (1 << bit) and user_id in counted_by_week[w.monday]:
                reflected[w.monday].add(user_id)
        if user_id in counted:
            checkin_reflections += checkins
            debrief_reflections += debriefs
            private_reflections += private
            if private:
                private_authors.add(user_id)
            if peer and peer != user_id:
                peer_pairs.add(frozenset((user_id, peer)))
        # Only non-private answers were summed: private ones count, no more.
        for monday, total, n, people in (
            (week.monday, scale_sum, scale_n, counted),
            (week_before, before_sum, before_n, counted_by_week[week_before]),
        ):
            if n and user_id in people:
                old_total, old_n = scale[monday].get(user_id, (0, 0))
                scale[monday][user_id] = (old_total + int(total), old_n + int(n))
    trend = tuple(
        _WeekFacts(
            paused=rows.paused_all(w),
            active=keys(counted_by_week[w.monday]),
            reflected=keys(reflected[w.monday]),
            scale_answers=tuple(
                ((circle_id, user_id), total, n) for user_id, (total, n) in scale[w.monday].items()
            ),
        )
        for w in span.weeks
    )

    checkins = []
    for d in rows.checkins:
        if d.recipient not in counted:
            continue
        answered = d.answered_at is not None and d.answered_at <= now
        seconds = max((d.answered_at - d.sent_at).total_seconds(), 0.0) if answered else None
        skipped = d.skipped_at is not None and d.skipped_at <= now
        checkins.append(((circle_id, d.recipient), answered, skipped, seconds))

    # Action items, flagged one by one by the query (old open ones counted per owner).
    window_people = rows.counted(window)
    committed = completed = overdue = 0
    window_items: dict[str, tuple[int, int]] = {}
    implemented: list[tuple[Key, float]] = []
    for item in rows.items:
        _circle, user_id, is_committed, is_completed, is_overdue, in_window, done, seconds = item
        if user_id in counted:
            committed += is_committed
            completed += is_completed
            overdue += is_overdue
        if user_id in window_people:
            if in_window:
                created_before, done_before = window_items.get(user_id, (0, 0))
                window_items[user_id] = (created_before + 1, done_before + done)
            if seconds is not None:
                implemented.append(((circle_id, user_id), max(round(float(seconds)), 0)))

    late: Counter[date] = Counter()
    late_authors: set[str] = set()
    for _circle, user_id, monday in rows.late:
        own = counted_by_week.get(monday)
        if own is None:  # older than the trend: look its week up
            own = rows.counted(_week(monday, span.tz, now))
        if user_id in own:
            late[monday] += 1
            late_authors.add(user_id)

    held = [d for d in rows.demo_days if week.contains(d.starts_at)]
    upcoming = sorted((d for d in rows.demo_days if d.starts_at >= now), key=lambda d: d.starts_at)
    following = upcoming[0] if upcoming else None

    return _metrics(
        _Facts(
            trend=trend,
            checkins=tuple(checkins),
            window_items=tuple(
                ((circle_id, user_id), created, done)
                for user_id, (created, done) in window_items.items()
            ),
            implemented=tuple(implemented),
        ),
        circle_ids=(circle_id,),
        time_zone=span.tz.key,
        week=week.monday,
        trend_weeks=tuple(w.monday for w in span.weeks),
        starts_at=week.start,
        ends_at=week.end,
        as_of=week.as_of,
        counts=_Counts(
            checkin_reflections=checkin_reflections,
            debrief_reflections=debrief_reflections,
            private_reflections=private_reflections,
            private_authors=frozenset(private_authors),
            committed=committed,
            completed=completed,
            overdue=overdue,
            window_start=window.monday,
            peer_sessions=len(peer_pairs),
        ),
        demo_days=DemoDayFigures(
            held=len(held),
            presenters=sum(d.signups for d in held),
            next_demo_day_id=following.id if following else None,
            next_starts_at=following.starts_at if following else None,
            next_signups=following.signups if following else 0,
        ),
        late_answers=tuple(LateAnswers(monday, n) for monday, n in sorted(late.items())),
        late_authors=frozenset(late_authors),
    )
