"""The App Home tab and its "show all" modals: rows read from the database, then Block Kit.

Reading (`home_view`, `list_modal`) gathers what one person may see into plain rows:
- their live circles, their role and their next check-in in their own zone (or the schedule's
  pinned one), or why there is none (no schedule, paused, away);
- their open action items (`bot.action_items.open_items`) with a Done button each;
- their last reflections (through `bot.visibility.readable_by`, like every reader) with Edit;
- for each circle they facilitate, this week at a glance, with a "Check in now" button;
- what was shared with each circle they take part in (the week's highlights): a channel post
  quotes only what everyone in the channel may read (bot/channel_readers.py), so the circle's
  own people find the rest here, read through the same visibility rule.

Building (`build_home`, `build_list_modal`) is pure. Slack's limits hold by construction
whatever the data: at most 100 blocks per view (long lists are cut, with a count and a
"Show all" button; the modal cuts again with a count), section text at most 3000 characters,
button text at most 75. Everything a person wrote (circle names, action items, answers,
demo-day titles) is escaped before it enters mrkdwn.
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
from bot.circles.rules import Refusal, is_paused_on
from bot.digest import compose as digest
from bot.reflections.action_items import open_items
from bot.reflections.visibility import readable_by, readable_for_role
from bot.rhythm.commands import live_demo_days, live_schedules, next_occurrence, paused_until_text
from bot.rhythm.messages import ACTION_REFLECTION_EDIT
from bot.slack import block_kit, mrkdwn
from bot.slack.block_kit import Block
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

# action_ids of the Home's buttons; the handlers register the same names.
ACTION_ITEM_DONE = "action_item_done"
ACTION_CHECKIN_NOW = "home_checkin_now"
ACTION_SHOW_ALL = "home_show_all"
ACTION_DIGEST_PREVIEW = "home_digest_preview"  # value: the circle id; opens a modal
LIST_MODAL_CALLBACK_ID = "home_list"
NOTICE_BLOCK_ID = "home_notice"

# What a "Show all" button opens (its value, and the modal's private_metadata).
LIST_CIRCLES = "circles"
LIST_ITEMS = "action_items"
LIST_FACILITATED = "facilitated"
LISTS = (LIST_CIRCLES, LIST_ITEMS, LIST_FACILITATED)

MAX_VIEW_BLOCKS = 100
MAX_SECTION_CHARS = 3000
MAX_BUTTON_CHARS = 75

# How much of each list the Home shows; the rest is behind "Show all". With every list full
# the Home stays near 50 blocks, far from Slack's 100.
HOME_CIRCLES_SHOWN = 10
HOME_ITEMS_SHOWN = 10
HOME_REFLECTIONS_SHOWN = 5
HOME_GLANCES_SHOWN = 5
HOME_HIGHLIGHTS_SHOWN = 5  # circles
HIGHLIGHTS_PER_CIRCLE = 3
# Rows in a "Show all" modal: one block each, plus header, notice and the "…and N more" line.
MODAL_ROWS_SHOWN = 90

# Characters of person-written text shown before escaping (escaping at most quintuples them,
# so 90 modal rows stay far below Slack's 250 kB per view).
ITEM_CHARS = 300
EXCERPT_CHARS = 150
# How many fires of a schedule to look through for one that is not paused, skipped or away.
NEXT_CHECKIN_SEARCH = 60

DM_KINDS = ("checkin", "debrief")
KIND_LABELS = {"checkin": "Check-in", "debrief": "Debrief"}
VISIBILITY_LABELS: dict[str, str] = {
    Visibility.PRIVATE: "only you",
    Visibility.CIRCLE: "your circle",
    Visibility.LEADERS: "your circle and the leaders' digest",
}
ROLE_NAMES: dict[str, str] = {
    Role.FACILITATOR: "a facilitator",
    Role.LEADER: "a leader",
    Role.PARTICIPANT: "a participant",
}

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


def home_view(
    session: Session, *, team_id: str, user_id: str, now: datetime, notice: str | None = None
) -> View:
    """The Home tab of `user_id`, with an optional notice (the result of their last click)."""
    tz = viewer_zone(session, team_id, user_id)
    memberships = circles.circles_of(session, team_id, user_id)
    data = HomeData(
        tz=tz,
        circles=circle_rows(session, memberships, tz, now, limit=HOME_CIRCLES_SHOWN),
        items=item_rows(session, team_id, user_id, tz, now, limit=HOME_ITEMS_SHOWN),
        reflections=reflection_rows(session, team_id, user_id, limit=HOME_REFLECTIONS_SHOWN),
        glances=glances(session, memberships, now, limit=HOME_GLANCES_SHOWN),
        highlights=circle_highlights(session, memberships, now, limit=HOME_HIGHLIGHTS_SHOWN),
    )
    return build_home(data, notice=notice)


def list_modal(
    session: Session,
    *,
    what: str,
    team_id: str,
    user_id: str,
    now: datetime,
    notice: str | None = None,
) -> View:
    """The "Show all" modal for one of `LISTS`."""
    if what not in LISTS:
        raise ValueError(f"no list {what!r}; expected one of {LISTS}")
    tz = viewer_zone(session, team_id, user_id)
    memberships = circles.circles_of(session, team_id, user_id)
    if what == LIST_CIRCLES:
        rows = circle_rows(session, memberships, tz, now, limit=MODAL_ROWS_SHOWN)
        return build_list_modal(what, [_circle_block(r) for r in rows.shown], rows, notice)
    if what == LIST_ITEMS:
        items = item_rows(session, team_id, user_id, tz, now, limit=MODAL_ROWS_SHOWN)
        return build_list_modal(what, [_item_block(r) for r in items.shown], items, notice)
    found = glances(session, memberships, now, limit=MODAL_ROWS_SHOWN)
    blocks = [_glance_block(g, tz) for g in found.shown]
    return build_list_modal(what, blocks, found, notice)


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
            if not (is_paused_on(circle, moment, day) or day in skipped or away):
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
    quotes its members may read (bot/visibility.py) from this week, or else last week: what
    the channel post may have had to leave out."""
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


