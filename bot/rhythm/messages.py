"""Block Kit for the rhythm's messages (check-ins, nudges, demo days), built from data.

Pure functions: nothing here reads the clock, the database or Slack. Each message builder
returns `{"text": fallback, "blocks": [...]}`, ready for `chat.postMessage(channel=..., **msg)`
or `chat.update(channel=..., ts=..., **msg)`. Texts come from the Jinja2 templates in
prompts/messages/ through `prompts.render`, which escapes every value for mrkdwn, so circle
names, titles and anything else a person wrote can never ping, mention or forge links. The
only raw mrkdwn tokens are the ones built here from validated data (mentions, dates).

Slack's limits are kept by construction: at most 50 blocks per message, section text at most
3000 characters, button text at most 75.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from markupsafe import Markup

from bot.slack import block_kit, mrkdwn
from bot.slack.block_kit import Block, Message
from bot.slack.text import slack_date
from prompts import mention, render
from prompts.questions import question_set_or_default

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_QUESTIONS_SHOWN = 10
MAX_SIGNUPS_SHOWN = 20

CHECKIN_KINDS = ("checkin", "debrief")

# action_ids of the buttons; the handlers register the same names.
ACTION_REFLECTION_OPEN = "reflection_open"
ACTION_REFLECTION_EDIT = "reflection_edit"
ACTION_CHECKIN_SKIP = "checkin_skip"
ACTION_DEMODAY_SIGNUP = "demoday_signup"

# The demo-day sign-up modal.
SIGNUP_CALLBACK_ID = "demoday_signup_modal"
SIGNUP_TITLE_BLOCK = "demo_title"
SIGNUP_TITLE_ACTION = "title"
SIGNUP_TRIED_BLOCK = "demo_tried"
SIGNUP_TRIED_ACTION = "what_tried"
SIGNUP_TITLE_MAX = 150
SIGNUP_TRIED_MAX = 300

_WRITE_LABEL = {"checkin": "Write my check-in", "debrief": "Write my debrief"}


# --------------------------------------------------------------------------- check-ins


def checkin_message(
    *,
    kind: str,
    circle_name: str,
    questions: list[str],
    delivery_id: int,
    peer_user_id: str | None = None,
    peer_user_ids: Sequence[str] = (),
) -> Message:
    """The check-in (or debrief) DM: greeting, the questions, Write and Skip buttons.

    `peer_user_id` (or `peer_user_ids`, a trio's two) names the peer of a debrief; each must be
    a Slack user id (ValueError if not).
    """
    _check_kind(kind)
    named = [*([peer_user_id] if peer_user_id else []), *peer_user_ids]
    peer = _people(named) if named and kind == "debrief" else None
    intro = render("messages/checkin.md.j2", kind=kind, circle_name=circle_name, peer=peer)
    blocks: list[Block] = [block_kit.section(intro)]
    if questions:
        shown = [" ".join(q.split()) for q in questions[:MAX_QUESTIONS_SHOWN]]
        preview = render(
            "messages/checkin_questions.md.j2",
            kind=kind,
            questions=shown,
            hidden=len(questions) - len(shown),
        )
        blocks.extend(block_kit.sections(preview.splitlines()))
    blocks.append(_checkin_buttons(kind, delivery_id))
    blocks.append(block_kit.context(render("messages/checkin_footer.md.j2")))
    return {"text": intro, "blocks": block_kit.fit(blocks)}


def _people(user_ids: Sequence[str]) -> Markup:
    """`<@A>` or `<@A> and <@B>` (validated ids)."""
    shown = [mention(user_id) for user_id in user_ids]
    return (
        Markup(" and ").join(shown)
        if len(shown) <= 2
        else (Markup(", ").join(shown[:-1]) + Markup(" and ") + shown[-1])
    )


def nudge_message(*, kind: str, circle_name: str, delivery_id: int) -> Message:
    """The one gentle reminder, with the same Write and Skip buttons."""
    _check_kind(kind)
    text = render("messages/nudge.md.j2", kind=kind, circle_name=circle_name)
    return {"text": text, "blocks": [block_kit.section(text), _checkin_buttons(kind, delivery_id)]}


def skipped_message(*, circle_name: str) -> Message:
    """What a check-in DM becomes after Skip: no buttons left to press."""
    text = render("messages/checkin_skipped.md.j2")
    return {
        "text": text,
        "blocks": [
            block_kit.section(text),
            block_kit.context(
                render("messages/checkin_skipped_context.md.j2", circle_name=circle_name)
            ),
        ],
    }


def questions_preview(kind: str, prompt_set: str = "default") -> list[str]:
    """The labels of the questions of a check-in or debrief, in order."""
    _check_kind(kind)
    return [q.label for q in question_set_or_default(prompt_set).for_kind(kind)]


def _check_kind(kind: str) -> None:
    if kind not in CHECKIN_KINDS:
        raise ValueError(f"kind must be one of {CHECKIN_KINDS}, not {kind!r}")


def _checkin_buttons(kind: str, delivery_id: int) -> Block:
    return {
        "type": "actions",
        "block_id": "checkin_actions",
        "elements": [
            block_kit.button(
                _WRITE_LABEL[kind], ACTION_REFLECTION_OPEN, str(delivery_id), style="primary"
            ),
            block_kit.button("Skip this week", ACTION_CHECKIN_SKIP, str(delivery_id)),
        ],
    }


# --------------------------------------------------------------------------- reflections

_KIND_LABEL = {"checkin": "check-in", "debrief": "debrief"}


def reflection_saved_message(
    *,
    kind: str,
    circle_name: str,
    reflection_id: int,
    audience: str,
    named: bool,
    next_steps: list[tuple[str, date | None]],
    edited: bool,
) -> Message:
    """What a check-in DM becomes once its reflection is saved: a summary and an Edit button.

    `audience` says who can read it in words ("My circle"); `next_steps` are the open action
    items the reflection created, as (text, due date). Their text is the person's, escaped.
    """
    _check_kind(kind)
    head = render(
        "messages/reflection_saved.md.j2",
        edited=edited,
        circle_name=circle_name,
        kind_label=_KIND_LABEL[kind],
    )
    details = render(
        "messages/reflection_saved_details.md.j2",
        audience=audience,
        named=named,
        next_steps=[
            (block_kit.one_line(text), f"{due:%a} {due.day} {due:%b}" if due else None)
            for text, due in next_steps
        ],
    )
    blocks: list[Block] = [block_kit.section(head), *block_kit.sections(details.splitlines())]
    blocks.append(
        {
            "type": "actions",
            "block_id": "reflection_saved_actions",
            "elements": [block_kit.button("Edit", ACTION_REFLECTION_EDIT, str(reflection_id))],
        }
    )
    blocks.append(block_kit.context(render("messages/reflection_saved_context.md.j2")))
    return {"text": head, "blocks": block_kit.fit(blocks)}


# --------------------------------------------------------------------------- demo days


def demoday_reminder_message(
    *,
    circle_name: str,
    demo_day_id: int,
    title: str,
    starts_at: datetime,
    signups: list[tuple[str, str]],
    topics: bool,
    now: datetime,
) -> Message:
    """The channel reminder: when (in each reader's zone), how long until, who demos what
    (what: only when `topics`, i.e. every reader of the channel may read sign-up topics)."""
    countdown = time_until(starts_at, now)
    head = render(
        "messages/demoday_reminder.md.j2",
        title=title,
        circle_name=circle_name,
        when=slack_date(starts_at),
        countdown=countdown,
    )
    shown = [
        (user_id, block_kit.one_line(demo) if topics else None)
        for user_id, demo in signups[:MAX_SIGNUPS_SHOWN]
    ]
    listing = render(
        "messages/demoday_reminder_signups.md.j2",
        signups=shown,
        total=len(signups),
        hidden=len(signups) - len(shown),
        withheld=bool(signups) and not topics,
    )
    blocks: list[Block] = [block_kit.section(head), *block_kit.sections(listing.splitlines())]
    if starts_at > now:
        blocks.append(
            {
                "type": "actions",
                "block_id": "demoday_actions",
                "elements": [
                    block_kit.button(
                        "Sign up to demo", ACTION_DEMODAY_SIGNUP, str(demo_day_id), style="primary"
                    )
                ],
            }
        )
    fallback = render(
        "messages/demoday_reminder_fallback.md.j2",
        title=title,
        circle_name=circle_name,
        countdown=countdown,
    )
    return {"text": fallback, "blocks": block_kit.fit(blocks)}


def demoday_cancelled_message(
    *, circle_name: str, title: str, starts_at: datetime, cancelled_by: str
) -> Message:
    """Told in the channel when a facilitator cancels a demo day (`cancelled_by`: a user id)."""
    text = render(
        "messages/demoday_cancelled.md.j2",
        title=title,
        circle_name=circle_name,
        when=slack_date(starts_at),
        cancelled_by=cancelled_by,
    )
    fallback = render(
        "messages/demoday_cancelled_fallback.md.j2", title=title, circle_name=circle_name
    )
    return {"text": fallback, "blocks": [block_kit.section(text)]}


def demoday_signup_modal(
    *,
    demo_day_id: int,
    circle_name: str,
    title: str,
    starts_at: datetime,
    demo_title: str = "",
    what_tried: str = "",
) -> dict[str, Any]:
    """The sign-up modal, prefilled with the person's sign-up when they already have one."""
    intro = (
        f"*{mrkdwn.escape(title)}*, the *{mrkdwn.escape(circle_name)}* demo day, "
        f"{slack_date(starts_at)}.\nWhat will you show? Rough and unfinished is welcome."
    )
    title_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": SIGNUP_TITLE_ACTION,
        "max_length": SIGNUP_TITLE_MAX,
        "placeholder": {"type": "plain_text", "text": "e.g. A pricing page test"},
    }
    tried_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": SIGNUP_TRIED_ACTION,
        "max_length": SIGNUP_TRIED_MAX,
    }
    if demo_title:
        title_input["initial_value"] = demo_title[:SIGNUP_TITLE_MAX]
    if what_tried:
        tried_input["initial_value"] = what_tried[:SIGNUP_TRIED_MAX]
    return {
        "type": "modal",
        "callback_id": SIGNUP_CALLBACK_ID,
        "private_metadata": json.dumps({"demo_day_id": demo_day_id}),
        "title": {"type": "plain_text", "text": "Sign up to demo"},
        "submit": {"type": "plain_text", "text": "Save" if demo_title else "Sign up"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            block_kit.section(intro),
            {
                "type": "input",
                "block_id": SIGNUP_TITLE_BLOCK,
                "label": {"type": "plain_text", "text": "Title of your demo"},
                "element": title_input,
            },
            {
                "type": "input",
                "block_id": SIGNUP_TRIED_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What did you try?"},
                "element": tried_input,
            },
        ],
    }


