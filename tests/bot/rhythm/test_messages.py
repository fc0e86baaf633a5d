"""Block Kit builders of the rhythm's messages: valid for Slack, escaped, within limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.rhythm.messages import (
    checkin_message,
    demoday_cancelled_message,
    demoday_reminder_message,
    demoday_signup_confirmation,
    demoday_signup_modal,
    nudge_message,
    questions_preview,
    skipped_message,
    time_until,
)
from bot.slack.text import slack_date
from prompts.questions import (
    QUESTION_KINDS,
    QuestionSetError,
    load_question_set,
    parse_question_set,
)

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
STARTS = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NASTY = "R&D <!channel> <@U1> <https://x|y>"
NASTY_ESCAPED = "R&amp;D &lt;!channel&gt; &lt;@U1&gt; &lt;https://x|y&gt;"
RAW_TOKENS = ("<!channel>", "<@U1>", "<https://x|y>", "<!here>")


def valid_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Each block as slack_sdk parses and validates it; the whole within Slack's limits."""
    assert set(message) == {"text", "blocks"}
    assert isinstance(message["text"], str) and message["text"].strip()
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= 50
    parsed = []
    for block in blocks:
        model = Block.parse(block)
        assert model is not None, block
        as_dict = model.to_dict()  # raises SlackObjectFormationError when invalid
        assert as_dict == block, "slack_sdk dropped or changed part of the block"
        parsed.append(as_dict)
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids))
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    return parsed


def all_text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def assert_no_raw_tokens(message: dict[str, Any]) -> None:
    for value in (message["text"], *_texts(message["blocks"])):
        for token in RAW_TOKENS:
            assert token not in value, (token, value)


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return [node] if isinstance(node, str) else []


# --- check-ins -----------------------------------------------------------------------------


def test_checkin_greets_by_circle_previews_questions_and_offers_two_buttons() -> None:
    questions = questions_preview("checkin")
    message = checkin_message(
        kind="checkin", circle_name="Product Leads", questions=questions, delivery_id=42
    )
    valid_message(message)
    assert "Time for your *Product Leads* check-in" in message["text"]
    text = all_text(message)
    for question in questions:
        assert f"• {question}" in text
    write, skip = buttons(message)
    assert (write["action_id"], write["value"], write["style"]) == (
        "reflection_open",
        "42",
        "primary",
    )
    assert write["text"]["text"] == "Write my check-in"
    assert (skip["action_id"], skip["value"]) == ("checkin_skip", "42")
    assert skip["text"]["text"] == "Skip this week"
    assert "style" not in skip


def test_debrief_names_the_peer_and_says_debrief() -> None:
    message = checkin_message(
        kind="debrief",
        circle_name="Product Leads",
        questions=questions_preview("debrief"),
        delivery_id=7,
        peer_user_id="UBEN",
    )
    valid_message(message)
    assert "Time for your *Product Leads* debrief" in message["text"]
    assert "<@UBEN>" in message["text"]
    assert buttons(message)[0]["text"]["text"] == "Write my debrief"


def test_debrief_without_a_peer_and_a_checkin_ignores_the_peer() -> None:
    debrief = checkin_message(kind="debrief", circle_name="C", questions=[], delivery_id=1)
    valid_message(debrief)
    assert "<@" not in all_text(debrief)
    checkin = checkin_message(
        kind="checkin", circle_name="C", questions=["Q?"], delivery_id=1, peer_user_id="UBEN"
    )
    assert "<@UBEN>" not in all_text(checkin)


def test_a_peer_that_is_not_a_user_id_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Slack user id"):
        checkin_message(
            kind="debrief", circle_name="C", questions=[], delivery_id=1, peer_user_id="<!here>"
        )


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        checkin_message(kind="digest", circle_name="C", questions=[], delivery_id=1)
    with pytest.raises(ValueError, match="kind"):
        nudge_message(kind="pairing", circle_name="C", delivery_id=1)
    with pytest.raises(ValueError):
        questions_preview("digest")


def test_checkin_escapes_the_circle_name_and_the_questions() -> None:
    message = checkin_message(
        kind="checkin", circle_name=NASTY, questions=[NASTY, "Fine?"], delivery_id=3
    )
    valid_message(message)
    assert_no_raw_tokens(message)
    assert f"*{NASTY_ESCAPED}*" in message["text"]
    assert f"• {NASTY_ESCAPED}" in all_text(message)


def test_many_or_long_questions_stay_within_the_limits() -> None:
    questions = [f"Question {i}: " + "why & how? " * 300 for i in range(40)]
    message = checkin_message(kind="checkin", circle_name="C", questions=questions, delivery_id=1)
    valid_message(message)
    assert "…and 30 more" in all_text(message)
    assert buttons(message)  # the buttons are never cut


