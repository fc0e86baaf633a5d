"""What the rhythm subcommands do: schedules, demo days, pause/resume/skip, away/back, settings.

`run()` is called by `circle_commands` for every command in `commands.RHYTHM_COMMANDS`. Like
the rest of `/circle`, it returns an `Outcome`: the answer for the ack, plus a `follow_up` only
for work that has to call Slack.

Time zones
----------
Answers about when things happen are written in the caller's zone, from their `Person` row.
When that row is missing or older than a day, refreshing it means calling users.info, which
must not happen before the ack: the command is then acknowledged at once and answered in a
follow-up. If Slack can't be reached the last known zone is used, or UTC when there is none,
and the answer says so. Only `schedule`, `schedules`, `demoday` and `away` need the caller's
zone; everything else answers from the database alone.

Dates that belong to the circle rather than to a person (`pause until`, `skip`) are read in the
circle's zone: `Circle.tz` when set, else the zone of the facilitator who created the circle (as
last seen by users.info), else UTC. The delivery engine reads demo-day reminders the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot.calendar import timeparse
from bot.calendar.recurrence import (
    local_date_of,
    next_fire_time,
    recurrence_of,
    resolve_wall_time,
)
from bot.calendar.zones import circle_zone, zone
from bot.circles import rules as circles
from bot.circles.rules import Refusal, circle_here
from bot.rhythm import messages
from bot.rhythm.queries import live_demo_days, live_schedules
from bot.slack import mrkdwn, people
from bot.slack.text import day_text, duration_text, slack_date
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import (
    Away,
    Back,
    CancelDemoDay,
    CommandError,
    ListDemoDays,
    ListPromptSets,
    ListSchedules,
    NewDemoDay,
    NewSchedule,
    Pause,
    Resume,
    RhythmCommand,
    SetNudge,
    SetPrompts,
    Skip,
    Unschedule,
)
from prompts import questions, render
from storage.models import (
    Circle,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Schedule,
    ScheduleKind,
    SkipDay,
)

logger = logging.getLogger(__name__)

UTC_ZONE = ZoneInfo("UTC")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
KIND_LABELS = {
    ScheduleKind.CHECKIN: "check-in",
    ScheduleKind.DEBRIEF: "debrief",
    ScheduleKind.DIGEST: "leaders' digest",
    ScheduleKind.PAIRING: "pairing",
}
RECIPIENTS = {
    ScheduleKind.CHECKIN: "participant",
    ScheduleKind.DEBRIEF: "participant",
    ScheduleKind.DIGEST: "leader",
    ScheduleKind.PAIRING: "participant",
}
# Kinds whose dates `/circle skip` accepts (with demo-day reminders).
SKIPPABLE_KINDS = (
    ScheduleKind.CHECKIN,
    ScheduleKind.DEBRIEF,
    ScheduleKind.DIGEST,
    ScheduleKind.PAIRING,
)
MAX_SKIP_AHEAD = timedelta(days=365)
SKIP_EXAMPLES = 3

SUBCOMMAND_NAMES: dict[type, str] = {
    NewSchedule: "schedule",
    ListSchedules: "schedules",
    Unschedule: "unschedule",
    NewDemoDay: "demoday",
    ListDemoDays: "demodays",
    CancelDemoDay: "demoday cancel",
    Pause: "pause",
    Resume: "resume",
    Skip: "skip",
    Away: "away",
    Back: "back",
    SetNudge: "set",
    SetPrompts: "set prompts",
    ListPromptSets: "set prompts",
}
# Who may run what: facilitators change the rhythm; any member may look, or step away.
FACILITATOR_ACTIONS: dict[type, str] = {
    NewSchedule: "schedule check-ins, debriefs and digests",
    Unschedule: "remove schedules",
    NewDemoDay: "plan demo days",
    CancelDemoDay: "cancel demo days",
    Pause: "pause it",
    Resume: "resume it",
    Skip: "skip a date",
    SetNudge: "change its settings",
    SetPrompts: "choose its questions",
}
MEMBER_ACTIONS: dict[type, str] = {
    ListSchedules: "see its schedules",
    ListDemoDays: "see its demo days",
    Away: "mark themselves away",
    Back: "mark themselves back",
    ListPromptSets: "see its question sets",
}
NEEDS_CALLER_ZONE = (NewSchedule, ListSchedules, NewDemoDay, Away)


# --- entry point -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerZone:
    """The caller's time zone, and a note for the answer when it is a stand-in."""

    tz: ZoneInfo
    note: str = ""

    def with_note(self, text: str) -> str:
        return f"_{self.note}_\n{text}" if self.note else text


