"""Writing a reflection: the DM's Write button, the modal, its submission, edits and the
action-item follow-up, end to end through signed payloads into the real bot."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

import bot.reflections.rules as reflection_rules
from bot.reflections.modal import parse_submission
from bot.rhythm.messages import checkin_message, nudge_message
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DeliveryStatus,
    Reflection,
    ReflectionAnswer,
)
from tests.harness import ANA, BEN, EVE, TEAM, BotHarness, FakeClock

NOT_FOUND = "I couldn't find this check-in any more, so there is nothing to write."
TAMPERED = "This form no longer matches your check-in. Close it and press the button again."
TRY_AGAIN = (
    "I couldn't save your reflection just now; nothing was saved. "
    "Please press Save again in a minute."
)


# --- set-up ---------------------------------------------------------------------------------


def circle_with_ana(bot: BotHarness) -> int:
    bot.slash("create Product &lt;Leads&gt;")
    bot.slash(f"add <@{ANA}|ana> <@{BEN}|ben>")
    [circle] = bot.circles()
    assert circle.id is not None
    return circle.id


def add_delivery(bot: BotHarness, clock: FakeClock, circle_id: int, **fields: Any) -> Delivery:
    values: dict[str, Any] = {
        "team_id": TEAM,
        "circle_id": circle_id,
        "key": ":".join(
            [
                fields.get("kind", "checkin"),
                str(circle_id),
                fields.get("recipient", ANA),
                clock.now.isoformat(),
            ]
        ),
        "kind": "checkin",
        "recipient": ANA,
        "due_at": clock.now,
        "status": DeliveryStatus.SENT,
        "sent_at": clock.now,
        "created_at": clock.now,
    }
    values.update(fields)
    with bot.db.session() as session:
        delivery = Delivery(**values)
        session.add(delivery)
        session.flush()
        session.refresh(delivery)
    return delivery


def post_dm(bot: BotHarness, delivery: Delivery, message: dict[str, Any]) -> dict[str, Any]:
    """Send the DM as the delivery engine does and record where it went on the row."""
    response = bot.services.client.chat_postMessage(channel=delivery.recipient, **message)
    [dm] = [m for m in bot.fake.messages(response["channel"]) if m["ts"] == response["ts"]]
    with bot.db.session() as session:
        row = session.get(Delivery, delivery.id)
        assert row is not None
        row.channel_id, row.message_ts = dm["channel"], dm["ts"]
        session.add(row)
    return dm


def send_checkin(
    bot: BotHarness, clock: FakeClock, circle_id: int, *, kind: str = "checkin", **fields: Any
) -> tuple[Delivery, dict[str, Any]]:
    delivery = add_delivery(bot, clock, circle_id, kind=kind, **fields)
    assert delivery.id is not None
    message = checkin_message(
        kind=kind, circle_name="Product <Leads>", questions=["?"], delivery_id=delivery.id
    )
    return delivery, post_dm(bot, delivery, message)


def setup(bot: BotHarness, clock: FakeClock) -> tuple[int, Delivery, dict[str, Any]]:
    circle_id = circle_with_ana(bot)
    delivery, dm = send_checkin(bot, clock, circle_id)
    return circle_id, delivery, dm


def click(
    bot: BotHarness,
    message: dict[str, Any],
    *,
    user: str = ANA,
    action_id: str = "reflection_open",
    value: str | None = None,
) -> dict[str, Any] | None:
    """Press a button of `message`; return the modal the bot opened (None if none)."""
    before = len(bot.calls("views.open"))
    [button] = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    ]
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url,
        user_id=user,
        action_id=action_id,
        value=button["value"] if value is None else value,
        block_id="checkin_actions",
        message=message,
        channel_id=message["channel"],
    )
    assert status == 200
    bot.wait_idle()
    opened = [call for call in bot.calls("views.open")[before:] if call.ok]
    if not opened:
        return None
    [call] = opened
    return bot.fake.view(call.response["view"]["id"])


def state(
    tried: str | None = "Asked two customers <!channel>",
    *,
    obstacles: str | None = None,
    confidence: str | None = "4",
    next_step: str | None = None,
    due: str | None = None,
    visibility: str | None = "circle",
    named: bool = False,
    follow_ups: dict[int, str] | None = None,
) -> dict[str, Any]:
    """view.state.values for the default check-in, as Slack sends them."""

    def radio(action_id: str, value: str | None) -> dict[str, Any]:
        option = None if value is None else {"text": {"type": "plain_text"}, "value": value}
        return {action_id: {"type": "radio_buttons", "selected_option": option}}

    values: dict[str, Any] = {
        "tried": {"tried": {"type": "plain_text_input", "value": tried}},
        "obstacles": {"obstacles": {"type": "plain_text_input", "value": obstacles}},
        "confidence": radio("confidence", confidence),
        "next_step": {"next_step": {"type": "plain_text_input", "value": next_step}},
        "next_step.due": {"due": {"type": "datepicker", "selected_date": due}},
        "meta.visibility": radio("visibility", visibility),
        "meta.named": {
            "named": {
                "type": "checkboxes",
                "selected_options": [{"value": "named"}] if named else [],
            }
        },
    }
    for item_id, answer in (follow_ups or {}).items():
        values[f"follow_up.{item_id}"] = radio("answer", answer)
    return values


def submit(
    bot: BotHarness, view: dict[str, Any], values: dict[str, Any], *, user: str = ANA
) -> dict[str, Any] | None:
    """Submit the modal; return the bot's answer (None: empty, the modal closes)."""
    status, _h, body = bot.fake.send_view_submission(
        bot.events_url, user_id=user, view=view, state_values=values
    )
    bot.wait_idle()
    assert status == 200
    return json.loads(body) if body.strip() else None


