"""Signing up to demo: the reminder's button, the modal and its submission, end to end."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

import handlers.demoday
from bot.rhythm.messages import demoday_reminder_message
from storage.models import Circle, DemoDay, DemoSignup, Membership, Role
from tests.harness import ANA, BEN, CHANNEL, EVE, FAC, TEAM, BotHarness, FakeClock

TITLE_BLOCK, TRIED_BLOCK = "demo_title", "demo_tried"


# --- set-up ---------------------------------------------------------------------------------


def circle(bot: BotHarness) -> int:
    bot.slash("create Product Leads")
    bot.slash(f"add <@{ANA}|ana>")
    bot.slash(f"add <@{BEN}|ben> as leader")
    [found] = bot.circles()
    assert found.id is not None
    return found.id


def add_demo_day(
    bot: BotHarness, clock: FakeClock, circle_id: int, *, team_id: str = TEAM, **fields: Any
) -> int:
    values: dict[str, Any] = {
        "team_id": team_id,
        "circle_id": circle_id,
        "title": "Q4 <demo> day",
        "starts_at": clock.now + timedelta(days=7),
        "reminder_offsets": "604800,86400,3600",
        "created_by": FAC,
        "created_at": clock.now,
    }
    values.update(fields)
    with bot.db.session() as session:
        demo_day = DemoDay(**values)
        session.add(demo_day)
        session.flush()
        assert demo_day.id is not None
        return demo_day.id


def post_reminder(bot: BotHarness, clock: FakeClock, demo_day_id: int) -> dict[str, Any]:
    """The channel reminder as the delivery engine posts it; returns the stored message."""
    with bot.db.session() as session:
        demo_day = session.get(DemoDay, demo_day_id)
        assert demo_day is not None
        message = demoday_reminder_message(
            circle_name="Product Leads",
            demo_day_id=demo_day_id,
            title=demo_day.title,
            starts_at=demo_day.starts_at,
            signups=[],
            topics=True,
            now=clock.now,
        )
    response = bot.services.client.chat_postMessage(channel=CHANNEL, **message)
    [stored] = [m for m in bot.fake.messages(CHANNEL) if m["ts"] == response["ts"]]
    return stored


def setup(bot: BotHarness, clock: FakeClock) -> tuple[int, dict[str, Any]]:
    demo_day_id = add_demo_day(bot, clock, circle(bot))
    return demo_day_id, post_reminder(bot, clock, demo_day_id)


def click(
    bot: BotHarness, reminder: dict[str, Any], user: str, value: str | None = None
) -> dict[str, Any] | None:
    """Press "Sign up to demo"; return the modal the bot opened (None if it opened none)."""
    before = len(bot.calls("views.open"))
    [button] = [e for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]]
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url,
        user_id=user,
        action_id=button["action_id"],
        value=button["value"] if value is None else value,
        block_id=reminder["blocks"][-1].get("block_id", "b"),
        message=reminder,
        channel_id=CHANNEL,
    )
    assert status == 200
    bot.wait_idle()
    opened = [call for call in bot.calls("views.open")[before:] if call.ok]
    if not opened:
        return None
    [call] = opened
    return bot.fake.view(call.response["view"]["id"])


def state(title: str | None, what_tried: str | None = None) -> dict[str, Any]:
    def text(action_id: str, value: str | None) -> dict[str, Any]:
        return {action_id: {"type": "plain_text_input", "value": value}}

    return {TITLE_BLOCK: text("title", title), TRIED_BLOCK: text("what_tried", what_tried)}


def submit(
    bot: BotHarness, view: dict[str, Any], user: str, title: str | None, tried: str | None = None
) -> tuple[int, dict[str, Any] | None]:
    """Submit the modal; return the status and the bot's answer (None: empty, modal closes)."""
    status, _h, body = bot.fake.send_view_submission(
        bot.events_url, user_id=user, view=view, state_values=state(title, tried)
    )
    bot.wait_idle()
    return status, (json.loads(body) if body.strip() else None)


def tampered(view: dict[str, Any], private_metadata: str) -> dict[str, Any]:
    """A copy of the view Slack does not know (so the fake sends it as given)."""
    copy = {k: v for k, v in view.items() if k not in ("id", "root_view_id")}
    copy["private_metadata"] = private_metadata
    return copy