@dataclass(frozen=True)
class Call:
    """One run of a command: who typed it, when, and the time zone to answer in."""

    inv: Invocation
    now: datetime
    zone: CallerZone

    @property
    def user_id(self) -> str:
        return self.inv.user_id


Step = Callable[[Session, Circle, Any, "Call"], str]


def _run(
    command: RhythmCommand, inv: Invocation, deps: Deps, perform: Callable[[CallerZone], Outcome]
) -> Outcome:
    """The circle of the channel and the caller's rights, then `perform` in the caller's zone
    (looked up with Slack after the ack when the answer needs it and it is not fresh)."""
    now = deps.clock()
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand=SUBCOMMAND_NAMES[type(command)])
        _authorise(session, circle, inv.user_id, command)
        cached = session.get(Person, (inv.team_id, inv.user_id))
    if not isinstance(command, NEEDS_CALLER_ZONE):
        return perform(CallerZone(UTC_ZONE))
    if cached is not None and now - cached.refreshed_at <= people.MAX_AGE:
        return perform(CallerZone(zone(cached.tz)))
    last_known = cached.tz if cached is not None else None

    def follow_up() -> str | None:
        outcome = perform(_look_up_zone(deps, inv, now, last_known))
        later = outcome.follow_up() if outcome.follow_up else None
        return "\n".join(part for part in (outcome.ack_text, later) if part)

    return Outcome("Checking your time zone with Slack…", follow_up)


def _authorise(session: Session, circle: Circle, user_id: str, command: RhythmCommand) -> None:
    kind = type(command)
    if kind in FACILITATOR_ACTIONS:
        circles.require_facilitator(session, circle, user_id, FACILITATOR_ACTIONS[kind])
    else:
        circles.require_member(session, circle, user_id, MEMBER_ACTIONS[kind])


def _handler(step: Step) -> Callable[[Any, Invocation, Deps], Outcome]:
    """A subcommand that does `step` in one unit of work (the circle and the caller's rights
    checked again inside it)."""

    def handle(command: RhythmCommand, inv: Invocation, deps: Deps) -> Outcome:
        def perform(zone: CallerZone) -> Outcome:
            now = deps.clock()
            with deps.db.session() as session:
                circle = circle_here(session, inv, subcommand=SUBCOMMAND_NAMES[type(command)])
                _authorise(session, circle, inv.user_id, command)
                return Outcome(step(session, circle, command, Call(inv, now, zone)))

        return _run(command, inv, deps, perform)

    return handle


def cancel_demo_day(command: CancelDemoDay, inv: Invocation, deps: Deps) -> Outcome:
    """Cancelling tells the channel, after the ack."""
    return _run(
        command, inv, deps, lambda _zone: _cancel_demo_day(command, inv, deps, deps.clock())
    )


def _look_up_zone(deps: Deps, inv: Invocation, now: datetime, last_known: str | None) -> CallerZone:
    try:
        found = people.look_up_people(deps.db, deps.client, inv.team_id, [inv.user_id], now=now)
    except people.SlackUnavailable:
        logger.warning("could not refresh the caller's time zone", exc_info=True)
        found = {}
    answer = found.get(inv.user_id)
    if isinstance(answer, Person):
        return CallerZone(zone(answer.tz))
    if last_known is not None:
        return CallerZone(
            zone(last_known),
            f"I couldn't get your time zone from Slack, so I used the one I last saw "
            f"({zone(last_known).key}).",
        )
    return CallerZone(UTC_ZONE, "I couldn't get your time zone from Slack, so I used UTC.")