def tampered(view: dict[str, Any], private_metadata: str) -> dict[str, Any]:
    """A copy of the view Slack does not know (so the fake sends it as given)."""
    copy = {k: v for k, v in view.items() if k not in ("id", "root_view_id")}
    copy["private_metadata"] = private_metadata
    return copy


def errors(answer: dict[str, Any] | None) -> dict[str, str]:
    assert answer is not None and answer["response_action"] == "errors", answer
    result: dict[str, str] = answer["errors"]
    return result


def reflections(bot: BotHarness) -> list[Reflection]:
    with bot.db.session() as session:
        return list(session.exec(select(Reflection).order_by(Reflection.id)).all())


def answers(bot: BotHarness) -> dict[str, tuple[str | None, int | None]]:
    with bot.db.session() as session:
        rows = session.exec(select(ReflectionAnswer)).all()
        return {r.question_id: (r.text, r.number) for r in rows}


def items(bot: BotHarness) -> list[ActionItem]:
    with bot.db.session() as session:
        return list(session.exec(select(ActionItem).order_by(ActionItem.id)).all())


def delivery_row(bot: BotHarness, delivery_id: int | None) -> Delivery:
    with bot.db.session() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        return found


def stored(bot: BotHarness, dm: dict[str, Any]) -> dict[str, Any]:
    [message] = [m for m in bot.fake.messages(dm["channel"]) if m["ts"] == dm["ts"]]
    return {**message, "channel": dm["channel"]}


def ephemeral_texts(bot: BotHarness, user: str) -> list[str]:
    return [m["text"] for m in bot.fake.ephemerals(user=user)]


def nothing_written(bot: BotHarness) -> bool:
    return reflections(bot) == [] and answers(bot) == {} and items(bot) == []


# --- the happy path -------------------------------------------------------------------------


