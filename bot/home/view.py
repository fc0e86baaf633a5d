"""The App Home tab and its "show all" modals as Block Kit, from the rows bot/home/rows.py
reads for one person (`home_view`, `list_modal`). Building is pure; Slack's limits hold by
construction (at most 100 blocks a view, long lists cut with a count and a "Show all" button,
section text at most 3000 characters, button text at most 75), and everything a person wrote
is escaped before it enters mrkdwn."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.circles import rules as circles
from bot.home.rows import (
    CircleRow,
    Glance,
    Highlights,
    HomeData,
    ItemRow,
    ReflectionRow,
    Rows,
    circle_highlights,
    circle_rows,
    glances,
    item_rows,
    reflection_rows,
    viewer_zone,
)
from bot.rhythm.messages import ACTION_REFLECTION_EDIT
from bot.slack import block_kit, mrkdwn
from bot.slack.block_kit import Block
from bot.slack.text import day_text, slack_date
from storage.models import (
    Role,
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


# Rows in a "Show all" modal: one block each, plus header, notice and the "…and N more" line.
MODAL_ROWS_SHOWN = 90


# Characters of person-written text shown before escaping (escaping at most quintuples them,
# so 90 modal rows stay far below Slack's 250 kB per view).
ITEM_CHARS = 300


EXCERPT_CHARS = 150


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
