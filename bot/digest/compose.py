"""The weekly digests: what leaders, the circle and its facilitators read about a week.

Three audiences, each with its own message, built from data (figures from bot/digest/metrics.py,
quotes read through bot/reflections/visibility.py) and worded by the prompts/messages/digest_*.j2
templates, which escape everything a person wrote:

- **Leaders** (a DM each, `digest_leader`): participation, follow-through and trends of every
  live circle they sponsor, one section per circle and the totals (`disclosure.leader_totals`),
  plus quotes from reflections shared with leaders (visibility `leaders`) only. A PNG chart of
  the totals' 8-week participation follows in a second delivery (`digest_chart`,
  bot/digest/chart.py).
- **The circle** (a post in its channel, `digest_circle`): the same figures, and quotes, the
  action items due in the week the post is read in and the demo-day sign-up topics, but only
  what *every reader of the channel* may read (bot/reflections/channel_readers.py: a channel can
  hold leaders, removed members and outsiders); what is left out is counted, and one line that
  names nobody says why. Circle members find the rest on their App Home.
- **Facilitators** (a DM each, `digest_facilitator`): the figures and, to support people rather
  than rank them, names in alphabetical order and counts, never text: who has not reflected
  for two weeks or more, messages that failed and why, overdue action items per person,
  missing leaders, and who reads the circle's channel from outside it.

Rules every audience shares:

- Every figure passes through bot/digest/disclosure.py, the one place that decides what may be
shown:
  nothing over fewer than 3 distinct people ("not enough responses yet"), a small circle shows
  no figure and is left out of every total, a total is withheld where a part is, "kept
  private" and late counts need 3 people, and a week in progress shows no averages.
- A quote names its author only if the author chose to be named (`Reflection.named`). A
  `private` reflection is counted, never quoted; a `circle` one never reaches leaders.
- Week: Monday to Sunday in the circle's zone. A scheduled digest covers the week before the
  day it fires (`digest_week`): the Monday 08:00 digest covers last Monday to Sunday. A
  preview or `/circle digest send` covers this week to date: what the next scheduled digest
  would say if it went out now. Figures are measured as of the delivery's due time, so a
  digest says the same whenever (within the grace window) it is actually sent.
- Late answers are counted in their own week and flagged in the week they arrived.

Delivery keys (exactly one message per circle, audience and week; see bot/rhythm/due.py):
`digest:circle:<circle>:<monday>`, `digest:facilitator:<circle>:<user>:<monday>`,
`digest:leader:<team>:<user>:<monday>` (one per leader and week across all their circles) and
`digest_chart:<leader digest delivery id>`. `Delivery.local_date` holds the covered Monday.
A manual send appends `:manual:…` with the minute (and, for a leader, the circle): it never
blocks the scheduled digest of the same week, which covers the week complete, and a repeat
within the same minute sends nothing twice. A manual leader digest covers only the circle it
was sent from: its facilitator speaks for that circle, not for the leader's others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlmodel import Session, col, func, select

from bot.calendar.recurrence import local_date_of
from bot.calendar.weeks import week_bounds, week_start
from bot.calendar.zones import circle_zone, zone
from bot.circles.queries import left_slack, members_with_profiles, participants_of
from bot.circles.rules import is_paused_on
from bot.delivery.engine import FILE_UPLOAD
from bot.delivery.kinds import DueMessage
from bot.digest import chart
from bot.digest.disclosure import Shown, ShownWeek, State, Totals, Withheld, disclose, leader_totals
from bot.digest.metrics import WeekMetrics, metrics_for_circle, sparkline
from bot.reflections.channel_readers import ChannelReaders
from bot.reflections.visibility import Audience, readable_for_audience, visibility_in
from bot.slack import block_kit
from bot.slack.block_kit import Block, Message
from bot.slack.text import day_text, rounded_duration, slack_date
from prompts import mention, render
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DeliveryStatus,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
    Role,
    Visibility,
)

logger = logging.getLogger(__name__)


DIGEST_CIRCLE = "digest_circle"
DIGEST_FACILITATOR = "digest_facilitator"
DIGEST_LEADER = "digest_leader"
DIGEST_CHART = "digest_chart"
DIGEST_KINDS = (DIGEST_CIRCLE, DIGEST_FACILITATOR, DIGEST_LEADER)

REFLECTION_KINDS = ("checkin", "debrief")
QUOTABLE_ANSWERS = ("long_text", "short_text")
PREFERRED_QUOTES = ("insight", "tried")  # the answer a reflection is quoted by, if it has one
QUOTE_CHARS = 280
QUOTES_IN_CIRCLE_POST = 5
QUOTES_PER_LEADER_SECTION = 3
ITEMS_SHOWN = 10
SIGNUPS_SHOWN = 10
NAMES_SHOWN = 30
FAILURES_SHOWN = 10
CIRCLE_SECTIONS_SHOWN = 10  # per leader DM; the others are in the totals
QUIET_WEEKS = 2  # "no reflection for two weeks or more"
PREVIEW_PART_CHARS = 9000

_KIND_LABELS = {"checkin": "check-in", "debrief": "debrief"}
_DELIVERY_WORDS = {
    "checkin": "check-in",
    "debrief": "debrief",
    "nudge": "nudge",
    "demoday_reminder": "demo-day reminder",
    DIGEST_CIRCLE: "channel digest",
    DIGEST_FACILITATOR: "facilitator's digest",
    DIGEST_LEADER: "leader's digest",
    DIGEST_CHART: "digest chart",
}


# --- weeks and keys ------------------------------------------------------------------------------


def digest_week(fire_moment: datetime, tz: ZoneInfo) -> date:
    """The Monday of the week a scheduled digest firing at `fire_moment` covers: the week of
    the day before (Monday's digest covers last week; a Friday one, this week to date)."""
    return week_start(fire_moment - timedelta(days=1), tz)


def manual_stamp(now: datetime) -> str:
    """The minute of a manual send, for its keys (a repeat within the minute is a no-op)."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M")


def circle_key(circle_id: int, week: date, *, manual: str | None = None) -> str:
    key = f"digest:circle:{circle_id}:{week.isoformat()}"
    return f"{key}:manual:{manual}" if manual else key


def facilitator_key(circle_id: int, user_id: str, week: date, *, manual: str | None = None) -> str:
    key = f"digest:facilitator:{circle_id}:{user_id}:{week.isoformat()}"
    return f"{key}:manual:{manual}" if manual else key


def leader_key(
    team_id: str, user_id: str, week: date, *, manual: tuple[int, str] | None = None
) -> str:
    """One per leader and week; a manual one also names the circle it was sent from."""
    key = f"digest:leader:{team_id}:{user_id}:{week.isoformat()}"
    return f"{key}:manual:{manual[0]}:{manual[1]}" if manual else key


def chart_key(parent_id: int) -> str:
    return f"{DIGEST_CHART}:{parent_id}"


def is_manual(key: str) -> bool:
    return ":manual:" in key


# --- formatting for people -----------------------------------------------------------------------


def moment_text(moment: datetime, tz: ZoneInfo) -> str:
    """Wed 9 Dec 14:30 (in `tz`)."""
    local = moment.astimezone(tz)
    return f"{day_text(local.date())} {local:%H:%M}"


def percent(value: float) -> str:
    return f"{round(value * 100)}%"


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


WITHHELD_TEXT = {
    Withheld.FEW: "not enough responses yet",
    Withheld.IN_PROGRESS: "shown when the week is over",
    Withheld.IN_A_CIRCLE: "not shown (too few responses in one of the circles)",
}
NO_COMPARISON = {
    Withheld.FEW: "no comparison: not enough responses the week before",
    Withheld.IN_PROGRESS: "no comparison while the week is in progress",
    Withheld.IN_A_CIRCLE: "no comparison: too few responses the week before in one of the circles",
}


def _shown(figure: Shown[Any], fmt: Callable[[Any], str]) -> str:
    """A figure's text, or why it is withheld."""
    if figure.value is None:
        return WITHHELD_TEXT[figure.withheld or Withheld.FEW]
    return fmt(figure.value)


def _who(user_id: str) -> Markup | str:
    """A mention built by code (never from text a person wrote)."""
    try:
        return mention(user_id)
    except ValueError:
        return "someone"


# --- what each section says ----------------------------------------------------------------------


def figures_text(
    shown: ShownWeek | None, *, title: str | None = None, totals: Totals | None = None
) -> str:
    """The figures of one circle's week, or (with `totals`) of a leader's circles: only
    what bot/digest/disclosure.py lets through (`shown` is None when no circle could be counted)."""
    counted = {
        "not_counted": totals.not_counted if totals else 0,
        "circles": totals.circles if totals else 1,
    }
    if shown is None:
        return render("messages/digest_figures.md.j2", title=title, state="none_counted", **counted)
    if shown.state is not State.SHOWN:
        return render(
            "messages/digest_figures.md.j2", title=title, state=shown.state.value, **counted
        )
    reflections = (
        f"{_count(shown.checkin_reflections, 'check-in')}, "
        f"{_count(shown.debrief_reflections, 'debrief')}"
    )
    if shown.kept_private.value:
        reflections += f" ({shown.kept_private.value} kept private)"
    change = ""
    if shown.confidence.value is not None:  # then its change is shown, or why not
        delta = shown.confidence_change
        change = (
            _change_text(delta.value)
            if delta.value is not None
            else NO_COMPARISON[delta.withheld or Withheld.FEW]
        )
    held = shown.demo_days_held
    return render(
        "messages/digest_figures.md.j2",
        title=title,
        state="shown",
        **counted,
        participation=_shown(
            shown.participation,
            lambda v: (
                f"{percent(v)} ({shown.reflected} of "
                f"{_count(shown.participants, 'participant')} reflected)"
            ),
        ),
        trend=sparkline(shown.trend),
        trend_weeks=len(shown.trend_weeks),
        trend_gaps=any(value is None for value in shown.trend),
        reflections=reflections,
        checkins_sent=shown.checkins_sent,
        checkins=(
            f"{shown.checkins_sent} sent, {shown.checkins_answered} answered, "
            f"{shown.checkins_skipped} skipped"
        ),
        response_rate=_shown(shown.response_rate, percent),
        median_respond=_shown(shown.median_time_to_respond, rounded_duration),
        items=(
            f"{shown.items_committed} committed, {shown.items_completed} completed, "
            f"{shown.items_overdue} overdue"
        ),
        window_start=day_text(shown.window_start),
        completion_rate=_shown(shown.completion_rate, percent),
        median_done=_shown(shown.median_time_to_done, rounded_duration),
        confidence=_shown(shown.confidence, lambda v: f"{v:.1f} out of 5"),
        confidence_change=change,
        peer_sessions=shown.peer_sessions,
        demo_days=(
            f"{held} held, {_count(shown.presenters, 'presenter')}" if held else "none held"
        ),
    )


def _change_text(change: float) -> str:
    if abs(change) < 0.05:
        return "the same as the week before"
    return f"{'up' if change > 0 else 'down'} {abs(change):.1f} on the week before"


@dataclass(frozen=True)
class Quote:
    text: str  # the person's words on one line, clipped; the template escapes them
    author: Markup | str | None  # a mention only when the author chose to be named
    kind: str


def quotes(
    session: Session,
    circle_ids: Sequence[int],
    *,
    week: date,
    now: datetime,
    readable: frozenset[Visibility],
    limit: int,
    not_by: str | None = None,
) -> tuple[list[Quote], int]:
    """Quotes from the week's reflections of the `readable` visibilities (what every reader
    may read: bot/reflections/visibility.py), oldest first, one per reflection, leaving out those of
    `not_by` (a reader's own); and how many more."""
    rows = session.exec(
        select(Reflection, ReflectionAnswer)
        .join(ReflectionAnswer, col(ReflectionAnswer.reflection_id) == col(Reflection.id))
        .where(
            col(Reflection.circle_id).in_(list(circle_ids)),
            col(Reflection.week_start) == week,
            col(Reflection.kind).in_(REFLECTION_KINDS),
            col(Reflection.submitted_at) <= now,
            visibility_in(readable),  # decided by the one rule for who may read what
            col(Reflection.user_id) != (not_by or ""),
            col(ReflectionAnswer.kind).in_(QUOTABLE_ANSWERS),
            col(ReflectionAnswer.text).is_not(None),
        )
        .order_by(col(Reflection.submitted_at), col(Reflection.id), col(ReflectionAnswer.id))
    ).all()
    chosen: dict[int, tuple[int, Quote]] = {}  # reflection id -> (preference, quote)
    for reflection, answer in rows:
        reflection_id, question_id, text = reflection.id or 0, answer.question_id, answer.text
        if not text or not text.strip():
            continue
        rank = (
            PREFERRED_QUOTES.index(question_id)
            if question_id in PREFERRED_QUOTES
            else len(PREFERRED_QUOTES)
        )
        if reflection_id in chosen and chosen[reflection_id][0] <= rank:
            continue
        author = _who(reflection.user_id) if reflection.named else None
        kind = _KIND_LABELS.get(reflection.kind, reflection.kind)
        chosen[reflection_id] = (rank, Quote(block_kit.one_line(text, QUOTE_CHARS), author, kind))
    found = [quote for _rank, quote in chosen.values()]  # dicts keep the query's order
    return found[:limit], max(len(found) - limit, 0)


def quotes_text(found: list[Quote], more: int, audience: Audience) -> str:
    return render(
        "messages/digest_highlights.md.j2",
        highlights=found,
        more=more,
        audience=audience.value,
    )


def items_due_text(
    session: Session,
    circle: Circle,
    *,
    now: datetime,
    tz: ZoneInfo,
    readable: frozenset[Visibility],
) -> str:
    """Open action items due in the week the post is read in (the week of `now`).

    Text only from reflections of the `readable` visibilities (what every reader of the
    channel may read); the others, and items whose reflection is gone, are counted only.
    """
    monday = week_start(now, tz)
    rows = session.exec(
        select(ActionItem, Reflection)
        .outerjoin(Reflection, col(Reflection.id) == col(ActionItem.reflection_id))
        .where(
            ActionItem.circle_id == circle.id,
            ActionItem.status == ActionItemStatus.OPEN,
            col(ActionItem.due_date) >= monday,
            col(ActionItem.due_date) <= monday + timedelta(days=6),
        )
        .order_by(col(ActionItem.due_date), col(ActionItem.id))
    ).all()
    shown: list[dict[str, Any]] = []
    unshared = 0
    for item, reflection in rows:
        if reflection is None or reflection.visibility not in readable or not item.text.strip():
            unshared += 1
            continue
        assert item.due_date is not None
        shown.append(
            {
                "text": block_kit.one_line(item.text, 200),
                "owner": _who(item.user_id) if reflection.named else None,
                "due": day_text(item.due_date),
            }
        )
    return render(
        "messages/digest_items_due.md.j2",
        total=len(rows),
        items=shown[:ITEMS_SHOWN],
        more=max(len(shown) - ITEMS_SHOWN, 0),
        unshared=unshared,
    )


def demo_day_text(session: Session, metrics: WeekMetrics, *, topics: bool) -> str:
    """The next demo day (from `now` on) and who signed up, with what they will demo when
    `topics` (sign-up topics are the circle's to read: bot/reflections/channel_readers.py)."""
    demo_day_id = metrics.demo_days.next_demo_day_id
    demo_day = session.get(DemoDay, demo_day_id) if demo_day_id is not None else None
    if demo_day is None:
        return render("messages/digest_demoday.md.j2", title=None)
    signups = session.exec(
        select(DemoSignup)
        .where(DemoSignup.demo_day_id == demo_day.id, col(DemoSignup.created_at) <= metrics.as_of)
        .order_by(col(DemoSignup.created_at), col(DemoSignup.id))
    ).all()
    shown = [
        (_who(s.user_id), block_kit.one_line(s.title, 150) if topics else None)
        for s in signups[:SIGNUPS_SHOWN]
    ]
    return render(
        "messages/digest_demoday.md.j2",
        title=demo_day.title,
        when=slack_date(demo_day.starts_at),
        signups=shown,
        total=len(signups),
        more=len(signups) - len(shown),
    )


def _labels(session: Session, team_id: str, user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    people = session.exec(
        select(Person).where(Person.team_id == team_id, col(Person.user_id).in_(user_ids))
    ).all()
    return {p.user_id: str(p.label) for p in people}


def _alphabetical(session: Session, team_id: str, user_ids: set[str]) -> list[str]:
    labels = _labels(session, team_id, user_ids)

    def name(user_id: str) -> tuple[str, str]:
        return labels.get(user_id, user_id).casefold(), user_id

    return sorted(user_ids, key=name)


def quiet_participants(
    session: Session, circle: Circle, *, week: date, now: datetime, tz: ZoneInfo
) -> list[str]:
    """Active participants, in the circle for the last QUIET_WEEKS weeks, with no reflection
    (of any visibility) for any of them; alphabetical by name."""
    first = week - timedelta(weeks=QUIET_WEEKS - 1)
    first_start, _end = week_bounds(first, tz)
    members = participants_of(session, {circle.id or 0}).get(circle.id or 0, [])
    eligible = {m.user_id for m, _person in members if m.added_at <= first_start}
    if not eligible:
        return []
    reflected = set(
        session.exec(
            select(Reflection.user_id)
            .where(
                Reflection.circle_id == circle.id,
                col(Reflection.week_start) >= first,
                col(Reflection.week_start) <= week,
                col(Reflection.kind).in_(REFLECTION_KINDS),
                col(Reflection.submitted_at) <= now,
            )
            .distinct()
        ).all()
    )
    return _alphabetical(session, circle.team_id, eligible - reflected)


def failed_deliveries(
    session: Session, circle: Circle, *, since: datetime, now: datetime
) -> list[Delivery]:
    """The circle's deliveries that failed, due from `since` (the week's start) to now."""
    return list(
        session.exec(
            select(Delivery)
            .where(
                Delivery.circle_id == circle.id,
                Delivery.status == DeliveryStatus.FAILED,
                col(Delivery.due_at) >= since,
                col(Delivery.due_at) <= now,
            )
            .order_by(col(Delivery.due_at), col(Delivery.id))
        ).all()
    )


def delivery_recipient(session: Session, delivery: Delivery) -> Markup | str:
    """Who a delivery was for: a person, the channel, or (a chart) the leader of its digest."""
    recipient = delivery.recipient
    if delivery.kind == DIGEST_CHART and delivery.parent_id is not None:
        parent = session.get(Delivery, delivery.parent_id)
        recipient = parent.recipient if parent is not None else recipient
    if recipient.startswith(("U", "W")):
        return _who(recipient)
    if recipient.startswith(("C", "G")):
        return Markup(f"<#{recipient}>") if recipient.isalnum() else "the channel"  # noqa: S704
    return "a direct message"


def overdue_by_person(
    session: Session, circle: Circle, *, today: date
) -> list[tuple[Markup | str, int]]:
    """Open action items due before `today`, counted per active participant (no text)."""
    rows = session.exec(
        select(ActionItem.user_id, func.count())
        .where(
            ActionItem.circle_id == circle.id,
            ActionItem.status == ActionItemStatus.OPEN,
            col(ActionItem.due_date) < today,
        )
        .group_by(col(ActionItem.user_id))
    ).all()
    members = participants_of(session, {circle.id or 0}).get(circle.id or 0, [])
    active = {m.user_id for m, _person in members}
    counts = {user_id: int(n) for user_id, n in rows if user_id in active}
    return [(_who(u), counts[u]) for u in _alphabetical(session, circle.team_id, set(counts))]


@dataclass(frozen=True)
class Leaders:
    active: list[str]  # still in Slack, as far as we know
    gone: list[str]  # left Slack (or a bot): no digest for them


def leaders_of(session: Session, circle: Circle) -> Leaders:
    rows = members_with_profiles(session, [circle.id], [Role.LEADER])
    active = {m.user_id for m, p in rows if not left_slack(p)}
    gone = {m.user_id for m, p in rows if left_slack(p)}
    return Leaders(
        _alphabetical(session, circle.team_id, active),
        _alphabetical(session, circle.team_id, gone),
    )


def notes_text(
    shown: ShownWeek | None,
    *,
    paused_until: str | None = None,
    paused: bool = False,
    not_started: str | None = None,
) -> str:
    late = shown.late_answers.value if shown is not None else None
    return render(
        "messages/digest_notes.md.j2",
        paused=paused,
        paused_until=paused_until,
        late=late,
        not_started=not_started,
    )


# --- one circle's week -------------------------------------------------------------------------


@dataclass(frozen=True)
class CircleWeek:
    """What every audience's message about one circle starts from."""

    circle: Circle
    tz: ZoneInfo
    week: date
    now: datetime  # the moment the digest is measured at (its due time)
    metrics: WeekMetrics

    @property
    def paused_now(self) -> bool:
        return is_paused_on(self.circle, self.now, local_date_of(self.now, self.tz))

    @property
    def paused_until(self) -> str | None:
        until = self.circle.paused_until
        return day_text(until) if until is not None else None

    @property
    def as_of(self) -> str | None:
        """When the week is still running: up to when it is measured."""
        m = self.metrics
        return None if m.complete else moment_text(m.as_of, self.tz)

    @cached_property
    def shown(self) -> ShownWeek:
        """The figures any reader may see (bot/digest/disclosure.py)."""
        return disclose(self.metrics)

    def notes(self) -> list[Block]:
        return _notes_block(
            notes_text(self.shown, paused=self.paused_now, paused_until=self.paused_until)
        )


def circle_week(session: Session, circle: Circle, *, week: date, now: datetime) -> CircleWeek:
    tz = circle_zone(session, circle)
    metrics = metrics_for_circle(session, circle.id or 0, now=now, week=week)
    return CircleWeek(circle, tz, week, now, metrics)


def _head(audience: Audience, cw: CircleWeek | None, week: date, **extra: Any) -> str:
    return render(
        "messages/digest_head.md.j2",
        audience=audience.value,
        circle_name=cw.circle.name if cw else "",
        week=day_text(week),
        as_of=cw.as_of if cw else None,
        **extra,
    )


def _footer(audience: Audience) -> Block:
    return block_kit.context(render("messages/digest_footer.md.j2", audience=audience.value))


def _fallback(audience: Audience, week: date, circle_name: str = "") -> str:
    return render(
        "messages/digest_fallback.md.j2",
        audience=audience.value,
        week=day_text(week),
        circle_name=circle_name,
    )


def _notes_block(text: str) -> list[Block]:
    return [block_kit.context(text)] if text.strip() else []


# --- the three messages --------------------------------------------------------------------------


def circle_message(
    session: Session, circle: Circle, *, week: date, now: datetime, readers: ChannelReaders
) -> Message:
    """The post in the circle's channel: it quotes only what every reader of the channel may
    read (`readers`, bot/reflections/channel_readers.py), and says so in one line when that is
    less than what the circle may read."""
    cw = circle_week(session, circle, week=week, now=now)
    found, more = quotes(
        session,
        [circle.id or 0],
        week=week,
        now=now,
        readable=readers.quotable,
        limit=QUOTES_IN_CIRCLE_POST,
    )
    highlights = quotes_text(found, more, Audience.CIRCLE)
    items = items_due_text(session, circle, now=now, tz=cw.tz, readable=readers.quotable)
    topics = Visibility.CIRCLE in readers.quotable  # sign-up topics are the circle's
    blocks: list[Block] = [
        *block_kit.sections([_head(Audience.CIRCLE, cw, week)]),
        *block_kit.sections(figures_text(cw.shown).splitlines()),
        *_notes_block(withheld_text(readers)),
        *block_kit.sections(highlights.splitlines()),
        *block_kit.sections(items.splitlines()),
        *block_kit.sections(demo_day_text(session, cw.metrics, topics=topics).splitlines()),
        *cw.notes(),
        _footer(Audience.CIRCLE),
    ]
    return {"text": _fallback(Audience.CIRCLE, week, circle.name), "blocks": block_kit.fit(blocks)}


def withheld_text(readers: ChannelReaders) -> str:
    """One line for the channel, naming nobody, when its post quotes less than the circle
    may read; empty when only the circle reads the channel."""
    if readers.everyone_in_circle:
        return ""
    return render("messages/digest_withheld.md.j2", unreadable=readers.problem is not None)


def channel_readers_text(readers: ChannelReaders, circle: Circle) -> str:
    """For facilitators: who reads the channel from outside the circle, so they can fix it."""
    shown = readers.outside[:NAMES_SHOWN]
    return render(
        "messages/digest_channel_readers.md.j2",
        channel=Markup(f"<#{circle.channel_id}>") if circle.channel_id.isalnum() else "the channel",  # noqa: S704
        problem=readers.problem,
        outside=[(_who(user_id), why) for user_id, why in shown],
        more=len(readers.outside) - len(shown) + readers.unchecked,
    )


def facilitator_message(
    session: Session, circle: Circle, *, week: date, now: datetime, readers: ChannelReaders
) -> Message:
    """The DM to each facilitator: figures, then names and counts (never text), and who
    reads the circle's channel from outside it."""
    cw = circle_week(session, circle, week=week, now=now)
    quiet = quiet_participants(session, circle, week=week, now=now, tz=cw.tz)
    failed = failed_deliveries(session, circle, since=cw.metrics.starts_at, now=now)
    overdue = overdue_by_person(session, circle, today=local_date_of(now, cw.tz))
    leaders = leaders_of(session, circle)
    for user_id in leaders.gone:
        logger.info("circle %s: leader %s left Slack, so gets no digest", circle.id, user_id)
    section = render(
        "messages/digest_facilitator.md.j2",
        quiet=[_who(u) for u in quiet[:NAMES_SHOWN]],
        quiet_more=max(len(quiet) - NAMES_SHOWN, 0),
        failed=[
            {
                "what": _DELIVERY_WORDS.get(d.kind, d.kind.replace("_", " ")),
                "who": delivery_recipient(session, d),
                "reason": d.error or "unknown",
            }
            for d in failed[:FAILURES_SHOWN]
        ],
        failed_total=len(failed),
        failed_more=max(len(failed) - FAILURES_SHOWN, 0),
        overdue=overdue[:NAMES_SHOWN],
        overdue_more=max(len(overdue) - NAMES_SHOWN, 0),
        no_leaders=not leaders.active and not leaders.gone,
        leaders_gone=[_who(u) for u in leaders.gone],
    )
    blocks: list[Block] = [
        *block_kit.sections([_head(Audience.FACILITATORS, cw, week)]),
        *block_kit.sections(figures_text(cw.shown).splitlines()),
        *block_kit.sections(section.splitlines()),
        *block_kit.sections(channel_readers_text(readers, circle).splitlines()),
        *cw.notes(),
        _footer(Audience.FACILITATORS),
    ]
    return {
        "text": _fallback(Audience.FACILITATORS, week, circle.name),
        "blocks": block_kit.fit(blocks),
    }


@dataclass(frozen=True)
class LeaderWeek:
    """A leader's circles in one week: those measured, and those whose week has not begun in
    their zone yet (possible only across far-apart zones)."""

    weeks: list[CircleWeek]
    not_started: list[Circle]

    @cached_property
    def totals(self) -> Totals:
        """The circles added up, under bot/digest/disclosure.py's rules."""
        return leader_totals([cw.metrics for cw in self.weeks])


def leader_week(
    session: Session, circles: Sequence[Circle], *, week: date, now: datetime
) -> LeaderWeek:
    weeks: list[CircleWeek] = []
    not_started: list[Circle] = []
    for circle in circles:
        try:
            weeks.append(circle_week(session, circle, week=week, now=now))
        except ValueError:  # the week has not started in this circle's zone
            not_started.append(circle)
    return LeaderWeek(weeks, not_started)


def leader_message(
    session: Session, circles: Sequence[Circle], *, week: date, now: datetime
) -> Message:
    """The DM to a leader: a section per circle they sponsor, then the totals."""
    lw = leader_week(session, circles, week=week, now=now)
    shown = lw.weeks[:CIRCLE_SECTIONS_SHOWN]
    quoted = False
    sections: list[Block] = []
    for cw in shown:
        cid = cw.circle.id or 0
        found, more = quotes(
            session,
            [cid],
            week=week,
            now=now,
            readable=readable_for_audience(Audience.LEADERS),
            limit=QUOTES_PER_LEADER_SECTION,
        )
        quoted = quoted or bool(found)
        sections += block_kit.sections(figures_text(cw.shown, title=cw.circle.name).splitlines())
        sections += block_kit.sections(quotes_text(found, more, Audience.LEADERS).splitlines())
        sections += cw.notes()
    hidden = lw.weeks[CIRCLE_SECTIONS_SHOWN:]
    if hidden:
        sections.append(
            block_kit.context(
                render(
                    "messages/digest_more_circles.md.j2",
                    count=len(hidden),
                    names=[cw.circle.name for cw in hidden],
                )
            )
        )
    if len(lw.weeks) > 1:
        totals = lw.totals
        title = f"All {len(lw.weeks)} circles"
        sections += block_kit.sections(
            figures_text(totals.week, title=title, totals=totals).splitlines()
        )
    for circle in lw.not_started:
        sections += _notes_block(notes_text(None, not_started=circle.name))
    first = lw.weeks[0] if lw.weeks else None
    head = _head(Audience.LEADERS, first, week, circles=len(circles), quoted=quoted)
    blocks = [*block_kit.sections([head]), *sections, _footer(Audience.LEADERS)]
    return {"text": _fallback(Audience.LEADERS, week), "blocks": block_kit.fit(blocks)}


# --- deliveries ----------------------------------------------------------------------------------


def leader_circles(session: Session, team_id: str, user_id: str) -> list[Circle]:
    """The live circles where `user_id` is an active leader, by id."""
    return list(
        session.exec(
            select(Circle)
            .join(Membership, col(Membership.circle_id) == col(Circle.id))
            .where(
                Membership.team_id == team_id,
                Membership.user_id == user_id,
                Membership.role == Role.LEADER,
                col(Membership.removed_at).is_(None),
                col(Circle.archived_at).is_(None),
            )
            .order_by(col(Circle.id))
        ).all()
    )


def _is_active(session: Session, circle: Circle, user_id: str, role: Role) -> bool:
    membership = session.exec(
        select(Membership).where(
            Membership.circle_id == circle.id,
            Membership.user_id == user_id,
            col(Membership.removed_at).is_(None),
        )
    ).first()
    return membership is not None and membership.role == role


def _scope_of_leader_digest(session: Session, delivery: Delivery) -> list[Circle]:
    """The circles a leader's digest covers: all they sponsor, or (a manual send) the one it
    was sent from, if they still sponsor it."""
    circles = leader_circles(session, delivery.team_id, delivery.recipient)
    if is_manual(delivery.key):
        return [c for c in circles if c.id == delivery.circle_id]
    return circles


def message_for_delivery(
    session: Session,
    delivery: Delivery,
    circle: Circle,
    readers: Callable[[Circle], ChannelReaders],
) -> Message | None:
    """The message of a digest delivery (bot/delivery/engine.py's builder), or None when it no
    longer applies (the facilitator or leader stepped down meanwhile). `readers` reads who is in a
    circle's channel (bot/reflections/channel_readers.py) for the channel post and facilitators."""
    week = delivery.local_date
    if week is None:
        raise ValueError(f"digest delivery {delivery.id} has no week")
    now = delivery.due_at
    if delivery.kind == DIGEST_CIRCLE:
        return circle_message(session, circle, week=week, now=now, readers=readers(circle))
    if delivery.kind == DIGEST_FACILITATOR:
        if not _is_active(session, circle, delivery.recipient, Role.FACILITATOR):
            return None
        return facilitator_message(session, circle, week=week, now=now, readers=readers(circle))
    if delivery.kind == DIGEST_LEADER:
        circles = _scope_of_leader_digest(session, delivery)
        return leader_message(session, circles, week=week, now=now) if circles else None
    if delivery.kind == DIGEST_CHART:
        return chart_upload(session, delivery)
    raise ValueError(f"not a digest delivery: {delivery.kind!r}")


def chart_upload(session: Session, delivery: Delivery) -> Message | None:
    """The participation chart that follows a leader's digest, as a file to upload: the
    totals' trend, under the same rules as the digest's figures (bot/digest/disclosure.py). None
    when no circle has a figure to draw."""
    parent = session.get(Delivery, delivery.parent_id) if delivery.parent_id else None
    if parent is None or parent.status != DeliveryStatus.SENT or parent.local_date is None:
        return None
    circles = _scope_of_leader_digest(session, parent)
    totals = leader_week(session, circles, week=parent.local_date, now=parent.due_at).totals
    if totals.week is None:
        return None
    trend_weeks, values = totals.week.trend_weeks, list(totals.week.trend)
    png = chart.participation_chart(
        [day_text(monday) for monday in trend_weeks],
        values,
        title=f"Participation, {len(trend_weeks)} weeks to the week of {day_text(trend_weeks[-1])}",
    )
    comment = render(
        "messages/digest_chart_comment.md.j2",
        weeks=len(trend_weeks),
        circles=totals.counted,
        not_counted=totals.not_counted,
        week=day_text(parent.local_date),
    )
    return {
        FILE_UPLOAD: {
            "content": png,
            "filename": f"participation-{parent.local_date.isoformat()}.png",
            "title": "Participation, last 8 weeks",
            "initial_comment": comment,
        }
    }


# --- preview -------------------------------------------------------------------------------------


def message_text(message: Message) -> str:
    """A message's blocks as one mrkdwn text (sections and contexts, in order)."""
    lines: list[str] = []
    for block in message.get("blocks", []):
        if block.get("type") == "section":
            lines.append(str(block["text"]["text"]))
        elif block.get("type") == "context":
            lines += [str(element["text"]) for element in block.get("elements", [])]
    return "\n".join(lines)


@dataclass(frozen=True)
class Preview:
    """Each audience's version of a circle's digest of this week to date."""

    circle_name: str
    channel_id: str
    week: date
    paused: bool
    leaders: Message
    circle: Message
    facilitators: Message
    has_leaders: bool


def preview(session: Session, circle: Circle, *, now: datetime, readers: ChannelReaders) -> Preview:
    """Every audience's digest of this week to date; `readers` are the channel's, read just
    before (the channel part quotes only what they may all read, and the facilitators' part
    names those outside the circle)."""
    tz = circle_zone(session, circle)
    week = week_start(now, tz)
    return Preview(
        circle_name=circle.name,
        channel_id=circle.channel_id,
        week=week,
        paused=is_paused_on(circle, now, local_date_of(now, tz)),
        leaders=leader_message(session, [circle], week=week, now=now),
        circle=circle_message(session, circle, week=week, now=now, readers=readers),
        facilitators=facilitator_message(session, circle, week=week, now=now, readers=readers),
        has_leaders=bool(leaders_of(session, circle).active),
    )


def preview_text(found: Preview) -> str:
    """The preview as one ephemeral text (the slash command's answer)."""
    leaders_title = "Leaders: a DM to each leader (this circle's section)"
    if not found.has_leaders:
        leaders_title += ". No leaders yet, so nobody gets it"
    parts = [
        (leaders_title, found.leaders),
        ("The circle: a post in the channel", found.circle),
        ("Facilitators: a DM to each facilitator", found.facilitators),
    ]
    return render(
        "messages/digest_preview.md.j2",
        circle_name=found.circle_name,
        paused=found.paused,
        parts=[
            {"title": title, "body": Markup(_clip_text(message_text(message)))}  # noqa: S704
            for title, message in parts
        ],
    )


def _clip_text(text: str, limit: int = PREVIEW_PART_CHARS) -> str:
    """Whole lines up to `limit` characters (never a mention or escape cut in half)."""
    if len(text) <= limit:
        return text
    kept: list[str] = []
    size = 0
    for line in text.splitlines():
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, "…"])


