"""What a reader may be shown of a week's figures: the one place that decides.

Every figure a digest, preview or chart shows passes through `disclose` (one circle's week) or
`leader_totals` (several circles); templates only print what comes out. The rules, from
statistical disclosure control (docs/privacy.md):

1. **Threshold.** A figure computed over fewer than K_ANONYMITY (3) distinct people is
   withheld. People are distinct across circles, and bots and people who left Slack are no
   people (bot/digest/metrics.py leaves them out before anything is counted).
2. **A small circle shows nothing.** When a circle's participants are fewer than K (or it has
   none, or was paused all week) none of its figures is shown, not even counts.
3. **No total beside its complement.** Such a circle is left out of every total, and so is any
   trend week in which a circle's own figure is withheld: totals add up only parts a reader
   can see. A total figure is withheld where the same figure is withheld in one of the circles
   it adds up. Totals say how many circles are not counted, never which.
4. **Choices are counts of people.** "Kept private" and late answers are shown only when K or
   more people are behind them (and, in totals, behind every part).
5. **No averages of a week in progress.** A week that is not over (a preview, a digest sent by
   hand, a mid-week schedule) shows counts and rates of counts but no averages or medians: two
   previews around one new answer must not reveal its score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from bot.digest.metrics import K_ANONYMITY, Figure, Missing, WeekMetrics, combine

V = TypeVar("V", float, timedelta, int)
F = TypeVar("F", float, timedelta)  # what a metrics Figure holds


class State(StrEnum):
    """What a circle's (or the totals') week shows as a whole."""

    SHOWN = "shown"
    FEW = "few"  # fewer than K participants: nothing is shown
    NOBODY = "nobody"  # no participants to measure
    PAUSED = "paused"  # paused all week


class Withheld(StrEnum):
    """Why one figure is not shown."""

    FEW = "few"  # fewer than K distinct people behind it
    IN_PROGRESS = "in_progress"  # an average of a week that is not over
    IN_A_CIRCLE = "in_a_circle"  # a total whose part is withheld in one of the circles


@dataclass(frozen=True)
class Shown(Generic[V]):
    """One figure as a reader may see it: a value, or why there is none."""

    value: V | None
    withheld: Withheld | None = None


@dataclass(frozen=True)
class ShownWeek:
    """A week's figures as any reader may see them. Counts are only meaningful when SHOWN."""

    state: State
    complete: bool
    participants: int
    reflected: int
    participation: Shown[float]
    trend: tuple[float | None, ...]  # participation per week, oldest first (None: withheld)
    trend_weeks: tuple[date, ...]
    checkin_reflections: int
    debrief_reflections: int
    kept_private: Shown[int]
    late_answers: Shown[int]
    checkins_sent: int
    checkins_answered: int
    checkins_skipped: int
    response_rate: Shown[float]
    median_time_to_respond: Shown[timedelta]
    items_committed: int
    items_completed: int
    items_overdue: int
    window_start: date
    completion_rate: Shown[float]
    median_time_to_done: Shown[timedelta]
    confidence: Shown[float]
    confidence_change: Shown[float]
    peer_sessions: int
    demo_days_held: int
    presenters: int


def _state(metrics: WeekMetrics) -> State:
    participation = metrics.participation
    if metrics.paused or participation.missing is Missing.PAUSED:
        return State.PAUSED
    if participation.missing is Missing.NO_PARTICIPANTS:
        return State.NOBODY
    if participation.value is None or participation.people < K_ANONYMITY:
        return State.FEW
    return State.SHOWN


def disclose(metrics: WeekMetrics, *, parts: Sequence[ShownWeek] = ()) -> ShownWeek:
    """The week's figures as a reader may see them; `parts` are the circles a total adds up
    (rule 3: a total figure is withheld wherever one of its parts is)."""

    def shown(
        figure: Figure[F], pick: Callable[[ShownWeek], Shown[F]], *, average: bool = False
    ) -> Shown[F]:
        if figure.value is None or figure.people < K_ANONYMITY:
            return Shown(None, Withheld.FEW)
        if average and not metrics.complete:
            return Shown(None, Withheld.IN_PROGRESS)
        if any(pick(part).value is None for part in parts):
            return Shown(None, Withheld.IN_A_CIRCLE)
        return Shown(figure.value)

    def people_count(
        count: int, people: frozenset[str], pick: Callable[[ShownWeek], Shown[int]]
    ) -> Shown[int]:
        if len(people) < K_ANONYMITY:
            return Shown(None, Withheld.FEW)
        if any(pick(part).value is None for part in parts):
            return Shown(None, Withheld.IN_A_CIRCLE)
        return Shown(count)

    checkins, items = metrics.checkins, metrics.action_items
    trend = metrics.participation_trend
    return ShownWeek(
        state=_state(metrics),
        complete=metrics.complete,
        participants=metrics.active_participants,
        reflected=metrics.participants_reflected,
        participation=shown(metrics.participation, lambda w: w.participation),
        trend=tuple(
            f.value if f.value is not None and f.people >= K_ANONYMITY else None
            for f in trend.figures
        ),
        trend_weeks=trend.weeks,
        checkin_reflections=metrics.checkin_reflections,
        debrief_reflections=metrics.debrief_reflections,
        kept_private=people_count(
            metrics.private_reflections, metrics.private_authors, lambda w: w.kept_private
        ),
        late_answers=people_count(
            sum(entry.count for entry in metrics.late_answers),
            metrics.late_authors,
            lambda w: w.late_answers,
        ),
        checkins_sent=checkins.sent,
        checkins_answered=checkins.answered,
        checkins_skipped=checkins.skipped,
        response_rate=shown(checkins.response_rate, lambda w: w.response_rate),
        median_time_to_respond=shown(
            checkins.median_time_to_respond, lambda w: w.median_time_to_respond, average=True
        ),
        items_committed=items.committed,
        items_completed=items.completed,
        items_overdue=items.overdue,
        window_start=items.window_start,
        completion_rate=shown(items.completion_rate, lambda w: w.completion_rate),
        median_time_to_done=shown(
            items.median_time_to_implement, lambda w: w.median_time_to_done, average=True
        ),
        confidence=shown(metrics.confidence, lambda w: w.confidence, average=True),
        confidence_change=shown(
            metrics.confidence_change, lambda w: w.confidence_change, average=True
        ),
        peer_sessions=metrics.peer_sessions,
        demo_days_held=metrics.demo_days.held,
        presenters=metrics.demo_days.presenters,
    )


@dataclass(frozen=True)
class Totals:
    """A leader's circles added up: only the circles (and weeks) whose own figures show."""

    circles: int  # circles measured this week
    counted: int  # of those, how many the totals add up
    week: ShownWeek | None  # None when no circle could be counted

    @property
    def not_counted(self) -> int:
        return self.circles - self.counted


def leader_totals(weeks: Sequence[WeekMetrics]) -> Totals:
    """The totals of several circles' same week, under rule 3."""
    shown = [(metrics, disclose(metrics)) for metrics in weeks]
    counted = [(metrics, week) for metrics, week in shown if week.state is State.SHOWN]
    if not counted:
        return Totals(len(weeks), 0, None)

    def week_counts(metrics: WeekMetrics, index: int) -> bool:
        figure = metrics.participation_trend.figures[index]
        return figure.value is not None and figure.people >= K_ANONYMITY

    pooled = combine([metrics for metrics, _week in counted], week_counts=week_counts)
    return Totals(
        len(weeks), len(counted), disclose(pooled, parts=[week for _metrics, week in counted])
    )