def test_nudge_is_gentle_and_has_the_same_buttons() -> None:
    message = nudge_message(kind="checkin", circle_name=NASTY, delivery_id=9)
    valid_message(message)
    assert_no_raw_tokens(message)
    assert "gentle reminder" in message["text"] and "check-in" in message["text"]
    assert [(b["action_id"], b["value"]) for b in buttons(message)] == [
        ("reflection_open", "9"),
        ("checkin_skip", "9"),
    ]
    debrief = nudge_message(kind="debrief", circle_name="C", delivery_id=9)
    assert "debrief" in debrief["text"]
    assert buttons(debrief)[0]["text"]["text"] == "Write my debrief"


def test_skipped_message_has_no_buttons() -> None:
    message = skipped_message(circle_name=NASTY)
    valid_message(message)
    assert_no_raw_tokens(message)
    assert message["text"] == "Skipped this week — see you next time."
    assert buttons(message) == []
    assert NASTY_ESCAPED in all_text(message)


# --- questions -----------------------------------------------------------------------------


def test_default_question_sets_follow_the_schema() -> None:
    questions = load_question_set("default")
    assert [q.id for q in questions.checkin] == ["tried", "obstacles", "confidence", "next_step"]
    assert [q.id for q in questions.debrief] == [
        "peer",
        "topic",
        "insight",
        "commitment",
    ]
    for question in (*questions.checkin, *questions.debrief):
        assert question.kind in QUESTION_KINDS
        if question.kind in ("short_text", "long_text", "action_item"):
            assert question.max_length is not None and 1 <= question.max_length <= 3000
        else:
            assert question.max_length is None
    assert questions_preview("checkin")[0] == "What did you try since last time?"
    assert "What do you commit to doing, and by when?" in questions_preview("debrief")
    assert [q.kind for q in questions.checkin] == ["long_text", "long_text", "scale", "action_item"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version"),
        ({"checkin": []}, "1 to 10"),
        ({"extra": 1}, "unknown keys"),
        ({"checkin": [{"id": "a", "label": "A", "kind": "essay", "required": True}]}, "missing"),
        (
            {
                "checkin": [
                    {"id": "a", "label": "A", "kind": "essay", "required": True, "max_length": 5}
                ]
            },
            "kind",
        ),
        (
            {
                "checkin": [
                    {"id": "a", "label": "A", "kind": "scale", "required": True, "max_length": 5}
                ]
            },
            "null",
        ),
        (
            {
                "checkin": [
                    {"id": "a", "label": "A", "kind": "long_text", "required": 1, "max_length": 5}
                ]
            },
            "required",
        ),
        (
            {
                "checkin": [
                    {"id": "a", "label": "A", "kind": "date", "required": True, "max_length": None}
                ]
                * 2
            },
            "duplicate",
        ),
        (
            {
                "checkin": [
                    {
                        "id": "A-1",
                        "label": "A",
                        "kind": "date",
                        "required": True,
                        "max_length": None,
                    }
                ]
            },
            "snake_case",
        ),
    ],
)
def test_a_broken_question_set_fails_loudly(change: dict[str, Any], message: str) -> None:
    from prompts.questions import QUESTIONS_DIR

    data = yaml.safe_load((QUESTIONS_DIR / "default.yml").read_text())
    data.update(change)
    with pytest.raises(QuestionSetError, match=message):
        parse_question_set("broken", data)


@pytest.mark.parametrize("name", ["../default", "nope", "Default", ""])
def test_unknown_or_unsafe_set_names_are_refused(name: str) -> None:
    with pytest.raises(QuestionSetError):
        load_question_set(name)


# --- demo days -----------------------------------------------------------------------------


def reminder(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "circle_name": "Product Leads",
        "demo_day_id": 12,
        "title": "Q4 demo day",
        "starts_at": STARTS,
        "signups": [],
        "topics": True,
        "now": STARTS - timedelta(days=7),
    }
    args.update(overrides)
    return demoday_reminder_message(**args)


def test_reminder_shows_the_moment_in_each_readers_zone_and_a_signup_button() -> None:
    message = reminder()
    valid_message(message)
    unix = int(STARTS.timestamp())
    token = f"<!date^{unix}^{{date_short_pretty}} at {{time}}|2026-11-23 15:00 UTC>"
    assert token in message["blocks"][0]["text"]["text"]
    assert "in 7 days" in message["text"] and "in 7 days" in all_text(message)
    assert "No demos yet" in all_text(message)
    [button] = buttons(message)
    assert (button["action_id"], button["value"]) == ("demoday_signup", "12")
    assert button["text"]["text"] == "Sign up to demo"