# --- time helpers ------------------------------------------------------------------------------


def moment_text(moment: datetime, tz: ZoneInfo, now: datetime) -> str:
    """`Mon 7 Dec, 09:00 (Europe/London)`; the year is shown when it isn't the current one."""
    local = moment.astimezone(tz)
    year = "" if local.year == now.astimezone(tz).year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}, {local:%H:%M} ({tz.key})"


def _clock(at_minute: int) -> str:
    return f"{at_minute // 60:02d}:{at_minute % 60:02d}"


def kind_label(schedule: Schedule) -> str:
    return KIND_LABELS.get(ScheduleKind(schedule.kind), schedule.kind)


def rule_text(schedule: Schedule) -> str:
    """`every Monday; each participant gets it at 09:00 in their own time zone`."""
    day = WEEKDAY_NAMES[schedule.weekday]
    every = (
        f"every {day}"
        if schedule.interval_weeks == 1
        else f"every {schedule.interval_weeks} weeks on {day}"
    )
    at = _clock(schedule.at_minute)
    if schedule.pinned_tz:
        return f"{every}, at {at} {schedule.pinned_tz} for everyone"
    who = RECIPIENTS.get(ScheduleKind(schedule.kind), "participant")
    return f"{every}; each {who} gets it at {at} in their own time zone"


def next_occurrence(schedule: Schedule, caller_tz: ZoneInfo, now: datetime) -> datetime:
    """The next fire after `now`: in the pinned zone, else as the caller would get it."""
    tz = zone(schedule.pinned_tz) if schedule.pinned_tz else caller_tz
    return next_fire_time(recurrence_of(schedule), tz, now)


def paused_until_text(circle: Circle, today: date) -> str | None:
    """`2026-12-31 (inclusive)` or `/circle resume` while paused on `today`, else None."""
    if circle.paused_at is None:
        return None
    if circle.paused_until is None:
        return "someone runs `/circle resume`"
    if circle.paused_until < today:
        return None
    return f"{circle.paused_until.isoformat()} (inclusive)"


def pause_note(session: Session, circle: Circle, now: datetime) -> str:
    until = paused_until_text(circle, local_date_of(now, circle_zone(session, circle)))
    if until is None:
        return ""
    return f"\nThe circle is paused until {until}; nothing is sent until then."


def _ids(ids: Iterable[int | None]) -> str:
    shown = [f"#{i}" for i in ids]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


# --- schedules ---------------------------------------------------------------------------------


def _new_schedule(session: Session, circle: Circle, command: NewSchedule, call: Call) -> str:
    now, zone = call.now, call.zone
    schedule = Schedule(
        team_id=circle.team_id,
        circle_id=circle.id,  # type: ignore[arg-type]
        kind=command.kind,
        weekday=command.weekday,
        at_minute=command.at.hour * 60 + command.at.minute,
        interval_weeks=command.interval_weeks,
        anchor=local_date_of(now, zone.tz),
        # Pairs are formed once for the whole circle: in its zone unless another is given.
        pinned_tz=command.pinned_tz
        or (circle_zone(session, circle).key if command.kind == ScheduleKind.PAIRING else None),
        created_by=call.user_id,
        created_at=now,
    )
    session.add(schedule)
    session.flush()
    label = kind_label(schedule)
    lines = [
        f"Scheduled the {label} (#{schedule.id}): {rule_text(schedule)}.",
        f"Next: {moment_text(next_occurrence(schedule, zone.tz, now), zone.tz, now)}.",
    ]
    same_kind = [s.id for s in live_schedules(session, circle) if s.kind == command.kind]
    if len(same_kind) > 1:
        lines.append(
            f"This circle now has {len(same_kind)} {label} schedules: {_ids(same_kind)}. "
            f"If that's not what you meant, remove one, e.g. `/circle unschedule {schedule.id}`."
        )
    return zone.with_note("\n".join(lines) + pause_note(session, circle, now))