def demoday_signup_confirmation(
    *, circle_name: str, title: str, starts_at: datetime, demo_title: str, updated: bool
) -> Message:
    """The DM after a sign-up is saved."""
    verb = "Updated: you're demoing" if updated else "You're signed up to demo"
    text = (
        f"{verb} *{mrkdwn.escape(demo_title)}* at *{mrkdwn.escape(title)}*, "
        f"the *{mrkdwn.escape(circle_name)}* demo day, {slack_date(starts_at)}. "
        "Press *Sign up to demo* on a reminder again to change it."
    )
    return {"text": text, "blocks": [block_kit.section(text)]}


def time_until(starts_at: datetime, now: datetime) -> str:
    """How long until `starts_at`, rounded: in 7 days, tomorrow, in 1 hour, in 20 minutes, now."""
    seconds = (starts_at - now).total_seconds()
    if seconds < 30:
        return "now"
    minutes = _round(seconds / 60)
    if minutes < 60:
        return f"in {minutes} {_plural(minutes, 'minute')}"
    hours = _round(seconds / 3600)
    if hours < 24:
        return f"in {hours} {_plural(hours, 'hour')}"
    days = _round(seconds / 86400)
    if days <= 1:
        return "tomorrow"
    return f"in {days} days"


def _round(value: float) -> int:
    return max(1, math.floor(value + 0.5))


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"


# --------------------------------------------------------------------------- blocks