def test_reminder_lists_signups_with_mentions_and_escaped_titles() -> None:
    message = reminder(
        title=NASTY, circle_name=NASTY, signups=[("UANA", NASTY), ("UBEN", "Pricing test")]
    )
    valid_message(message)
    assert_no_raw_tokens(message)
    text = all_text(message)
    assert f"• <@UANA>: {NASTY_ESCAPED}" in text
    assert "• <@UBEN>: Pricing test" in text
    assert "Demos so far (2)" in text


def test_thirty_signups_are_summarised_after_twenty() -> None:
    signups = [(f"U{i:04d}", f"Demo {i}") for i in range(30)]
    message = reminder(signups=signups)
    valid_message(message)
    text = all_text(message)
    assert "Demos so far (30)" in text
    assert "<@U0019>" in text and "<@U0020>" not in text
    assert "…and 10 more" in text


def test_the_longest_titles_still_fit_in_50_blocks_and_3000_characters() -> None:
    worst = "&<>" * 50  # 150 characters, every one escaped
    signups = [(f"U{i:04d}", worst) for i in range(500)]
    message = reminder(title="&<>" * 26, circle_name="<>" * 40, signups=signups)
    valid_message(message)
    assert "…and 480 more" in all_text(message)
    assert buttons(message)


def test_titles_are_kept_on_one_line() -> None:
    message = reminder(signups=[("UANA", "line one\n• <@UFAKE>: line two")])
    text = all_text(message)
    assert "• <@UANA>: line one • &lt;@UFAKE&gt;: line two" in text


@pytest.mark.parametrize(
    ("before", "words"),
    [
        (timedelta(days=7), "in 7 days"),
        (timedelta(days=7, minutes=-3), "in 7 days"),  # a reminder sent a little late
        (timedelta(days=3), "in 3 days"),
        (timedelta(days=1), "tomorrow"),
        (timedelta(hours=25), "tomorrow"),
        (timedelta(hours=23, minutes=40), "tomorrow"),
        (timedelta(hours=2), "in 2 hours"),
        (timedelta(hours=1), "in 1 hour"),
        (timedelta(minutes=59, seconds=50), "in 1 hour"),
        (timedelta(minutes=20), "in 20 minutes"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(seconds=10), "now"),
        (timedelta(hours=-1), "now"),
    ],
)
def test_how_long_until(before: timedelta, words: str) -> None:
    assert time_until(STARTS, STARTS - before) == words


def test_a_started_demo_day_offers_no_signup_button() -> None:
    message = reminder(now=STARTS + timedelta(minutes=5))
    valid_message(message)
    assert buttons(message) == []


def test_slack_date_needs_an_aware_moment_and_converts_to_utc() -> None:
    with pytest.raises(ValueError):
        slack_date(datetime(2026, 1, 1, 12, 0))
    from zoneinfo import ZoneInfo

    berlin = datetime(2026, 11, 23, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert str(slack_date(berlin)).endswith("|2026-11-23 15:00 UTC>")


def test_cancelled_message_names_who_cancelled_and_escapes() -> None:
    message = demoday_cancelled_message(
        circle_name=NASTY, title=NASTY, starts_at=STARTS, cancelled_by="UFRAN"
    )
    valid_message(message)
    assert_no_raw_tokens(message)
    assert "cancelled" in message["text"]
    text = message["blocks"][0]["text"]["text"]
    assert "<@UFRAN>" in text and f"<!date^{int(STARTS.timestamp())}^" in text
    assert buttons(message) == []


def test_signup_modal_is_a_valid_view_and_prefills_an_existing_signup() -> None:
    fresh = demoday_signup_modal(demo_day_id=12, circle_name=NASTY, title=NASTY, starts_at=STARTS)
    View(**fresh).to_dict()
    assert json.loads(fresh["private_metadata"]) == {"demo_day_id": 12}
    assert fresh["callback_id"] == "demoday_signup_modal"
    assert_no_raw_tokens({"text": "x", "blocks": fresh["blocks"]})
    title_block, tried_block = fresh["blocks"][1:]
    assert title_block["element"]["max_length"] == 150 and not title_block.get("optional")
    assert tried_block["element"]["max_length"] == 300 and tried_block["optional"] is True
    assert "initial_value" not in title_block["element"]
    again = demoday_signup_modal(
        demo_day_id=12,
        circle_name="C",
        title="T",
        starts_at=STARTS,
        demo_title="Pricing test",
        what_tried="Two prices",
    )
    View(**again).to_dict()
    assert again["blocks"][1]["element"]["initial_value"] == "Pricing test"
    assert again["blocks"][2]["element"]["initial_value"] == "Two prices"
    assert again["submit"]["text"] == "Save"


def test_signup_confirmation_escapes_the_demo_title() -> None:
    message = demoday_signup_confirmation(
        circle_name="C", title="T", starts_at=STARTS, demo_title=NASTY, updated=False
    )
    valid_message(message)
    assert_no_raw_tokens(message)
    assert "signed up" in message["text"]