def preview_blocks(found: Preview) -> list[Block]:
    """The preview as modal blocks (the App Home's Preview digest button)."""
    blocks: list[Block] = []
    for title, message in (
        ("What leaders get (this circle's section)", found.leaders),
        ("The post in the channel", found.circle),
        ("What facilitators get", found.facilitators),
    ):
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": title}})
        blocks += message["blocks"]
        blocks.append({"type": "divider"})
    return blocks[:-1]


MODAL_BLOCKS = 100


def preview_modal(found: Preview) -> dict[str, Any]:
    """The preview in a modal: the App Home's answer to Preview digest (Home has no
    ephemeral messages)."""
    intro = render(
        "messages/digest_preview.md.j2",
        circle_name=found.circle_name,
        paused=found.paused,
        parts=[],
    )
    blocks = [*block_kit.sections([intro]), *preview_blocks(found)]
    if len(blocks) > MODAL_BLOCKS:
        blocks = [*blocks[: MODAL_BLOCKS - 1], block_kit.context("…and more than fits here.")]
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Digest preview"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


# --- sending now ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManualSend:
    """What `/circle digest send` registers, and for whom."""

    due: list[DueMessage]
    week: date
    facilitators: int
    leaders: int
    no_leaders: bool
    paused: bool


def manual_send(session: Session, circle: Circle, *, now: datetime) -> ManualSend:
    """The digest of this week to date, for every audience, under keys of this minute.

    People away or gone from Slack are left out, as for scheduled digests. The keys differ
    from the scheduled ones, so Monday's digest of the complete week still goes out.
    """
    tz = circle_zone(session, circle)
    week, stamp = week_start(now, tz), manual_stamp(now)
    circle_id = circle.id or 0

    def due(key: str, kind: str, recipient: str) -> DueMessage:
        return DueMessage(
            key=key,
            kind=kind,
            team_id=circle.team_id,
            circle_id=circle_id,
            recipient=recipient,
            due_at=now,
            local_date=week,
        )

    messages = [due(circle_key(circle_id, week, manual=stamp), DIGEST_CIRCLE, circle.channel_id)]
    facilitators = _readers_now(session, circle, Role.FACILITATOR, now=now)
    messages += [
        due(facilitator_key(circle_id, user_id, week, manual=stamp), DIGEST_FACILITATOR, user_id)
        for user_id in facilitators
    ]
    leaders = _readers_now(session, circle, Role.LEADER, now=now)
    messages += [
        due(
            leader_key(circle.team_id, user_id, week, manual=(circle_id, stamp)),
            DIGEST_LEADER,
            user_id,
        )
        for user_id in leaders
    ]
    everyone = leaders_of(session, circle)
    return ManualSend(
        due=messages,
        week=week,
        facilitators=len(facilitators),
        leaders=len(leaders),
        no_leaders=not everyone.active and not everyone.gone,
        paused=is_paused_on(circle, now, local_date_of(now, tz)),
    )


def _readers_now(session: Session, circle: Circle, role: Role, *, now: datetime) -> list[str]:
    """Active members with `role` who can get a DM now: not away today, not gone from Slack."""
    rows = members_with_profiles(session, [circle.id], [role])
    found = []
    for membership, person in rows:
        if left_slack(person):
            continue
        today = local_date_of(now, zone(person.tz if person else None))
        if membership.away_until is not None and today <= membership.away_until:
            continue
        found.append(membership.user_id)
    return found
