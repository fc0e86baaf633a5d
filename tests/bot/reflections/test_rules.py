"""The reflection modal without Slack: building it from a question set, and reading a
submission back (bot/reflections/modal.py), plus the saved message (bot/rhythm/messages.py)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from bot.reflections.modal import (
    CALLBACK_ID,
    MAX_FOLLOW_UPS,
    Answer,
    FollowUp,
    ModalMetadata,
    Prefill,
    build_reflection_modal,
    decode_metadata,
    parse_submission,
)
from bot.rhythm.messages import reflection_saved_message
from bot.sandbox.fake_validation import check_view
from prompts.questions import Question, load_question_set
from storage.models import Visibility

TODAY = date(2026, 11, 16)
CHECKIN = load_question_set("default").checkin
DEBRIEF = load_question_set("default").debrief
META = ModalMetadata(circle_id=7, prompt_set="default", delivery_id=42)

EVERY_KIND = (
    Question("headline", "Headline", "short_text", True, 20),
    Question("story", "Story", "long_text", False, 50),
    Question("next", "Next step", "action_item", False, 30),
    Question("mood", "Mood", "scale", True, None),
    Question("focus", "Focus", "choice", False, None, options=("Hiring", "Roadmap")),
    Question("when", "When", "date", False, None),
    Question("peer", "Peer", "user", False, None),
)


def modal(questions: tuple[Question, ...] = CHECKIN, **kwargs: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "checkin",
        "circle_name": "Product <Leads>",
        "week_start": TODAY,
        "questions": questions,
        "metadata": META,
    }
    values.update(kwargs)
    view = build_reflection_modal(**values)
    check_view(view, expected_type="modal")  # what Slack's views.open would refuse
    return view


def blocks_by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def text(value: str | None, action_id: str) -> dict[str, Any]:
    return {action_id: {"type": "plain_text_input", "value": value}}


def radio(value: str | None, action_id: str) -> dict[str, Any]:
    option = None if value is None else {"value": value, "text": {"type": "plain_text"}}
    return {action_id: {"type": "radio_buttons", "selected_option": option}}


def checkin_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "tried": text("Asked for feedback", "tried"),
        "obstacles": text(None, "obstacles"),
        "confidence": radio("4", "confidence"),
        "next_step": text(None, "next_step"),
        "next_step.due": {"due": {"type": "datepicker", "selected_date": None}},
        "meta.visibility": radio("circle", "visibility"),
        "meta.named": {"named": {"type": "checkboxes", "selected_options": []}},
    }
    values.update(overrides)
    return values


def parse(values: Any, questions: tuple[Question, ...] = CHECKIN, **kwargs: Any) -> Any:
    return parse_submission(values, questions=questions, today=TODAY, **kwargs)


# --- building -------------------------------------------------------------------------------


def test_the_checkin_modal_has_one_input_per_question_and_the_choices() -> None:
    view = modal()
    assert view["callback_id"] == CALLBACK_ID
    assert json.loads(view["private_metadata"]) == {
        "circle_id": 7,
        "prompt_set": "default",
        "delivery_id": 42,
    }
    assert view["title"]["text"] == "Your check-in" and view["submit"]["text"] == "Save"
    assert "*Product &lt;Leads&gt;*" in view["blocks"][0]["text"]["text"]
    by_id = blocks_by_id(view)
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == [
        "tried",
        "obstacles",
        "confidence",
        "next_step",
        "next_step.due",
        "meta.visibility",
        "meta.named",
    ]
    assert by_id["tried"]["element"]["max_length"] == 1000
    assert by_id["tried"]["element"]["multiline"] is True
    assert by_id["tried"]["optional"] is False and by_id["obstacles"]["optional"] is True
    assert [o["value"] for o in by_id["confidence"]["element"]["options"]] == list("12345")
    assert by_id["next_step"]["element"]["max_length"] == 300
    assert by_id["next_step.due"]["element"]["type"] == "datepicker"
    assert by_id["next_step.due"]["optional"] is True


def test_the_visibility_choice_says_what_each_option_means() -> None:
    visibility = blocks_by_id(modal())["meta.visibility"]
    options = visibility["element"]["options"]
    assert [(o["value"], o["text"]["text"]) for o in options] == [
        ("private", "Only me"),
        ("circle", "My circle"),
        ("leaders", "My circle and the leaders' digest"),
    ]
    assert visibility["element"]["initial_option"]["value"] == "circle"
    assert all(o["description"]["text"] for o in options)
    named = blocks_by_id(modal())["meta.named"]
    assert named["optional"] is True and "initial_options" not in named["element"]
    assert named["element"]["options"][0]["text"]["text"] == "Show my name when this is quoted"


def test_open_action_items_come_back_as_optional_did_you_do_it_questions() -> None:
    items = [
        FollowUp(11, "Call <!channel> about <https://evil|click>", date(2026, 11, 13)),
        FollowUp(12, "Write the memo", None),
    ]
    view = modal(follow_ups=items)
    by_id = blocks_by_id(view)
    first = by_id["follow_up.11"]
    assert first["optional"] is True
    # plain_text: shown literally by Slack, nothing is parsed or pinged
    assert first["label"] == {
        "type": "plain_text",
        "text": "Did you do it? Call <!channel> about <https://evil|click>",
    }
    assert [o["value"] for o in first["element"]["options"]] == ["done", "not_yet", "drop"]
    assert [o["text"]["text"] for o in first["element"]["options"]] == ["Done", "Not yet", "Drop"]
    assert "Fri 13 Nov 2026" in first["hint"]["text"]
    assert "hint" not in by_id["follow_up.12"]


def test_many_open_items_are_cut_with_a_count() -> None:
    items = [FollowUp(i, f"Item {i}", None) for i in range(1, 31)]
    view = modal(follow_ups=items)
    asked = [b for b in view["blocks"] if b.get("block_id", "").startswith("follow_up.")]
    assert len(asked) == MAX_FOLLOW_UPS
    assert "…and 10 more on your App Home." in str(view["blocks"][-1])
    assert len(view["blocks"]) <= 100


def test_every_kind_of_question_builds_a_valid_modal_and_prefills_an_edit() -> None:
    prefill = Prefill(
        answers={
            "headline": Answer("headline", "short_text", text="Shipped"),
            "next": Answer("next", "action_item", text="Demo it", due_date=date(2026, 11, 20)),
            "mood": Answer("mood", "scale", number=3),
            "focus": Answer("focus", "choice", text="Roadmap"),
            "when": Answer("when", "date", text="2026-11-18"),
            "peer": Answer("peer", "user", text="UBEN"),
        },
        visibility=Visibility.LEADERS,
        named=True,
    )
    edit = ModalMetadata(circle_id=7, prompt_set="custom", reflection_id=9)
    view = modal(EVERY_KIND, metadata=edit, prefill=prefill)
    by_id = blocks_by_id(view)
    assert view["title"]["text"] == "Edit your check-in"
    assert json.loads(view["private_metadata"])["reflection_id"] == 9
    assert by_id["headline"]["element"]["initial_value"] == "Shipped"
    assert "multiline" not in by_id["headline"]["element"]
    assert by_id["next"]["element"]["initial_value"] == "Demo it"
    assert by_id["next.due"]["element"]["initial_date"] == "2026-11-20"
    assert by_id["mood"]["element"]["initial_option"]["value"] == "3"
    assert by_id["focus"]["element"]["initial_option"]["value"] == "Roadmap"
    assert by_id["when"]["element"]["initial_date"] == "2026-11-18"
    assert by_id["peer"]["element"]["initial_user"] == "UBEN"
    assert by_id["meta.visibility"]["element"]["initial_option"]["value"] == "leaders"
    assert by_id["meta.named"]["element"]["initial_options"][0]["value"] == "named"


def test_a_debrief_prefills_its_peer_when_one_is_given() -> None:
    view = modal(DEBRIEF, kind="debrief", initial_peer="UBEN")
    by_id = blocks_by_id(view)
    assert view["title"]["text"] == "Your debrief"
    assert by_id["peer"]["element"] == {
        "type": "users_select",
        "action_id": "peer",
        "initial_user": "UBEN",
    }
    assert "initial_user" not in blocks_by_id(modal(DEBRIEF, kind="debrief"))["peer"]["element"]
    assert by_id["commitment"]["optional"] is False and by_id["commitment.due"]["optional"]


# --- metadata -------------------------------------------------------------------------------


def test_metadata_round_trips() -> None:
    meta = ModalMetadata(circle_id=3, prompt_set="default", delivery_id=5, follow_up_ids=(8, 9))
    assert decode_metadata(meta.encode()) == meta


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[1]",
        '{"circle_id": 1, "prompt_set": "default"}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 2, "reflection_id": 3}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": "2"}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": true}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 0}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 99999999999}',
        '{"circle_id": -1, "prompt_set": "default", "delivery_id": 2}',
        '{"circle_id": 1, "prompt_set": 5, "delivery_id": 2}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 2, "follow_up": [1, 1]}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 2, "follow_up": ["x"]}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 2, "follow_up": 4}',
    ],
)
def test_metadata_we_did_not_write_is_rejected(raw: Any) -> None:
    assert decode_metadata(raw) is None


# --- parsing --------------------------------------------------------------------------------


def test_a_complete_checkin_parses_into_answers() -> None:
    result = parse(
        checkin_values(
            next_step=text("  Share the draft  ", "next_step"),
            **{
                "next_step.due": {"due": {"selected_date": "2026-11-20"}},
                "meta.visibility": radio("leaders", "visibility"),
                "meta.named": {"named": {"selected_options": [{"value": "named"}]}},
            },
        )
    )
    assert result.errors == {}
    parsed = result.reflection
    assert parsed.visibility == Visibility.LEADERS and parsed.named is True
    assert parsed.answers == (
        Answer("tried", "long_text", text="Asked for feedback"),
        Answer("confidence", "scale", number=4),
        Answer("next_step", "action_item", text="Share the draft", due_date=date(2026, 11, 20)),
    )


def test_every_kind_parses_to_what_is_stored() -> None:
    values = {
        "headline": text("Shipped", "headline"),
        "mood": radio("5", "mood"),
        "focus": radio("Hiring", "focus"),
        "when": {"when": {"selected_date": "2026-11-01"}},
        "peer": {"peer": {"selected_user": "UBEN"}},
        "meta.visibility": radio("private", "visibility"),
    }
    result = parse(values, EVERY_KIND)
    assert result.errors == {}
    assert {a.question_id: (a.text, a.number) for a in result.reflection.answers} == {
        "headline": ("Shipped", None),
        "mood": (None, 5),
        "focus": ("Hiring", None),
        "when": ("2026-11-01", None),  # a date question may be in the past
        "peer": ("UBEN", None),
    }
    assert result.reflection.named is False


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"tried": text("   ", "tried")}, {"tried": "Please answer this question."}),
        ({"tried": text(None, "tried")}, {"tried": "Please answer this question."}),
        ({"tried": {}}, {"tried": "Please answer this question."}),
        (
            {"tried": text("a\x00b", "tried")},
            {"tried": "Remove the invisible NUL character from this text."},
        ),
        ({"confidence": radio(None, "confidence")}, {"confidence": "Please answer this question."}),
        ({"confidence": radio("6", "confidence")}, {"confidence": "Pick a number from 1 to 5."}),
        ({"confidence": radio("0", "confidence")}, {"confidence": "Pick a number from 1 to 5."}),
        ({"confidence": radio("-1", "confidence")}, {"confidence": "Pick a number from 1 to 5."}),
        ({"confidence": radio("٣", "confidence")}, {"confidence": "Pick a number from 1 to 5."}),
        (
            {"meta.visibility": radio("everyone", "visibility")},
            {"meta.visibility": "Choose who can read this."},
        ),
        ({"meta.visibility": {}}, {"meta.visibility": "Choose who can read this."}),
        (
            {"next_step.due": {"due": {"selected_date": "2026-11-20"}}},
            {"next_step": "Write what you'll do by this date, or clear the date."},
        ),
        (
            {
                "next_step": text("Call Ben", "next_step"),
                "next_step.due": {"due": {"selected_date": "2026-11-15"}},
            },
            {
                "next_step.due": "Sun 15 Nov 2026 has passed where you are. "
                "Pick today or a later date."
            },
        ),
        (
            {
                "next_step": text("Call Ben", "next_step"),
                "next_step.due": {"due": {"selected_date": "20261120"}},
            },
            {"next_step.due": "Pick a date from the calendar."},
        ),
    ],
)
def test_each_bad_answer_is_an_error_under_its_block(
    overrides: dict[str, Any], expected: dict[str, str]
) -> None:
    result = parse(checkin_values(**overrides))
    assert result.reflection is None
    assert result.errors == expected


def test_over_long_text_is_refused_with_how_much_too_long_never_cut() -> None:
    result = parse(checkin_values(tried=text("x" * 1003, "tried")))
    assert result.errors == {
        "tried": "This is 3 characters too long: keep it to 1000 or fewer (it has 1003)."
    }
    one = parse(checkin_values(next_step=text("y" * 301, "next_step")))
    assert one.errors == {
        "next_step": "This is 1 character too long: keep it to 300 or fewer (it has 301)."
    }
    fits = parse(checkin_values(tried=text("x" * 1000, "tried")))
    assert fits.reflection.answers[0].text == "x" * 1000


def test_today_is_a_valid_due_date_and_a_kept_one_may_be_past() -> None:
    today = parse(
        checkin_values(
            next_step=text("Call Ben", "next_step"),
            **{"next_step.due": {"due": {"selected_date": "2026-11-16"}}},
        )
    )
    assert today.errors == {}
    old = {"next_step.due": {"due": {"selected_date": "2026-11-02"}}}
    values = checkin_values(next_step=text("Call Ben", "next_step"), **old)
    assert "next_step.due" in parse(values).errors
    kept = parse(values, kept_due_dates={"next_step": date(2026, 11, 2)})
    assert kept.errors == {}


def test_choices_and_people_must_be_ones_we_offered() -> None:
    base = {"headline": text("Hi", "headline"), "mood": radio("3", "mood")}
    base["meta.visibility"] = radio("circle", "visibility")
    bad = parse(
        {
            **base,
            "focus": radio("Something else", "focus"),
            "peer": {"peer": {"selected_user": "<!channel>"}},
            "when": {"when": {"selected_date": "2026-02-30"}},
        },
        EVERY_KIND,
    )
    assert bad.errors == {
        "focus": "Pick one of the options listed.",
        "peer": "Pick a person from the list.",
        "when": "Pick a date from the calendar.",
    }


def test_follow_up_answers_are_read_for_the_items_asked_only() -> None:
    values = checkin_values(
        **{
            "follow_up.11": radio("done", "answer"),
            "follow_up.12": radio(None, "answer"),
            "follow_up.99": radio("drop", "answer"),  # not asked: ignored
        }
    )
    result = parse(values, follow_up_ids=(11, 12))
    assert result.reflection.follow_ups == {11: "done"}
    forged = parse(
        checkin_values(**{"follow_up.11": radio("maybe", "answer")}), follow_up_ids=(11,)
    )
    assert forged.errors == {"follow_up.11": "Choose Done, Not yet or Drop."}


@pytest.mark.parametrize(
    "values",
    [None, [], "x", {"tried": "x"}, {"tried": {"tried": "x"}}, {"confidence": {"confidence": []}}],
)
def test_malformed_state_never_raises(values: Any) -> None:
    result = parse(values)
    assert result.reflection is None and "tried" in result.errors


# --- the saved message ----------------------------------------------------------------------


def test_the_saved_message_escapes_what_people_wrote() -> None:
    message = reflection_saved_message(
        kind="checkin",
        circle_name="Leads <!here>",
        reflection_id=5,
        audience="My circle",
        named=False,
        next_steps=[("Ping <@U123> via <https://evil|click> & <!channel>", date(2026, 11, 20))],
        edited=False,
    )
    rendered = json.dumps(message)
    for raw in ("<!here>", "<@U123>", "<https://evil|click>", "<!channel>"):
        assert raw not in rendered
    assert "Ping &lt;@U123&gt; via &lt;https://evil|click&gt; &amp; &lt;!channel&gt;" in rendered
    assert message["text"].startswith("Reflection saved")
    [button] = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == ("reflection_edit", "5")