def test_write_a_checkin_saves_it_and_the_dm_says_so(bot: BotHarness, clock: FakeClock) -> None:
    circle_id, delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    assert view["callback_id"] == "reflection_modal"
    assert json.loads(view["private_metadata"]) == {
        "circle_id": circle_id,
        "prompt_set": "default",
        "delivery_id": delivery.id,
    }
    evil = "Call <@U123> about <https://evil|click> & <!channel>"
    answer = submit(
        bot,
        view,
        state(next_step=evil, due="2026-11-20", visibility="leaders", named=True),
    )
    assert answer is None and bot.fake.view_stack(view["id"]) == []  # the modal closed

    [reflection] = reflections(bot)
    assert (reflection.team_id, reflection.circle_id, reflection.user_id) == (TEAM, circle_id, ANA)
    assert (reflection.kind, reflection.delivery_id, reflection.prompt_set) == (
        "checkin",
        delivery.id,
        "default",
    )
    assert reflection.week_start == date(2026, 11, 16)
    assert (reflection.visibility, reflection.named) == ("leaders", True)
    assert reflection.view_id == view["id"]
    assert reflection.submitted_at == clock.now and reflection.edited_at is None
    assert answers(bot) == {
        "tried": ("Asked two customers <!channel>", None),
        "confidence": (None, 4),
        "next_step": (evil, None),
    }
    [item] = items(bot)
    assert (item.text, item.due_date, item.status) == (evil, date(2026, 11, 20), "open")
    assert (item.reflection_id, item.question_id, item.user_id) == (reflection.id, "next_step", ANA)
    assert delivery_row(bot, delivery.id).answered_at == clock.now

    saved = stored(bot, dm)
    assert saved["text"].startswith("Reflection saved")
    shown = json.dumps(saved["blocks"])
    assert "Product &lt;Leads&gt;" in shown
    assert "Call &lt;@U123&gt; about &lt;https://evil|click&gt; &amp; &lt;!channel&gt;" in shown
    for raw in ("<@U123>", "<https://evil|click>", "<!channel>", "<Leads>"):
        assert raw not in shown and raw not in saved["text"]
    assert "My circle and the leaders' digest" in shown
    [edit] = [e for b in saved["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (edit["action_id"], edit["value"]) == ("reflection_edit", str(reflection.id))
    assert [c.args["user_id"] for c in bot.calls("views.publish")] == [ANA]
    assert ephemeral_texts(bot, ANA) == []


def test_a_debrief_asks_the_debrief_questions_and_keeps_the_peer(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = circle_with_ana(bot)
    _delivery, dm = send_checkin(bot, clock, circle_id, kind="debrief")
    view = click(bot, dm)
    assert view is not None
    assert view["title"]["text"] == "Your debrief"
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs[:5] == ["peer", "topic", "insight", "commitment", "commitment.due"]
    assert "initial_user" not in view["blocks"][1]["element"]  # no pairings yet
    values = {
        "peer": {"peer": {"type": "users_select", "selected_user": BEN}},
        "topic": {"topic": {"type": "plain_text_input", "value": "Hiring plan"}},
        "insight": {"insight": {"type": "plain_text_input", "value": "Ask earlier"}},
        "commitment": {"commitment": {"type": "plain_text_input", "value": "Draft the JD"}},
        "meta.visibility": {"visibility": {"selected_option": {"value": "private"}}},
    }
    assert submit(bot, view, values) is None
    [reflection] = reflections(bot)
    assert (reflection.kind, reflection.peer_user_id, reflection.visibility) == (
        "debrief",
        BEN,
        "private",
    )
    assert answers(bot)["peer"] == (BEN, None)
    assert [i.text for i in items(bot)] == ["Draft the JD"]
    assert stored(bot, dm)["text"].startswith("Reflection saved")


def test_writing_from_the_nudge_answers_the_checkin_and_updates_both_dms(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id, checkin, checkin_dm = setup(bot, clock)
    assert checkin.id is not None
    clock.advance(hours=24)
    nudge = add_delivery(
        bot, clock, circle_id, key=f"nudge:{checkin.id}", kind="nudge", parent_id=checkin.id
    )
    nudge_dm = post_dm(
        bot,
        nudge,
        nudge_message(kind="checkin", circle_name="Product Leads", delivery_id=checkin.id),
    )
    view = click(bot, nudge_dm)
    assert view is not None
    assert json.loads(view["private_metadata"])["delivery_id"] == checkin.id
    assert submit(bot, view, state()) is None
    assert delivery_row(bot, checkin.id).answered_at == clock.now
    assert stored(bot, checkin_dm)["text"].startswith("Reflection saved")
    assert stored(bot, nudge_dm)["text"].startswith("Reflection saved")


def test_skip_then_write_is_allowed_and_clears_the_skip(bot: BotHarness, clock: FakeClock) -> None:
    _circle_id, delivery, dm = setup(bot, clock)
    click_skip = dict(dm)
    bot.fake.send_block_action(
        bot.events_url,
        user_id=ANA,
        action_id="checkin_skip",
        value=str(delivery.id),
        message=click_skip,
        channel_id=dm["channel"],
    )
    bot.wait_idle()
    assert delivery_row(bot, delivery.id).skipped_at == clock.now
    clock.advance(hours=2)
    view = click(bot, dm)  # the Write button of the original DM (e.g. still on screen)
    assert view is not None
    assert submit(bot, view, state()) is None
    row = delivery_row(bot, delivery.id)
    assert (row.answered_at, row.skipped_at) == (clock.now, None)
    assert len(reflections(bot)) == 1
    assert stored(bot, dm)["text"].startswith("Reflection saved")


def test_a_late_answer_counts_for_the_week_of_its_checkin(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = circle_with_ana(bot)
    with bot.db.session() as session:
        circle = session.get(Circle, circle_id)
        assert circle is not None
        circle.tz = "Asia/Kolkata"  # Sunday 23:30 UTC is already Monday there
        session.add(circle)
    due = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)
    _delivery, dm = send_checkin(bot, clock, circle_id, due_at=due)
    clock.advance(days=3)  # answered in the week after the next
    view = click(bot, dm)
    assert view is not None
    assert "the week of Mon 9 Nov 2026" in view["blocks"][0]["text"]["text"]
    assert submit(bot, view, state()) is None
    [reflection] = reflections(bot)
    assert reflection.week_start == date(2026, 11, 9)
    assert reflection.submitted_at == clock.now


# --- idempotency and edits ------------------------------------------------------------------


def test_a_retried_submission_of_the_same_view_changes_nothing(
    bot: BotHarness, clock: FakeClock
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    assert submit(bot, view, state(next_step="Call Ben")) is None
    updates = len(bot.calls("chat.update"))
    clock.advance(minutes=1)
    assert submit(bot, view, state("Something else", next_step="Other")) is None  # same view id
    [reflection] = reflections(bot)
    assert reflection.edited_at is None
    assert answers(bot)["tried"] == ("Asked two customers <!channel>", None)
    assert [i.text for i in items(bot)] == ["Call Ben"]
    assert len(bot.calls("chat.update")) == updates


def test_concurrent_duplicate_submissions_make_one_reflection(
    bot: BotHarness, clock: FakeClock
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    results: list[dict[str, Any] | None] = []
    lock = threading.Lock()

    def send() -> None:
        answer = submit(bot, view, state(next_step="Call Ben"))
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.wait_idle()
    assert results == [None] * 4
    assert len(reflections(bot)) == 1
    assert len(items(bot)) == 1 and len(answers(bot)) == 3


def test_losing_the_insert_race_falls_back_to_the_winners_row(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path a concurrent submission takes: no reflection seen, then the unique constraint."""
    _circle_id, delivery, _dm = setup(bot, clock)
    assert delivery.id is not None
    with bot.db.session() as session:
        stale = reflection_rules.target_for_delivery(
            session, team_id=TEAM, user_id=ANA, delivery_id=delivery.id
        )
    assert stale.reflection is None
    parsed = parse_submission(state(), questions=stale.questions, today=clock.now.date())
    assert parsed.reflection is not None

    def save(view_id: str) -> str:
        with bot.db.session() as session:
            assert parsed.reflection is not None
            saved = reflection_rules.save_reflection(
                session, stale, parsed.reflection, user_id=ANA, view_id=view_id, now=clock.now
            )
            return saved.outcome

    assert save("VWINNER") == "created"
    # The losers looked before the winner committed: they saw no reflection.
    monkeypatch.setattr(reflection_rules, "_locked_existing", lambda *_args: None)
    assert save("VWINNER") == "unchanged"  # the same view, retried by a stale worker
    assert save("VOTHER") == "edited"  # another modal of the same check-in
    [reflection] = reflections(bot)
    assert (reflection.view_id, reflection.edited_at) == ("VOTHER", clock.now)


def test_two_modals_for_one_checkin_edit_one_reflection(bot: BotHarness, clock: FakeClock) -> None:
    _circle_id, delivery, dm = setup(bot, clock)
    first = click(bot, dm)
    second = click(bot, dm)  # opened before the first was saved (two windows)
    assert first is not None and second is not None and first["id"] != second["id"]
    assert submit(bot, first, state("First", next_step="Call Ben")) is None
    submitted = clock.now
    clock.advance(minutes=10)
    assert submit(bot, second, state("Second", visibility="private")) is None
    [reflection] = reflections(bot)
    assert reflection.submitted_at == submitted and reflection.edited_at == clock.now
    assert (reflection.view_id, reflection.visibility) == (second["id"], "private")
    assert answers(bot)["tried"] == ("Second", None)
    [item] = items(bot)
    assert (item.status, item.dropped_at) == (ActionItemStatus.DROPPED, clock.now)
    assert delivery_row(bot, delivery.id).answered_at == submitted


def test_a_next_step_removed_then_given_again_is_open_again(
    bot: BotHarness, clock: FakeClock
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    for next_step in ("Call Ben", None, "Email Ben"):
        view = click(bot, dm)
        assert view is not None
        assert submit(bot, view, state("Tried", next_step=next_step)) is None
        clock.advance(minutes=5)
        if next_step is None:
            [item] = items(bot)
            assert item.status == ActionItemStatus.DROPPED
    [item] = items(bot)
    assert (item.status, item.dropped_at, item.text) == (ActionItemStatus.OPEN, None, "Email Ben")


def test_edit_keeps_when_it_was_written_and_changes_the_same_rows(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = circle_with_ana(bot)
    due = clock.now - timedelta(days=7)
    _delivery, dm = send_checkin(bot, clock, circle_id, due_at=due)
    view = click(bot, dm)
    assert view is not None
    submit(bot, view, state(obstacles="Time", next_step="Call Ben", due="2026-11-18"))
    [original] = reflections(bot)
    [item] = items(bot)
    clock.advance(days=5)  # the due date has passed meanwhile

    edit_view = click(bot, stored(bot, dm), action_id="reflection_edit")
    assert edit_view is not None
    assert edit_view["title"]["text"] == "Edit your check-in"
    assert json.loads(edit_view["private_metadata"])["reflection_id"] == original.id
    by_id = {b.get("block_id"): b for b in edit_view["blocks"]}
    assert by_id["tried"]["element"]["initial_value"] == "Asked two customers <!channel>"
    assert by_id["obstacles"]["element"]["initial_value"] == "Time"
    assert by_id["confidence"]["element"]["initial_option"]["value"] == "4"
    assert by_id["next_step"]["element"]["initial_value"] == "Call Ben"
    assert by_id["next_step.due"]["element"]["initial_date"] == "2026-11-18"

    # The past due date it already had is kept; the text changes; obstacles is cleared.
    answer = submit(
        bot,
        edit_view,
        state("Asked three customers", next_step="Call Ben and Chloé", due="2026-11-18"),
    )
    assert answer is None
    [edited] = reflections(bot)
    assert edited.id == original.id
    assert edited.submitted_at == original.submitted_at
    assert edited.week_start == original.week_start == date(2026, 11, 9)
    assert edited.edited_at == clock.now
    assert answers(bot) == {
        "tried": ("Asked three customers", None),
        "confidence": (None, 4),
        "next_step": ("Call Ben and Chloé", None),
    }
    [changed] = items(bot)
    assert changed.id == item.id and changed.text == "Call Ben and Chloé"
    assert changed.created_at == item.created_at
    assert "Reflection saved (edited)" in stored(bot, dm)["text"]


def test_opening_a_checkin_already_written_opens_it_as_an_edit(
    bot: BotHarness, clock: FakeClock
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    first = click(bot, dm)
    assert first is not None
    submit(bot, first, state(named=True))
    [reflection] = reflections(bot)
    again = click(bot, dm)  # an old copy of the DM still has the Write button
    assert again is not None
    assert json.loads(again["private_metadata"])["reflection_id"] == reflection.id
    named = next(b for b in again["blocks"] if b.get("block_id") == "meta.named")
    assert named["element"]["initial_options"][0]["value"] == "named"


def test_someone_else_cannot_edit_a_reflection(bot: BotHarness, clock: FakeClock) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    submit(bot, view, state())
    saved = stored(bot, dm)
    assert click(bot, saved, user=BEN, action_id="reflection_edit") is None
    assert ephemeral_texts(bot, BEN) == ["Only the person who wrote a reflection can edit it."]


# --- action items come back -----------------------------------------------------------------


def test_open_action_items_come_back_and_each_answer_is_recorded(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id, _first, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    submit(bot, view, state(next_step="Ship <the> memo", due="2026-11-20"))
    for text in ("Book the demo", "Call Ben"):  # two more open items from earlier weeks
        clock.advance(days=7)
        _d, week_dm = send_checkin(bot, clock, circle_id)
        week_view = click(bot, week_dm)
        assert week_view is not None
        follow_ups = {
            int(b["block_id"].split(".")[1]): "not_yet"
            for b in week_view["blocks"]
            if b.get("block_id", "").startswith("follow_up.")
        }
        submit(bot, week_view, state(next_step=text, follow_ups=follow_ups))
    memo, demo, call = items(bot)
    assert memo.not_yet_count == 2 and demo.not_yet_count == 1

    clock.advance(days=7)
    _d, last_dm = send_checkin(bot, clock, circle_id)
    last = click(bot, last_dm)
    assert last is not None
    labels = {
        b["block_id"]: b["label"]["text"]
        for b in last["blocks"]
        if b.get("block_id", "").startswith("follow_up.")
    }
    assert labels == {
        f"follow_up.{memo.id}": "Did you do it? Ship <the> memo",
        f"follow_up.{demo.id}": "Did you do it? Book the demo",
        f"follow_up.{call.id}": "Did you do it? Call Ben",
    }
    assert memo.id is not None and demo.id is not None and call.id is not None
    assert json.loads(last["private_metadata"])["follow_up"] == [memo.id, demo.id, call.id]
    answer = submit(
        bot, last, state(follow_ups={memo.id: "done", demo.id: "drop", call.id: "not_yet"})
    )
    assert answer is None
    memo, demo, call = items(bot)
    assert (memo.status, memo.done_at, memo.last_checked_at) == ("done", clock.now, clock.now)
    assert (demo.status, demo.dropped_at) == ("dropped", clock.now)
    assert (call.status, call.not_yet_count, call.last_checked_at) == ("open", 1, clock.now)
    assert len(reflections(bot)) == 4


def test_debriefs_do_not_ask_about_action_items(bot: BotHarness, clock: FakeClock) -> None:
    circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    submit(bot, view, state(next_step="Call Ben"))
    _d, debrief_dm = send_checkin(bot, clock, circle_id, kind="debrief")
    debrief = click(bot, debrief_dm)
    assert debrief is not None
    assert not [b for b in debrief["blocks"] if b.get("block_id", "").startswith("follow_up.")]


# --- validation -----------------------------------------------------------------------------


def test_every_bad_answer_is_shown_under_its_own_field(bot: BotHarness, clock: FakeClock) -> None:
    _circle_id, delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    answer = submit(
        bot,
        view,
        state(
            "   ",
            obstacles="x" * 1005,
            confidence="9",
            next_step="Call Ben",
            due="2026-11-15",
            visibility="everyone",
        ),
    )
    found = errors(answer)
    assert found == {
        "tried": "Please answer this question.",
        "obstacles": "This is 5 characters too long: keep it to 1000 or fewer (it has 1005).",
        "confidence": "Pick a number from 1 to 5.",
        "next_step.due": "Sun 15 Nov 2026 has passed where you are. Pick today or a later date.",
        "meta.visibility": "Choose who can read this.",
    }
    block_ids = {b.get("block_id") for b in view["blocks"] if b["type"] == "input"}
    assert set(found) <= block_ids
    assert bot.fake.view_stack(view["id"]) == [view["id"]]  # still open, text kept
    assert nothing_written(bot)
    assert delivery_row(bot, delivery.id).answered_at is None
    assert errors(submit(bot, view, state(due="2026-11-20"))) == {
        "next_step": "Write what you'll do by this date, or clear the date."
    }
    assert submit(bot, view, state()) is None  # fixed: saved from the same modal
    assert len(reflections(bot)) == 1


def test_the_due_date_is_checked_in_the_authors_own_zone(bot: BotHarness, clock: FakeClock) -> None:
    clock.now = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # still Sunday 15th in New York
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    too_early = submit(bot, view, state(next_step="Call Ben", due="2026-11-14"))
    assert "next_step.due" in errors(too_early)
    assert submit(bot, view, state(next_step="Call Ben", due="2026-11-15")) is None
    assert items(bot)[0].due_date == date(2026, 11, 15)


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "value", "expected"),
    [
        (BEN, None, "This check-in was sent to someone else, so I can't open it for you."),
        (EVE, None, "This check-in was sent to someone else, so I can't open it for you."),
        (ANA, "424242", NOT_FOUND),
        (ANA, "not-a-number", NOT_FOUND),
        (ANA, "99999999999999999999", NOT_FOUND),
    ],
    ids=["other-member", "outsider", "unknown", "garbage", "out-of-range"],
)
def test_the_write_button_refuses_without_a_modal(
    bot: BotHarness,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    who: str,
    value: str | None,
    expected: str,
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    with caplog.at_level(logging.WARNING, logger="handlers.reflection"):
        assert click(bot, dm, user=who, value=value) is None
    assert ephemeral_texts(bot, who) == [expected]
    assert any(r.name == "handlers.reflection" for r in caplog.records)


def test_an_archived_circle_or_a_removed_member_gets_no_modal(
    bot: BotHarness, clock: FakeClock
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    bot.slash(f"remove <@{ANA}|ana>")
    assert click(bot, dm) is None
    assert ephemeral_texts(bot, ANA) == [
        "You're no longer a member of *Product &lt;Leads&gt;*, so this is closed."
    ]
    bot.slash(f"add <@{ANA}|ana>")
    bot.slash("archive")
    assert click(bot, dm) is None
    assert ephemeral_texts(bot, ANA)[-1] == (
        "*Product &lt;Leads&gt;* is archived, so its check-ins are closed."
    )


def test_archived_while_the_modal_was_open_writes_nothing(
    bot: BotHarness, clock: FakeClock
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    bot.slash("archive")
    assert errors(submit(bot, view, state())) == {
        "tried": "This circle is archived, so its check-ins are closed and nothing was saved."
    }
    assert nothing_written(bot)


def test_an_expired_trigger_is_reported_not_crashed(bot: BotHarness, clock: FakeClock) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    bot.fake.inject_error("views.open", "expired_trigger_id")
    assert click(bot, dm) is None
    assert ephemeral_texts(bot, ANA) == [
        "I couldn't open the form just now. Please press the button again."
    ]


# --- tampered private_metadata --------------------------------------------------------------


def someone_elses(bot: BotHarness, clock: FakeClock, circle_id: int) -> dict[str, int]:
    """Ben's check-in, reflection and action item, and another circle's id."""
    ben_delivery, ben_dm = send_checkin(bot, clock, circle_id, recipient=BEN)
    ben_view = click(bot, ben_dm, user=BEN)
    assert ben_view is not None
    assert submit(bot, ben_view, state("Ben's own words", next_step="Ben's item"), user=BEN) is None
    [ben_reflection] = reflections(bot)
    [ben_item] = items(bot)
    with bot.db.session() as session:
        other = Circle(
            team_id=TEAM, channel_id="COTHER", name="Other", created_by=ANA, created_at=clock.now
        )
        session.add(other)
        session.flush()
        other_id = other.id
    assert ben_delivery.id and ben_reflection.id and ben_item.id and other_id
    return {
        "delivery": ben_delivery.id,
        "reflection": ben_reflection.id,
        "item": ben_item.id,
        "circle": other_id,
    }


def test_someone_elses_delivery_or_reflection_in_the_metadata_is_refused(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    circle_id, delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    ben = someone_elses(bot, clock, circle_id)
    before = (reflections(bot), answers(bot), items(bot))
    forged = [
        {"circle_id": circle_id, "prompt_set": "default", "delivery_id": ben["delivery"]},
        {"circle_id": circle_id, "prompt_set": "default", "reflection_id": ben["reflection"]},
        {
            "circle_id": circle_id,
            "prompt_set": "default",
            "delivery_id": delivery.id,
            "follow_up": [ben["item"]],
        },
    ]
    for metadata in forged:
        values = state("Overwrite!", follow_ups={ben["item"]: "drop"})
        with caplog.at_level(logging.WARNING, logger="handlers.reflection"):
            answer = submit(bot, tampered(view, json.dumps(metadata)), values)
        assert errors(answer) == {"tried": TAMPERED}, metadata
    assert (reflections(bot), answers(bot), items(bot)) == before
    assert delivery_row(bot, delivery.id).answered_at is None
    assert sum("tampered" in r.getMessage() for r in caplog.records) == len(forged)


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "not json",
        "[1]",
        '{"circle_id": 999999, "prompt_set": "default", "delivery_id": 1}',
        '{"circle_id": 1, "prompt_set": "other", "delivery_id": 1}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 999999}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": 99999999999999999999}',
        '{"circle_id": 1, "prompt_set": "default", "delivery_id": -1}',
        '{"circle_id": 1, "prompt_set": "default", "reflection_id": 999999}',
    ],
)
def test_tampered_metadata_is_refused_logged_and_writes_nothing(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture, metadata: str
) -> None:
    circle_id, delivery, dm = setup(bot, clock)
    assert circle_id == 1 and delivery.id == 1  # the ids the metadata above plays with
    view = click(bot, dm)
    assert view is not None
    with caplog.at_level(logging.WARNING, logger="handlers.reflection"):
        answer = submit(bot, tampered(view, metadata), state())
    assert errors(answer) == {"tried": TAMPERED}
    assert nothing_written(bot)
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_a_forged_view_id_too_long_to_store_is_refused(bot: BotHarness, clock: FakeClock) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    forged = {**tampered(view, view["private_metadata"]), "id": "V" * 65}
    assert errors(submit(bot, forged, state())) == {"tried": TAMPERED}
    assert nothing_written(bot)


def test_another_person_submitting_the_modal_is_checked_as_themselves(
    bot: BotHarness, clock: FakeClock
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    assert errors(submit(bot, view, state(), user=BEN)) == {"tried": TAMPERED}
    assert nothing_written(bot)


# --- the database failing -------------------------------------------------------------------


def test_a_write_failing_midway_asks_to_try_again_and_leaves_nothing(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    submit(bot, view, state(next_step="Call Ben"))  # an open item for the next check-in
    clock.advance(days=7)
    second, second_dm = send_checkin(bot, clock, circle_id)
    second_view = click(bot, second_dm)
    assert second_view is not None
    [item] = items(bot)
    before = (reflections(bot), answers(bot), items(bot))
    real_save = reflection_rules.save_reflection

    def save_then_fail(*args: Any, **kwargs: Any) -> Any:
        real_save(*args, **kwargs)  # everything flushed, then the connection dies
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(reflection_rules, "save_reflection", save_then_fail)
    values = state("Second week", next_step="New item", follow_ups={item.id or 0: "done"})
    assert errors(submit(bot, second_view, values)) == {"tried": TRY_AGAIN}
    assert (reflections(bot), answers(bot), items(bot)) == before
    assert delivery_row(bot, second.id).answered_at is None
    assert bot.fake.view_stack(second_view["id"]) == [second_view["id"]]  # the text stays
    assert stored(bot, second_dm)["blocks"][-2]["type"] == "actions"  # the DM is unchanged

    monkeypatch.undo()
    assert submit(bot, second_view, values) is None  # Save again, same modal
    assert len(reflections(bot)) == 2
    assert items(bot)[0].status == "done"


def test_an_unreachable_database_at_submission_asks_to_try_again(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None

    @contextmanager
    def no_session() -> Iterator[Any]:
        raise OperationalError("connect", {}, Exception("connection refused"))
        yield None

    monkeypatch.setattr(bot.db, "session", no_session)
    answer = submit(bot, view, state())
    monkeypatch.undo()
    assert errors(answer) == {"tried": TRY_AGAIN}
    assert nothing_written(bot)
    assert bot.calls("chat.update") == []


def test_a_slack_error_after_saving_is_logged_not_shown(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _circle_id, _delivery, dm = setup(bot, clock)
    view = click(bot, dm)
    assert view is not None
    bot.fake.inject_error("chat.update", "message_not_found")
    bot.fake.inject_error("views.publish", "internal_error", status=200)
    with caplog.at_level(logging.WARNING):
        assert submit(bot, view, state()) is None
    assert len(reflections(bot)) == 1
    ours = [r for r in caplog.records if r.name.startswith("handlers.")]
    assert any("message_not_found" in r.getMessage() for r in ours)
    assert any("internal_error" in r.getMessage() for r in ours)
    assert all(r.exc_info is None for r in ours)  # a known Slack error, no traceback
    assert ephemeral_texts(bot, ANA) == []


def test_a_circle_whose_question_set_is_gone_still_gets_default_questions(
    bot: BotHarness,
) -> None:
    circle_id = circle_with_ana(bot)
    with bot.db.session() as session:
        circle = session.get(Circle, circle_id)
        assert circle is not None
        circle.prompt_set = "acme"  # chosen while PROMPTS_DIR still held acme.yml
        session.add(circle)
    bot.slash("checkin now")
    [dm] = [c for c in bot.calls("chat.postMessage") if c.args.get("channel") == ANA]
    assert "What did you try since last time?" in json.dumps(dm.args["blocks"])
    message = bot.fake.messages(dm.response["channel"])[-1]
    modal = click(bot, message)
    assert modal is not None
    assert "What did you try since last time?" in json.dumps(modal["blocks"])