def signups(bot: BotHarness) -> list[DemoSignup]:
    with bot.db.session() as session:
        return list(session.exec(select(DemoSignup).order_by(DemoSignup.id)).all())


def dms(bot: BotHarness, user: str) -> list[str]:
    return [m["text"] for m in bot.fake.messages(bot.fake.dm_channel_of(user))]


def ephemeral_texts(bot: BotHarness, user: str) -> list[str]:
    return [m["text"] for m in bot.fake.ephemerals(user=user)]


def errors(answer: dict[str, Any] | None) -> dict[str, str]:
    assert answer is not None and answer["response_action"] == "errors", answer
    result: dict[str, str] = answer["errors"]
    return result


# --- the happy path -------------------------------------------------------------------------


def test_a_member_signs_up_through_the_modal(bot: BotHarness, clock: FakeClock) -> None:
    demo_day_id, reminder = setup(bot, clock)
    view = click(bot, reminder, ANA)
    assert view is not None
    assert view["callback_id"] == "demoday_signup_modal"
    assert json.loads(view["private_metadata"]) == {"demo_day_id": demo_day_id}
    title_input = view["blocks"][1]["element"]
    assert title_input["max_length"] == 150 and "initial_value" not in title_input
    assert view["blocks"][2]["optional"] is True
    assert view["blocks"][2]["element"]["max_length"] == 300
    assert "Q4 &lt;demo&gt; day" in view["blocks"][0]["text"]["text"]

    status, answer = submit(bot, view, ANA, "  Pricing <!channel> test ", "Two prices, one week")
    assert (status, answer) == (200, None)
    assert bot.fake.view_stack(view["id"]) == []  # the modal closed
    [signup] = signups(bot)
    assert (signup.team_id, signup.demo_day_id, signup.user_id) == (TEAM, demo_day_id, ANA)
    assert (signup.title, signup.what_tried) == ("Pricing <!channel> test", "Two prices, one week")
    assert signup.created_at == signup.updated_at == clock.now
    [dm] = dms(bot, ANA)
    assert "You're signed up to demo *Pricing &lt;!channel&gt; test*" in dm
    assert "<!date^" in dm and "<!channel>" not in dm


def test_what_you_tried_is_optional(bot: BotHarness, clock: FakeClock) -> None:
    _id, reminder = setup(bot, clock)
    view = click(bot, reminder, ANA)
    assert view is not None
    assert submit(bot, view, ANA, "Pricing test", None) == (200, None)
    [signup] = signups(bot)
    assert signup.what_tried == ""


@pytest.mark.parametrize("who", [BEN, FAC], ids=["leader", "facilitator"])
def test_leaders_and_facilitators_may_sign_up_too(
    bot: BotHarness, clock: FakeClock, who: str
) -> None:
    _id, reminder = setup(bot, clock)
    view = click(bot, reminder, who)
    assert view is not None
    assert submit(bot, view, who, "My demo") == (200, None)
    assert [s.user_id for s in signups(bot)] == [who]


def test_signing_up_again_prefills_the_modal_and_updates_the_same_row(
    bot: BotHarness, clock: FakeClock
) -> None:
    _id, reminder = setup(bot, clock)
    first = click(bot, reminder, ANA)
    assert first is not None
    submit(bot, first, ANA, "Pricing test", "Two prices")
    clock.advance(hours=3)
    second = click(bot, reminder, ANA)
    assert second is not None
    assert second["blocks"][1]["element"]["initial_value"] == "Pricing test"
    assert second["blocks"][2]["element"]["initial_value"] == "Two prices"
    assert second["submit"]["text"] == "Save"
    assert submit(bot, second, ANA, "Pricing test, take two", "Three prices") == (200, None)
    [signup] = signups(bot)
    assert (signup.title, signup.what_tried) == ("Pricing test, take two", "Three prices")
    assert signup.updated_at == clock.now and signup.created_at < signup.updated_at
    assert len(dms(bot, ANA)) == 2 and dms(bot, ANA)[1].startswith("Updated: you're demoing")


