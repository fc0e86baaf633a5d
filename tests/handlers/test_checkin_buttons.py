"""The Skip button of check-in DMs, through signed block_actions into the real bot."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

import handlers.checkin
from bot.rhythm.messages import checkin_message, nudge_message
from storage.models import Circle, Delivery, DeliveryStatus
from tests.harness import ANA, BEN, TEAM, BotHarness, FakeClock

SKIPPED = "Skipped this week — see you next time."


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
        "key": f"checkin:{circle_id}:{ANA}:{clock.now.date()}",
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


def post_dm(bot: BotHarness, user: str, message: dict[str, Any]) -> dict[str, Any]:
    """Send a DM as the bot (like the delivery engine does); return the stored message."""
    response = bot.services.client.chat_postMessage(channel=user, **message)
    [stored] = [m for m in bot.fake.messages(response["channel"]) if m["ts"] == response["ts"]]
    return stored


def sent_checkin(bot: BotHarness, clock: FakeClock) -> tuple[Delivery, dict[str, Any]]:
    """A check-in delivered to Ana: its row (with channel and ts) and the DM."""
    circle_id = circle_with_ana(bot)
    delivery = add_delivery(bot, clock, circle_id)
    assert delivery.id is not None
    dm = post_dm(
        bot,
        ANA,
        checkin_message(
            kind="checkin",
            circle_name="Product <Leads>",
            questions=["What did you try?"],
            delivery_id=delivery.id,
        ),
    )
    with bot.db.session() as session:
        row = session.get(Delivery, delivery.id)
        assert row is not None
        row.channel_id, row.message_ts = dm["channel"], dm["ts"]
        session.add(row)
    delivery.channel_id, delivery.message_ts = dm["channel"], dm["ts"]
    return delivery, dm


def click_skip(
    bot: BotHarness, dm: dict[str, Any], *, user: str = ANA, value: str | None = None
) -> int:
    [skip] = [
        e
        for b in dm["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "checkin_skip"
    ]
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url,
        user_id=user,
        action_id="checkin_skip",
        value=skip["value"] if value is None else value,
        block_id=skip.get("block_id", "checkin_actions"),
        message=dm,
        channel_id=dm["channel"],
    )
    bot.wait_idle()
    return status


def row(bot: BotHarness, delivery_id: int | None) -> Delivery:
    with bot.db.session() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        return found


def stored(bot: BotHarness, dm: dict[str, Any]) -> dict[str, Any]:
    [message] = [m for m in bot.fake.messages(dm["channel"]) if m["ts"] == dm["ts"]]
    return message


def has_buttons(message: dict[str, Any]) -> bool:
    return any(b["type"] == "actions" for b in message.get("blocks", []))


def ephemeral_texts(bot: BotHarness, user: str) -> list[str]:
    return [m["text"] for m in bot.fake.ephemerals(user=user)]


# --- the happy path and double clicks -------------------------------------------------------


def test_skip_records_it_once_and_turns_the_dm_into_the_skipped_message(
    bot: BotHarness, clock: FakeClock
) -> None:
    delivery, dm = sent_checkin(bot, clock)
    assert click_skip(bot, dm) == 200
    assert row(bot, delivery.id).skipped_at == clock.now
    [update] = bot.calls("chat.update")
    assert update.ok
    assert (update.args["channel"], update.args["ts"]) == (dm["channel"], dm["ts"])
    message = stored(bot, dm)
    assert message["text"] == SKIPPED
    assert not has_buttons(message)
    assert "Product &lt;Leads&gt;" in str(message["blocks"])
    assert ephemeral_texts(bot, ANA) == []


def test_a_second_click_says_it_is_already_skipped_and_changes_nothing(
    bot: BotHarness, clock: FakeClock
) -> None:
    delivery, dm = sent_checkin(bot, clock)
    click_skip(bot, dm)
    first = clock.now
    clock.advance(minutes=5)
    click_skip(bot, dm)  # e.g. a second click on a stale copy of the message
    assert row(bot, delivery.id).skipped_at == first
    assert ephemeral_texts(bot, ANA) == ["You've already skipped this one — see you next time."]
    assert stored(bot, dm)["text"] == SKIPPED


def test_two_clicks_at_once_record_one_skip(sqlite_bot: BotHarness, clock: FakeClock) -> None:
    delivery, dm = sent_checkin(sqlite_bot, clock)
    threads = [threading.Thread(target=click_skip, args=(sqlite_bot, dm)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sqlite_bot.wait_idle()
    assert row(sqlite_bot, delivery.id).skipped_at == clock.now
    assert len(ephemeral_texts(sqlite_bot, ANA)) == 1  # the loser is told it was already done


def test_skip_from_the_nudge_skips_the_checkin_and_updates_both_dms(
    bot: BotHarness, clock: FakeClock
) -> None:
    checkin, checkin_dm = sent_checkin(bot, clock)
    assert checkin.id is not None
    clock.advance(hours=24)
    nudge = add_delivery(
        bot, clock, checkin.circle_id, key=f"nudge:{checkin.id}", kind="nudge", parent_id=checkin.id
    )
    # The engine puts the check-in's id on the nudge's buttons.
    nudge_dm = post_dm(
        bot, ANA, nudge_message(kind="checkin", circle_name="Product Leads", delivery_id=checkin.id)
    )
    click_skip(bot, nudge_dm)
    assert row(bot, checkin.id).skipped_at == clock.now
    assert row(bot, nudge.id).skipped_at is None
    assert stored(bot, nudge_dm)["text"] == SKIPPED
    assert stored(bot, checkin_dm)["text"] == SKIPPED
    assert len(bot.calls("chat.update")) == 2


def test_a_nudge_id_on_the_button_also_skips_its_checkin(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    checkin, _dm = sent_checkin(sqlite_bot, clock)
    nudge = add_delivery(
        sqlite_bot, clock, checkin.circle_id, key="nudge:x", kind="nudge", parent_id=checkin.id
    )
    assert nudge.id is not None
    nudge_dm = post_dm(
        sqlite_bot, ANA, nudge_message(kind="checkin", circle_name="C", delivery_id=nudge.id)
    )
    click_skip(sqlite_bot, nudge_dm)
    assert row(sqlite_bot, checkin.id).skipped_at == clock.now


# --- refusals -------------------------------------------------------------------------------


def test_someone_else_clicking_is_told_and_nothing_changes(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    delivery, dm = sent_checkin(bot, clock)
    with caplog.at_level(logging.WARNING, logger="handlers.checkin"):
        assert click_skip(bot, dm, user=BEN) == 200
    assert row(bot, delivery.id).skipped_at is None
    assert bot.calls("chat.update") == []
    assert has_buttons(stored(bot, dm))
    assert ephemeral_texts(bot, BEN) == [
        "This check-in belongs to someone else, so I left it alone."
    ]
    assert any("not_yours" in r.getMessage() and BEN in r.getMessage() for r in caplog.records)


def test_an_answered_checkin_cannot_be_skipped(bot: BotHarness, clock: FakeClock) -> None:
    delivery, dm = sent_checkin(bot, clock)
    with bot.db.session() as session:
        answered = session.get(Delivery, delivery.id)
        assert answered is not None
        answered.answered_at = clock.now
        session.add(answered)
    click_skip(bot, dm)
    assert row(bot, delivery.id).skipped_at is None
    assert ephemeral_texts(bot, ANA) == [
        "You've already written this one, so there is nothing to skip."
    ]
    assert bot.calls("chat.update") == []


@pytest.mark.parametrize(
    "value", ["999999", "not-a-number", "", "1; DROP TABLE delivery", "-1", "99999999999999999999"]
)
def test_an_unknown_or_tampered_delivery_id_changes_nothing(
    sqlite_bot: BotHarness, clock: FakeClock, value: str
) -> None:
    delivery, dm = sent_checkin(sqlite_bot, clock)
    assert click_skip(sqlite_bot, dm, value=value) == 200
    assert row(sqlite_bot, delivery.id).skipped_at is None
    assert sqlite_bot.calls("chat.update") == []
    assert ephemeral_texts(sqlite_bot, ANA) == [
        "I couldn't find this check-in any more, so nothing was changed."
    ]


def test_a_delivery_of_another_workspace_is_not_found(bot: BotHarness, clock: FakeClock) -> None:
    _delivery, dm = sent_checkin(bot, clock)
    with bot.db.session() as session:
        other = Circle(
            team_id="TOTHER",
            channel_id="COTHERWS",
            name="Elsewhere",
            created_by=ANA,
            created_at=clock.now,
        )
        session.add(other)
        session.flush()
        assert other.id is not None
        foreign = Delivery(
            team_id="TOTHER",
            circle_id=other.id,
            key="checkin:other",
            kind="checkin",
            recipient=ANA,
            due_at=clock.now,
            created_at=clock.now,
        )
        session.add(foreign)
        session.flush()
        foreign_id = foreign.id
    click_skip(bot, dm, value=str(foreign_id))
    assert row(bot, foreign_id).skipped_at is None
    assert bot.calls("chat.update") == []


def test_a_database_failure_leaves_everything_as_it_was(
    sqlite_bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery, dm = sent_checkin(sqlite_bot, clock)

    def database_down(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("UPDATE delivery", {}, Exception("database is locked"))

    monkeypatch.setattr(handlers.checkin, "skip_delivery", database_down)
    click_skip(sqlite_bot, dm)
    assert row(sqlite_bot, delivery.id).skipped_at is None
    assert has_buttons(stored(sqlite_bot, dm))
    assert ephemeral_texts(sqlite_bot, ANA) == [
        "I couldn't record the skip just now. Please try again in a minute."
    ]


def test_a_failed_chat_update_keeps_the_skip_and_a_second_click_repairs_the_dm(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    delivery, dm = sent_checkin(sqlite_bot, clock)
    sqlite_bot.fake.inject_error("chat.update", "ratelimited", status=200)
    click_skip(sqlite_bot, dm)
    skipped_at = row(sqlite_bot, delivery.id).skipped_at
    assert isinstance(skipped_at, datetime)
    assert has_buttons(stored(sqlite_bot, dm))
    click_skip(sqlite_bot, dm)
    assert stored(sqlite_bot, dm)["text"] == SKIPPED
    assert row(sqlite_bot, delivery.id).skipped_at == skipped_at