def build_home(data: HomeData, *, notice: str | None = None) -> View:
    blocks: list[Block] = [block_kit.header("Your peer coaching circles")]
    if notice:
        blocks.append(_notice(notice))
    if not data.circles.total:
        blocks.append(
            block_kit.section(
                "You're not in a circle yet. A facilitator adds people with `/circle add @you`, "
                "or start one in a channel with `/circle create &lt;name&gt;`."
            )
        )
    blocks += [_circle_block(row) for row in data.circles.shown]
    blocks += _more(data.circles.hidden, data.circles.total, LIST_CIRCLES, "circles")

    if data.items.total:
        blocks += [{"type": "divider"}, block_kit.header("Your action items")]
        blocks += [_item_block(row) for row in data.items.shown]
        blocks += _more(data.items.hidden, data.items.total, LIST_ITEMS, "action items")

    if data.reflections:
        blocks += [{"type": "divider"}, block_kit.header("Your last reflections")]
        blocks += [_reflection_block(row) for row in data.reflections]

    if data.highlights:
        blocks += [{"type": "divider"}, block_kit.header("Shared with your circles")]
        blocks += [_highlights_block(row) for row in data.highlights]

    if data.glances.total:
        blocks += [
            {"type": "divider"},
            block_kit.header("Circles you facilitate: this week at a glance"),
        ]
        for glance in data.glances.shown:
            blocks += [_glance_block(glance, data.tz), _digest_preview_actions(glance)]
        blocks += _more(
            data.glances.hidden, data.glances.total, LIST_FACILITATED, "circles you facilitate"
        )

    blocks.append({"type": "divider"})
    blocks.append(
        block_kit.context("Type `/circle help` in any channel to see what Circlebot can do.")
    )
    return {"type": "home", "blocks": block_kit.fit(blocks, MAX_VIEW_BLOCKS, keep_last=False)}


MODAL_TITLES = {
    LIST_CIRCLES: "Your circles",
    LIST_ITEMS: "Your action items",
    LIST_FACILITATED: "Circles you facilitate",
}
MODAL_EMPTY = {
    LIST_CIRCLES: "You're not in a circle any more.",
    LIST_ITEMS: "You have no open action items. Well done!",
    LIST_FACILITATED: "You don't facilitate a circle any more.",
}


def build_list_modal(what: str, rows: list[Block], counts: Rows[Any], notice: str | None) -> View:
    blocks: list[Block] = []
    if notice:
        blocks.append(_notice(notice))
    blocks += rows or [block_kit.section(MODAL_EMPTY[what])]
    if counts.hidden > 0:
        blocks.append(
            block_kit.context(
                f"Showing the first {len(counts.shown)} of {counts.total}. "
                f"…and {counts.hidden} more."
            )
        )
    return {
        "type": "modal",
        "callback_id": LIST_MODAL_CALLBACK_ID,
        "private_metadata": what,  # which list, so a click inside can refresh it
        "title": block_kit.plain(MODAL_TITLES[what]),
        "close": block_kit.plain("Close"),
        "blocks": block_kit.fit(blocks, MAX_VIEW_BLOCKS, keep_last=False),
    }