def test_a_repeated_submission_makes_one_row_and_one_dm(bot: BotHarness, clock: FakeClock) -> None:
    _id, reminder = setup(bot, clock)
    view = click(bot, reminder, ANA)
    assert view is not None
    submit(bot, view, ANA, "Pricing test")
    again = tampered(view, view["private_metadata"])  # the same payload delivered again
    assert submit(bot, again, ANA, "Pricing test") == (200, None)
    assert len(signups(bot)) == 1
    assert len(dms(bot, ANA)) == 1


def test_concurrent_submissions_make_one_row(bot: BotHarness, clock: FakeClock) -> None:
    _id, reminder = setup(bot, clock)
    view = click(bot, reminder, ANA)
    assert view is not None
    answers: list[tuple[int, dict[str, Any] | None]] = []
    threads = [
        threading.Thread(
            target=lambda t=title: answers.append(
                submit(bot, tampered(view, view["private_metadata"]), ANA, t)
            )
        )
        for title in ("Demo A", "Demo B", "Demo C")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.wait_idle()
    assert answers == [(200, None)] * 3
    [signup] = signups(bot)
    assert signup.title in ("Demo A", "Demo B", "Demo C")


def test_losing_the_insert_race_updates_the_winners_row(bot: BotHarness, clock: FakeClock) -> None:
    """The path a concurrent submission takes: no row seen, then the unique constraint."""
    demo_day_id, _reminder = setup(bot, clock)
    with bot.db.session() as session:
        stale = handlers.demoday.signup_target(
            session, team_id=TEAM, user_id=ANA, demo_day_id=demo_day_id, now=clock.now
        )
    assert stale.existing is None
    with bot.db.session() as session:  # the winner
        handlers.demoday.save_signup(
            session, stale, user_id=ANA, title="Winner", what_tried="", now=clock.now
        )
    with bot.db.session() as session:  # the loser still believes there is no row
        change = handlers.demoday.save_signup(
            session, stale, user_id=ANA, title="Loser", what_tried="x", now=clock.now
        )
    assert change == "updated"
    [signup] = signups(bot)
    assert (signup.title, signup.what_tried) == ("Loser", "x")


# --- refusals on the button -----------------------------------------------------------------


def test_someone_outside_the_circle_is_refused_without_a_modal(
    bot: BotHarness, clock: FakeClock
) -> None:
    _id, reminder = setup(bot, clock)
    assert click(bot, reminder, EVE) is None
    [refusal] = ephemeral_texts(bot, EVE)
    assert "Only members of *Product Leads* can sign up to demo" in refusal
    assert f"<@{FAC}>" in refusal
    assert signups(bot) == []


def test_a_removed_member_is_refused(bot: BotHarness, clock: FakeClock) -> None:
    _id, reminder = setup(bot, clock)
    bot.slash(f"remove <@{ANA}|ana>")
    assert click(bot, reminder, ANA) is None
    assert "Only members of" in ephemeral_texts(bot, ANA)[0]


def test_a_cancelled_demo_day_is_refused(bot: BotHarness, clock: FakeClock) -> None:
    demo_day_id, reminder = setup(bot, clock)
    cancel(bot, clock, demo_day_id)
    assert click(bot, reminder, ANA) is None
    assert ephemeral_texts(bot, ANA) == [
        "*Q4 &lt;demo&gt; day* was cancelled, so sign-ups are closed."
    ]


def test_a_demo_day_that_has_started_is_refused(bot: BotHarness, clock: FakeClock) -> None:
    _id, reminder = setup(bot, clock)
    clock.advance(days=7)
    assert click(bot, reminder, ANA) is None
    assert ephemeral_texts(bot, ANA) == [
        "*Q4 &lt;demo&gt; day* has already started, so sign-ups are closed."
    ]


@pytest.mark.parametrize("value", ["424242", "abc", "", "0", "99999999999999999999"])
def test_an_unknown_demo_day_on_the_button_is_refused(
    bot: BotHarness, clock: FakeClock, value: str
) -> None:
    _id, reminder = setup(bot, clock)
    assert click(bot, reminder, ANA, value=value) is None
    assert ephemeral_texts(bot, ANA) == [
        "I couldn't find this demo day, so there is nothing to sign up to."
    ]


def test_the_button_with_the_database_down_says_try_again(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _id, reminder = setup(bot, clock)
    monkeypatch.setattr(handlers.demoday, "signup_target", database_down)
    assert click(bot, reminder, ANA) is None
    assert ephemeral_texts(bot, ANA) == [
        "I couldn't open the sign-up form just now. Please press the button again."
    ]


def test_an_expired_trigger_is_reported_not_crashed(bot: BotHarness, clock: FakeClock) -> None:
    _id, reminder = setup(bot, clock)
    bot.fake.inject_error("views.open", "expired_trigger_id")
    assert click(bot, reminder, ANA) is None
    assert ephemeral_texts(bot, ANA) == [
        "I couldn't open the sign-up form just now. Please press the button again."
    ]


# --- re-validation at submission ------------------------------------------------------------


def cancel(bot: BotHarness, clock: FakeClock, demo_day_id: int) -> None:
    with bot.db.session() as session:
        demo_day = session.get(DemoDay, demo_day_id)
        assert demo_day is not None
        demo_day.cancelled_at, demo_day.cancelled_by = clock.now, FAC
        session.add(demo_day)


def opened_modal(bot: BotHarness, clock: FakeClock, user: str = ANA) -> tuple[int, dict]:
    demo_day_id, reminder = setup(bot, clock)
    view = click(bot, reminder, user)
    assert view is not None
    return demo_day_id, view


def test_cancelled_after_the_modal_opened_writes_nothing(bot: BotHarness, clock: FakeClock) -> None:
    demo_day_id, view = opened_modal(bot, clock)
    cancel(bot, clock, demo_day_id)
    status, answer = submit(bot, view, ANA, "Pricing test")
    assert status == 200
    assert errors(answer) == {TITLE_BLOCK: "This demo day was cancelled, so sign-ups are closed."}
    assert signups(bot) == [] and dms(bot, ANA) == []


def test_started_while_the_modal_was_open_writes_nothing(bot: BotHarness, clock: FakeClock) -> None:
    _id, view = opened_modal(bot, clock)
    clock.advance(days=8)
    _status, answer = submit(bot, view, ANA, "Pricing test")
    assert "already started" in errors(answer)[TITLE_BLOCK]
    assert signups(bot) == []


def test_removed_while_the_modal_was_open_writes_nothing(bot: BotHarness, clock: FakeClock) -> None:
    _id, view = opened_modal(bot, clock)
    bot.slash(f"remove <@{ANA}|ana>")
    _status, answer = submit(bot, view, ANA, "Pricing test")
    assert errors(answer) == {TITLE_BLOCK: "Only members of this circle can sign up to demo."}
    assert signups(bot) == []


def test_someone_else_submitting_the_modal_is_checked_as_themselves(
    bot: BotHarness, clock: FakeClock
) -> None:
    _id, view = opened_modal(bot, clock)
    _status, answer = submit(bot, view, EVE, "Not my circle")
    assert "Only members" in errors(answer)[TITLE_BLOCK]
    assert signups(bot) == []


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "not json",
        "[1]",
        '{"demo_day_id": "1"}',
        '{"demo_day_id": true}',
        '{"demo_day_id": -1}',
        '{"demo_day_id": 999999}',
        '{"demo_day_id": 99999999999999999999}',
        '{"other": 1}',
    ],
)
def test_tampered_private_metadata_is_refused_and_logged(
    bot: BotHarness, clock: FakeClock, metadata: str, caplog: pytest.LogCaptureFixture
) -> None:
    _id, view = opened_modal(bot, clock)
    with caplog.at_level(logging.WARNING, logger="handlers.demoday"):
        status, answer = submit(bot, tampered(view, metadata), ANA, "Pricing test")
    assert status == 200
    assert errors(answer) == {TITLE_BLOCK: "I couldn't find this demo day, so nothing was saved."}
    assert signups(bot) == []
    assert any(r.name == "handlers.demoday" for r in caplog.records)


