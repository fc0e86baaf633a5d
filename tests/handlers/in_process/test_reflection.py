"""Writing a reflection in process: the Write button opening the modal, and its submission."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlmodel import select

from storage.models import ActionItem, Delivery, Reflection, ReflectionAnswer
from tests.handlers.in_process.flows import (
    circle_with_ana_and_ben,
    click_in_message,
    ephemeral_texts,
    opened_view,
    rows,
    sent_checkin,
    stored_message,
)
from tests.harness import ANA, BEN, EVE, TEAM, FakeClock
from tests.in_process import InProcessBot

SOMEONE_ELSES = "This check-in was sent to someone else, so I can't open it for you."


def state(
    tried: str | None = "Asked two customers <!channel>",
    *,
    obstacles: str | None = None,
    confidence: str | None = "4",
    next_step: str | None = None,
    due: str | None = None,
    visibility: str | None = "circle",
) -> dict[str, Any]:
    """view.state.values of the default check-in modal, as Slack sends them."""

    def radio(action_id: str, value: str | None) -> dict[str, Any]:
        option = None if value is None else {"text": {"type": "plain_text"}, "value": value}
        return {action_id: {"type": "radio_buttons", "selected_option": option}}

    return {
        "tried": {"tried": {"type": "plain_text_input", "value": tried}},
        "obstacles": {"obstacles": {"type": "plain_text_input", "value": obstacles}},
        "confidence": radio("confidence", confidence),
        "next_step": {"next_step": {"type": "plain_text_input", "value": next_step}},
        "next_step.due": {"due": {"type": "datepicker", "selected_date": due}},
        "meta.visibility": radio("visibility", visibility),
        "meta.named": {"named": {"type": "checkboxes", "selected_options": []}},
    }


def open_modal(
    bot: InProcessBot, dm: dict[str, Any], *, user: str = ANA, value: str | None = None
) -> dict[str, Any] | None:
    before = len(bot.calls("views.open"))
    assert click_in_message(bot, dm, "reflection_open", user=user, value=value).status == 200
    return opened_view(bot, before)


def answered_at(bot: InProcessBot, delivery_id: int | None) -> object:
    with bot.db.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        return row.answered_at


def test_write_opens_the_modal_for_the_checkin(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    circle_id = circle_with_ana_and_ben(bot)
    delivery, dm = sent_checkin(bot, clock, circle_id)
    view = open_modal(bot, dm)
    assert view is not None
    [opened] = bot.calls("views.open")
    assert opened.args["view"]["callback_id"] == "reflection_modal"
    assert view["callback_id"] == "reflection_modal" and view["type"] == "modal"
    assert json.loads(view["private_metadata"]) == {
        "circle_id": circle_id,
        "prompt_set": "default",
        "delivery_id": delivery.id,
    }
    inputs = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert {"tried", "confidence", "next_step", "meta.visibility"} <= inputs
    assert rows(bot, Reflection) == []  # opening writes nothing


@pytest.mark.parametrize("who", [BEN, EVE], ids=["other-member", "outsider"])
def test_write_on_someone_elses_checkin_opens_nothing(
    in_process_bot: InProcessBot, clock: FakeClock, who: str
) -> None:
    bot = in_process_bot
    _delivery, dm = sent_checkin(bot, clock, circle_with_ana_and_ben(bot))
    assert open_modal(bot, dm, user=who) is None
    assert bot.calls("views.open") == []
    assert ephemeral_texts(bot, who) == [SOMEONE_ELSES]


def test_a_submitted_reflection_is_saved_and_the_dm_says_so(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    circle_id = circle_with_ana_and_ben(bot)
    delivery, dm = sent_checkin(bot, clock, circle_id)
    view = open_modal(bot, dm)
    assert view is not None
    answer = bot.view_submission(
        view, state(next_step="Call Ben", due="2026-11-20", visibility="leaders"), user=ANA
    )
    assert (answer.status, answer.json) == (200, None)  # empty: the modal closes
    assert bot.fake.view_stack(view["id"]) == []

    [reflection] = rows(bot, Reflection)
    assert (reflection.team_id, reflection.circle_id, reflection.user_id) == (TEAM, circle_id, ANA)
    assert (reflection.kind, reflection.delivery_id) == ("checkin", delivery.id)
    assert (reflection.visibility, reflection.week_start) == ("leaders", date(2026, 11, 16))
    assert reflection.submitted_at == clock.now
    with bot.db.session() as session:
        saved = {r.question_id: (r.text, r.number) for r in session.exec(select(ReflectionAnswer))}
    assert saved == {
        "tried": ("Asked two customers <!channel>", None),
        "confidence": (None, 4),
        "next_step": ("Call Ben", None),
    }
    [item] = rows(bot, ActionItem)
    assert (item.text, item.due_date, item.user_id) == ("Call Ben", date(2026, 11, 20), ANA)
    assert answered_at(bot, delivery.id) == clock.now
    assert stored_message(bot, dm)["text"].startswith("Reflection saved")
    assert [c.args["user_id"] for c in answer.calls_to("views.publish")] == [ANA]


def test_bad_answers_come_back_under_their_fields_and_nothing_is_written(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    delivery, dm = sent_checkin(bot, clock, circle_with_ana_and_ben(bot))
    view = open_modal(bot, dm)
    assert view is not None
    answer = bot.view_submission(
        view, state("   ", confidence="9", visibility="everyone"), user=ANA
    )
    assert answer.status == 200
    assert answer.json == {
        "response_action": "errors",
        "errors": {
            "tried": "Please answer this question.",
            "confidence": "Pick a number from 1 to 5.",
            "meta.visibility": "Choose who can read this.",
        },
    }
    assert bot.fake.view_stack(view["id"]) == [view["id"]]  # still open
    assert rows(bot, Reflection) == [] and rows(bot, ActionItem) == []
    assert answered_at(bot, delivery.id) is None


def test_a_nul_in_an_answer_is_an_error_not_a_crash(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    """PostgreSQL cannot store NUL: the modal says so under the field, on both databases."""
    bot = in_process_bot
    _delivery, dm = sent_checkin(bot, clock, circle_with_ana_and_ben(bot))
    view = open_modal(bot, dm)
    assert view is not None
    answer = bot.view_submission(view, state("a\x00b"), user=ANA)
    assert answer.status == 200 and answer.json is not None
    assert answer.json["errors"] == {"tried": "Remove the invisible NUL character from this text."}
    assert rows(bot, Reflection) == []