def _circle_block(row: CircleRow) -> Block:
    return block_kit.section(
        f"*{mrkdwn.escape(row.name)}* in {mrkdwn.channel(row.channel_id)}"
        f"\nYou are {ROLE_NAMES.get(row.role, 'a member')}. {row.next_checkin}"
    )


def _item_block(row: ItemRow) -> Block:
    if row.due_date is None:
        due = "no due date"
    elif row.due_date < row.today:
        due = f":warning: *overdue* since {day_text(row.due_date, year=True)}"
    elif row.due_date == row.today:
        due = "due *today*"
    else:
        due = f"due {day_text(row.due_date, year=True)}"
    text = f"{_excerpt(row.text, ITEM_CHARS)}\n_{mrkdwn.escape(row.circle_name)}_ · {due}"
    return block_kit.section(
        text, accessory=block_kit.button("Done", ACTION_ITEM_DONE, str(row.item_id))
    )


def _reflection_block(row: ReflectionRow) -> Block:
    kind = KIND_LABELS.get(row.kind, row.kind)
    week = f"week of {row.week_start.day} {row.week_start:%b %Y}"
    shared = VISIBILITY_LABELS.get(row.visibility, row.visibility)
    edited = " · _edited_" if row.edited else ""
    excerpt = _excerpt(row.excerpt, EXCERPT_CHARS) if row.excerpt else "_(no written answer)_"
    text = (
        f"*{kind}* · {week} · *{mrkdwn.escape(row.circle_name)}* · shared with {shared}{edited}"
        f"\n{excerpt}"
    )
    return block_kit.section(
        text, accessory=block_kit.button("Edit", ACTION_REFLECTION_EDIT, str(row.reflection_id))
    )


def _highlights_block(row: Highlights) -> Block:
    week = f"{row.week_start:%a} {row.week_start.day} {row.week_start:%b}"
    lines = [f"*{mrkdwn.escape(row.circle_name)}*, the week of {week}"]
    for quote in row.quotes:
        author = quote.author if quote.author is not None else "name not shared"
        lines.append(f"> {_excerpt(quote.text, EXCERPT_CHARS)}\n— {author}, {quote.kind}")
    if row.more:
        lines.append(f"_…and {row.more} more._")
    return block_kit.section("\n".join(lines))


def _glance_block(glance: Glance, tz: ZoneInfo) -> Block:
    since = f"{glance.week_start:%a} {glance.week_start.day} {glance.week_start:%b}"
    lines = [
        f"*{mrkdwn.escape(glance.name)}* in {mrkdwn.channel(glance.channel_id)}",
        f"This week (since {since}): sent {glance.sent} · answered {glance.answered} · "
        f"skipped {glance.skipped} · failed {glance.failed}",
    ]
    if glance.next_demo is None:
        demo = "no demo day planned"
    else:
        title, starts_at = glance.next_demo
        demo = f"next demo day *{mrkdwn.escape(title)}*, {slack_date(starts_at, tz)}"
    lines.append(f"Open action items: {glance.open_items} · {demo}")
    if glance.paused_until is not None:
        lines.append(f"_Paused until {glance.paused_until}._")
    button = block_kit.button("Check in now", ACTION_CHECKIN_NOW, str(glance.circle_id))
    button["confirm"] = {
        "title": block_kit.plain("Send a check-in now?"),
        "text": block_kit.plain(
            "Every participant of this circle gets a check-in DM now "
            "(people who are away are left out)."
        ),
        "confirm": block_kit.plain("Send"),
        "deny": block_kit.plain("Cancel"),
    }
    return block_kit.section("\n".join(lines), accessory=button)


def _digest_preview_actions(glance: Glance) -> Block:
    """Under a glance: what this week's digest says so far, in a modal (no ephemerals here)."""
    return {
        "type": "actions",
        "block_id": f"digest_preview_{glance.circle_id}",
        "elements": [
            block_kit.button("Preview digest", ACTION_DIGEST_PREVIEW, str(glance.circle_id))
        ],
    }


def _more(hidden: int, total: int, what: str, noun: str) -> list[Block]:
    """A cut list's count and the button that shows all of it."""
    if hidden <= 0:
        return []
    return [
        block_kit.context(f"…and {hidden} more."),
        {
            "type": "actions",
            "block_id": f"show_all_{what}",
            "elements": [block_kit.button(f"Show all {total} {noun}", ACTION_SHOW_ALL, what)],
        },
    ]


def _excerpt(text: str, limit: int) -> str:
    """One line of at most `limit` characters of a person's text, escaped for mrkdwn."""
    line = " ".join(text.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return mrkdwn.escape(line)


def _notice(text: str) -> Block:
    return {"type": "section", "block_id": NOTICE_BLOCK_ID, "text": block_kit.mrkdwn_text(text)}