def test_a_demo_day_of_another_workspace_is_never_written(
    bot: BotHarness, clock: FakeClock
) -> None:
    _id, view = opened_modal(bot, clock)
    with bot.db.session() as session:
        elsewhere = Circle(
            team_id="TOTHER",
            channel_id="COTHERWS",
            name="Elsewhere",
            created_by=ANA,
            created_at=clock.now,
        )
        session.add(elsewhere)
        session.flush()
        assert elsewhere.id is not None
        session.add(
            Membership(
                team_id="TOTHER",
                circle_id=elsewhere.id,
                user_id=ANA,
                role=Role.PARTICIPANT,
                added_by=ANA,
                added_at=clock.now,
            )
        )
        other_id = elsewhere.id
    foreign = add_demo_day(bot, clock, other_id, team_id="TOTHER")
    _status, answer = submit(
        bot, tampered(view, json.dumps({"demo_day_id": foreign})), ANA, "Pricing test"
    )
    assert "couldn't find this demo day" in errors(answer)[TITLE_BLOCK]
    assert signups(bot) == []


def test_a_demo_day_of_a_circle_you_are_not_in_is_refused(
    bot: BotHarness, clock: FakeClock
) -> None:
    _id, view = opened_modal(bot, clock)
    with bot.db.session() as session:
        other = Circle(
            team_id=TEAM, channel_id="COTHER", name="Other", created_by=FAC, created_at=clock.now
        )
        session.add(other)
        session.flush()
        assert other.id is not None
        other_id = other.id
    foreign = add_demo_day(bot, clock, other_id)
    _status, answer = submit(
        bot, tampered(view, json.dumps({"demo_day_id": foreign})), ANA, "Pricing test"
    )
    assert "Only members" in errors(answer)[TITLE_BLOCK]
    assert signups(bot) == []


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["", "   ", None, "\n\t"])
def test_an_empty_title_is_an_error_under_the_title(
    bot: BotHarness, clock: FakeClock, title: str | None
) -> None:
    _id, view = opened_modal(bot, clock)
    status, answer = submit(bot, view, ANA, title, "Something")
    assert status == 200
    assert errors(answer) == {TITLE_BLOCK: "Give your demo a title."}
    assert bot.fake.view_stack(view["id"]) == [view["id"]]  # still open
    assert signups(bot) == []