def _list_schedules(session: Session, circle: Circle, _command: ListSchedules, call: Call) -> str:
    now, zone = call.now, call.zone
    items = [
        {
            "id": schedule.id,
            "kind": kind_label(schedule),
            "rule": rule_text(schedule),
            "next": moment_text(next_occurrence(schedule, zone.tz, now), zone.tz, now),
        }
        for schedule in live_schedules(session, circle)
    ]
    text = render(
        "messages/schedules.md.j2",
        circle_name=circle.name,
        items=items,
        zone=zone.tz.key,
        pause_note=pause_note(session, circle, now).strip(),
    )
    return zone.with_note(text)


def _unschedule(session: Session, circle: Circle, command: Unschedule, call: Call) -> str:
    now = call.now
    schedule = session.get(Schedule, command.schedule_id)
    live = live_schedules(session, circle)
    if schedule is None or schedule.circle_id != circle.id:
        raise Refusal(
            f"There is no schedule #{command.schedule_id} in *{mrkdwn.escape(circle.name)}*. "
            + _valid_schedule_ids(live)
        )
    if schedule.removed_at is not None:
        raise Refusal(
            f"Schedule #{schedule.id} was already removed on {schedule.removed_at:%Y-%m-%d}. "
            + _valid_schedule_ids(live)
        )
    schedule.removed_at = now
    session.add(schedule)
    return (
        f"Removed the {kind_label(schedule)} schedule #{schedule.id} ({rule_text(schedule)}). "
        "Nothing more is sent for it."
    )


def _valid_schedule_ids(live: list[Schedule]) -> str:
    if not live:
        return (
            "The circle has no schedules right now; add one with "
            "`/circle schedule checkin mon 09:00`."
        )
    listed = ", ".join(f"#{s.id} ({kind_label(s)})" for s in live)
    return f"Its schedules are {listed}, e.g. `/circle unschedule {live[0].id}`."


# --- demo days ---------------------------------------------------------------------------------


def _new_demo_day(session: Session, circle: Circle, command: NewDemoDay, call: Call) -> str:
    now, zone = call.now, call.zone
    try:
        spec = timeparse.parse_demoday(list(command.words), caller_tz=zone.tz, now=now)
    except timeparse.ParseError as error:
        raise Refusal(zone.with_note(mrkdwn.escape(str(error)))) from None
    demo = DemoDay(
        team_id=circle.team_id,
        circle_id=circle.id,  # type: ignore[arg-type]
        title=spec.title,
        starts_at=spec.starts_at,
        reminder_offsets=",".join(str(int(r.total_seconds())) for r in spec.reminders),
        created_by=call.user_id,
        created_at=now,
    )
    session.add(demo)
    session.flush()
    lines = [
        f"Planned demo day #{demo.id} *{mrkdwn.escape(spec.title)}*: "
        f"{slack_date(spec.starts_at, zone.tz)}."
    ]
    if spec.reminders:
        reminders = "; ".join(
            f"{duration_text(r)} before ({slack_date(spec.starts_at - r, zone.tz)})"
            for r in spec.reminders
        )
        lines.append(f"The channel is reminded {reminders}.")
    else:
        lines.append("No reminders will be posted.")
    lines.append(f"`/circle demoday cancel {demo.id}` cancels it.")
    return zone.with_note("\n".join(lines) + pause_note(session, circle, now))