def test_over_long_answers_are_refused_even_if_the_client_allowed_them(
    bot: BotHarness, clock: FakeClock
) -> None:
    _id, view = opened_modal(bot, clock)
    _status, answer = submit(bot, view, ANA, "t" * 151, "w" * 301)
    assert errors(answer) == {
        TITLE_BLOCK: "Keep this to 150 characters or fewer.",
        TRIED_BLOCK: "Keep this to 300 characters or fewer.",
    }
    assert signups(bot) == []
    _status, answer = submit(bot, view, ANA, "t" * 150, "w" * 300)
    assert answer is None
    [signup] = signups(bot)
    assert (len(signup.title), len(signup.what_tried)) == (150, 300)


# --- the database failing at submission -----------------------------------------------------


def database_down(*_args: Any, **_kwargs: Any) -> Any:
    raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_a_failing_write_asks_to_try_again_and_writes_nothing(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _id, view = opened_modal(bot, clock)
    real_save = handlers.demoday.save_signup

    def save_then_fail(*args: Any, **kwargs: Any) -> str:
        real_save(*args, **kwargs)  # the row is flushed, then the transaction fails
        raise OperationalError("UPDATE demo_signup", {}, Exception("server closed the connection"))

    monkeypatch.setattr(handlers.demoday, "save_signup", save_then_fail)
    status, answer = submit(bot, view, ANA, "Pricing test")
    assert status == 200
    assert errors(answer) == {
        TITLE_BLOCK: "I couldn't save your sign-up just now; nothing was saved. "
        "Please try again in a minute."
    }
    assert signups(bot) == [] and dms(bot, ANA) == []
    monkeypatch.setattr(handlers.demoday, "save_signup", real_save)
    assert submit(bot, view, ANA, "Pricing test") == (200, None)  # the same modal, once more
    assert len(signups(bot)) == 1


def test_an_unreachable_database_at_submission_asks_to_try_again(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _id, view = opened_modal(bot, clock)

    @contextmanager
    def no_session() -> Iterator[Any]:
        database_down()
        yield None

    monkeypatch.setattr(bot.db, "session", no_session)
    _status, answer = submit(bot, view, ANA, "Pricing test")
    monkeypatch.undo()
    assert "try again" in errors(answer)[TITLE_BLOCK]
    assert signups(bot) == [] and dms(bot, ANA) == []