def _list_demo_days(session: Session, circle: Circle, _command: ListDemoDays, call: Call) -> str:
    now = call.now
    upcoming = [d for d in live_demo_days(session, circle) if d.starts_at > now]
    counts: dict[int, int] = {}
    if upcoming:
        rows = session.exec(
            select(DemoSignup.demo_day_id, func.count())
            .where(col(DemoSignup.demo_day_id).in_([d.id for d in upcoming]))
            .group_by(col(DemoSignup.demo_day_id))
        ).all()
        counts = {demo_day_id: count for demo_day_id, count in rows}
    items = [
        {
            "id": demo.id,
            "title": demo.title,
            # Built from a number and a zone name only, so it may go into the template as is.
            "when": Markup(slack_date(demo.starts_at, UTC_ZONE)),  # noqa: S704
            "signups": counts.get(demo.id or 0, 0),
        }
        for demo in upcoming
    ]
    return render(
        "messages/demodays.md.j2",
        circle_name=circle.name,
        items=items,
        pause_note=pause_note(session, circle, now).strip(),
    )


def _cancel_demo_day(command: CancelDemoDay, inv: Invocation, deps: Deps, now: datetime) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="demoday cancel")
        _authorise(session, circle, inv.user_id, command)
        demo = session.get(DemoDay, command.demo_day_id)
        if demo is None or demo.circle_id != circle.id:
            raise Refusal(
                f"There is no demo day #{command.demo_day_id} in "
                f"*{mrkdwn.escape(circle.name)}*. " + _valid_demo_day_ids(session, circle, now)
            )
        if demo.cancelled_at is not None:
            raise Refusal(
                f"Demo day #{demo.id} *{mrkdwn.escape(demo.title)}* was already cancelled on "
                f"{demo.cancelled_at:%Y-%m-%d}."
            )
        if demo.starts_at <= now:
            raise Refusal(
                f"Demo day #{demo.id} *{mrkdwn.escape(demo.title)}* already took place "
                f"({slack_date(demo.starts_at, UTC_ZONE)}), so there is nothing to cancel."
            )
        demo.cancelled_at, demo.cancelled_by = now, inv.user_id
        session.add(demo)
        title, starts_at, channel_id = demo.title, demo.starts_at, circle.channel_id
        circle_name = circle.name
        label = f"demo day #{demo.id} *{mrkdwn.escape(title)}* ({slack_date(starts_at, UTC_ZONE)})"

    def follow_up() -> str | None:
        try:
            deps.client.chat_postMessage(
                channel=channel_id,
                **messages.demoday_cancelled_message(
                    circle_name=circle_name,
                    title=title,
                    starts_at=starts_at,
                    cancelled_by=inv.user_id,
                ),
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else None
            logger.warning(
                "could not announce a cancelled demo day: %s", error or type(exc).__name__
            )
            hint = (
                " Invite me with `/invite @Circlebot` so I can post there."
                if error in ("not_in_channel", "channel_not_found")
                else ""
            )
            return (
                f"I couldn't tell the channel that {label} is cancelled "
                f"({error or 'Slack could not be reached'}). It stays cancelled; please let "
                f"people know yourself.{hint}"
            )
        return None

    return Outcome(
        f"Cancelled {label}. Its reminders won't be posted; I'm telling the channel.", follow_up
    )


def _valid_demo_day_ids(session: Session, circle: Circle, now: datetime) -> str:
    upcoming = [d for d in live_demo_days(session, circle) if d.starts_at > now]
    if not upcoming:
        return "It has no upcoming demo days."
    listed = ", ".join(f"#{d.id} (*{mrkdwn.escape(d.title)}*)" for d in upcoming)
    return f"Its upcoming demo days are {listed}, e.g. `/circle demoday cancel {upcoming[0].id}`."


# --- pause, resume, skip -----------------------------------------------------------------------


def _not_in_the_past(day: date, today: date, tz: ZoneInfo, sub: str, why: str) -> None:
    if day < today:
        raise CommandError(
            f"{day.isoformat()} is in the past: it is {today.isoformat()} in {tz.key}, {why}. "
            "Use today or a later date.",
            usage=sub,
        )


def _pause(session: Session, circle: Circle, command: Pause, call: Call) -> str:
    now = call.now
    tz = circle_zone(session, circle)
    today = local_date_of(now, tz)
    if command.until is not None:
        _not_in_the_past(command.until, today, tz, "pause", "the circle's time zone")
    before = paused_until_text(circle, today)
    if before is None:
        circle.paused_at = now
    circle.paused_until = command.until
    session.add(circle)
    name = mrkdwn.escape(circle.name)
    if command.until is None:
        text = (
            f"Paused *{name}*: no check-ins, debriefs, digests or demo-day reminders are sent "
            "until someone runs `/circle resume`."
        )
    else:
        text = (
            f"Paused *{name}* until {day_text(command.until, year=True)} (inclusive, {tz.key}): no "
            "check-ins, debriefs, digests or demo-day reminders are sent until then. "
            "`/circle resume` ends the pause early."
        )
    if before is not None:
        text = f"It was already paused until {before}. " + text
    return text


def _resume(session: Session, circle: Circle, _command: Resume, call: Call) -> str:
    now = call.now
    today = local_date_of(now, circle_zone(session, circle))
    name = mrkdwn.escape(circle.name)
    was_paused = paused_until_text(circle, today) is not None
    circle.paused_at, circle.paused_until = None, None
    session.add(circle)
    if not was_paused:
        return f"*{name}* isn't paused, so there is nothing to resume."
    return f"Resumed *{name}*: scheduled messages go out again from now on."


def occurrences_on(
    schedules: list[Schedule], demo_days: list[DemoDay], tz: ZoneInfo, day: date
) -> list[str]:
    """What the circle sends on the local date `day`.

    A check-in, debrief or digest schedule counts on the dates it fires: a pinned schedule on
    the local date in its pinned zone, an unpinned one on its weekday in the weeks of its series
    (each recipient gets it on that date of their own calendar). A demo-day reminder counts on
    its local date in `tz`, the circle's zone (see the module docstring).
    """
    found: list[str] = []
    for schedule in schedules:
        if ScheduleKind(schedule.kind) not in SKIPPABLE_KINDS:
            continue
        fire_tz = zone(schedule.pinned_tz) if schedule.pinned_tz else tz
        start = resolve_wall_time(day, time(0, 0), fire_tz) - timedelta(microseconds=1)
        fire = next_fire_time(recurrence_of(schedule), fire_tz, start)
        if local_date_of(fire, fire_tz) == day:
            found.append(f"{kind_label(schedule)} #{schedule.id}")
    for demo in demo_days:
        for offset in demo.offsets_seconds:
            if local_date_of(demo.starts_at - timedelta(seconds=offset), tz) == day:
                found.append(f"a reminder of demo day #{demo.id} *{mrkdwn.escape(demo.title)}*")
    return found


def next_occurrence_days(
    schedules: list[Schedule],
    demo_days: list[DemoDay],
    tz: ZoneInfo,
    now: datetime,
    *,
    leave_out: set[date],
    count: int,
) -> list[date]:
    """The local dates of the circle's next `count` sends after `now` (for examples)."""
    days: set[date] = set()
    for schedule in schedules:
        if ScheduleKind(schedule.kind) not in SKIPPABLE_KINDS:
            continue
        fire_tz = zone(schedule.pinned_tz) if schedule.pinned_tz else tz
        moment, found = now, 0
        while found < count:
            moment = next_fire_time(recurrence_of(schedule), fire_tz, moment)
            if local_date_of(moment, fire_tz) not in leave_out:
                days.add(local_date_of(moment, fire_tz))
                found += 1
    for demo in demo_days:
        for offset in demo.offsets_seconds:
            moment = demo.starts_at - timedelta(seconds=offset)
            if moment > now and local_date_of(moment, tz) not in leave_out:
                days.add(local_date_of(moment, tz))
    return sorted(days)[:count]


def _skip(session: Session, circle: Circle, command: Skip, call: Call) -> str:
    """Skip one local date, if the circle sends something on it.

    "Today" and demo-day reminders are read in the circle's zone: `Circle.tz`, else the zone of
    the facilitator who created the circle, else UTC when that is unknown. A date counts as
    scheduled when a live check-in, debrief or digest schedule fires on it (in its pinned zone,
    or on its weekday for everyone) or a demo-day reminder falls on it; any other date is
    refused, with the next scheduled dates as examples.
    """
    now = call.now
    tz = circle_zone(session, circle)
    today = local_date_of(now, tz)
    _not_in_the_past(command.day, today, tz, "skip", "the circle's time zone")
    if command.day - today > MAX_SKIP_AHEAD:
        raise CommandError(
            f"{command.day.isoformat()} is more than a year away; dates can be skipped up to "
            "365 days ahead.",
            usage="skip",
        )
    skipped = {
        row.day for row in session.exec(select(SkipDay).where(SkipDay.circle_id == circle.id))
    }
    if command.day in skipped:
        return f"{day_text(command.day, year=True)} is already skipped: nothing is sent that day."
    schedules = live_schedules(session, circle)
    demo_days = live_demo_days(session, circle)
    found = occurrences_on(schedules, demo_days, tz, command.day)
    if not found:
        raise Refusal(_nothing_to_skip(circle, schedules, demo_days, tz, now, command, skipped))
    session.add(
        SkipDay(
            team_id=circle.team_id,
            circle_id=circle.id,  # type: ignore[arg-type]
            day=command.day,
            created_by=call.user_id,
            created_at=now,
        )
    )
    try:
        session.flush()
    except IntegrityError:  # someone skipped the same date at the same moment
        session.rollback()
        return f"{day_text(command.day, year=True)} is already skipped: nothing is sent that day."
    return (
        f"Skipped {day_text(command.day, year=True)} ({tz.key}): nothing of "
        f"*{mrkdwn.escape(circle.name)}* is sent that day ({', '.join(found)})."
    )


def _nothing_to_skip(
    circle: Circle,
    schedules: list[Schedule],
    demo_days: list[DemoDay],
    tz: ZoneInfo,
    now: datetime,
    command: Skip,
    skipped: set[date],
) -> str:
    lead = (
        f"Nothing of *{mrkdwn.escape(circle.name)}* is scheduled on "
        f"{day_text(command.day, year=True)} ({tz.key}), so there is nothing to skip."
    )
    upcoming = next_occurrence_days(
        schedules, demo_days, tz, now, leave_out=skipped, count=SKIP_EXAMPLES
    )
    if not upcoming:
        return (
            f"{lead} The circle has no check-ins, debriefs, digests or demo-day reminders "
            "coming up. To stop everything for a while use e.g. "
            f"`/circle pause until {(local_date_of(now, tz) + timedelta(days=14)).isoformat()}`."
        )
    examples = ", ".join(f"`/circle skip {day.isoformat()}`" for day in upcoming)
    return f"{lead} The next days with something scheduled: {examples}."


# --- away, back, settings ----------------------------------------------------------------------


def _membership(session: Session, circle: Circle, user_id: str) -> Membership:
    membership = circles.membership_of(session, circle, user_id)
    assert membership is not None  # _authorise required an active membership
    return membership


def _away(session: Session, circle: Circle, command: Away, call: Call) -> str:
    now, zone = call.now, call.zone
    today = local_date_of(now, zone.tz)
    _not_in_the_past(command.until, today, zone.tz, "away", "your time zone")
    membership = _membership(session, circle, call.user_id)
    membership.away_until = command.until
    session.add(membership)
    return zone.with_note(
        f"You're away until {day_text(command.until, year=True)} (inclusive): "
        f"*{mrkdwn.escape(circle.name)}* sends you no check-ins, debriefs, digests or nudges "
        "until then. `/circle back` ends it early."
    )


def _back(session: Session, circle: Circle, _command: Back, call: Call) -> str:
    membership = _membership(session, circle, call.user_id)
    name = mrkdwn.escape(circle.name)
    if membership.away_until is None:
        return f"You aren't marked away in *{name}*, so nothing changed."
    membership.away_until = None
    session.add(membership)
    return f"Welcome back: *{name}* sends you its messages again."


def _set_nudge(session: Session, circle: Circle, command: SetNudge, _call: Call) -> str:
    circle.nudge_after_minutes = command.minutes
    session.add(circle)
    name = mrkdwn.escape(circle.name)
    if command.minutes is None:
        return (
            f"Nudges for *{name}* are off: nobody is reminded about a check-in they haven't "
            "answered. Turn them back on with e.g. `/circle set nudge 24h`."
        )
    after = duration_text(timedelta(minutes=command.minutes))
    return (
        f"Nudges for *{name}*: anyone who hasn't answered a check-in gets one reminder "
        f"{after} after it."
    )


# --- question sets -----------------------------------------------------------------------------


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _set_summary(question_set: questions.QuestionSet) -> str:
    counts = (
        f"{_count(len(question_set.checkin), 'check-in question')}, "
        f"{_count(len(question_set.debrief), 'debrief question')}"
    )
    if question_set.description:
        return f"{mrkdwn.escape(question_set.description)} ({counts})"
    return counts


def _set_names(library: questions.QuestionLibrary) -> str:
    names = [f"`{name}`" for name in library.names()]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _list_prompt_sets(
    _session: Session, circle: Circle, _command: ListPromptSets, _call: Call
) -> str:
    library = questions.library()
    name = mrkdwn.escape(circle.name)
    lines = [f"Question sets for *{name}* (choose one with `/circle set prompts &lt;set&gt;`):"]
    for set_name in library.names():
        in_use = " · *in use*" if set_name == circle.prompt_set else ""
        lines.append(f"• `{set_name}`{in_use}: {_set_summary(library.get(set_name))}")
    if circle.prompt_set not in library:
        lines.append(
            f"_*{name}* is set to `{mrkdwn.escape(circle.prompt_set)}`, which isn't available "
            "any more: choose one of these._"
        )
    return "\n".join(lines)


def _set_prompts(session: Session, circle: Circle, command: SetPrompts, _call: Call) -> str:
    library = questions.library()
    name = mrkdwn.escape(circle.name)
    if command.name not in library:
        raise Refusal(
            f"There is no question set called `{mrkdwn.escape(command.name)}`. The sets are "
            f"{_set_names(library)}: `/circle set prompts` shows what each one asks."
        )
    if command.name == circle.prompt_set:
        return f"*{name}* already asks the `{command.name}` questions, so nothing changed."
    chosen = library.get(command.name)
    circle.prompt_set = command.name
    session.add(circle)
    lines = [
        f"From the next check-in and debrief, *{name}* asks the `{command.name}` questions "
        "(reflections already written keep their answers)."
    ]
    for title, asked in (("Check-in", chosen.checkin), ("Debrief", chosen.debrief)):
        lines.append(f"*{title}*")
        lines.extend(
            f"{number}. {mrkdwn.escape(q.label)}{'' if q.required else ' _(optional)_'}"
            for number, q in enumerate(asked, start=1)
        )
    return "\n".join(lines)


# The handlers bot/subcommands.py routes each subcommand to.
new_schedule = _handler(_new_schedule)
list_schedules = _handler(_list_schedules)
unschedule = _handler(_unschedule)
new_demo_day = _handler(_new_demo_day)
list_demo_days = _handler(_list_demo_days)
pause = _handler(_pause)
resume = _handler(_resume)
skip = _handler(_skip)
away = _handler(_away)
back = _handler(_back)
set_nudge = _handler(_set_nudge)
set_prompts = _handler(_set_prompts)
list_prompt_sets = _handler(_list_prompt_sets)
