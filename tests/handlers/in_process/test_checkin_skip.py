"""The Skip button of a check-in DM, in process: block_actions through Bolt into the listener."""

from __future__ import annotations

import pytest

from storage.models import Delivery
from tests.handlers.in_process.flows import (
    circle_with_ana_and_ben,
    click_in_message,
    ephemeral_texts,
    has_buttons,
    sent_checkin,
    stored_message,
)
from tests.harness import ANA, BEN, EVE, FakeClock
from tests.in_process import InProcessBot

SKIPPED = "Skipped this week — see you next time."
NOT_YOURS = "This check-in belongs to someone else, so I left it alone."


def skipped_at(bot: InProcessBot, delivery_id: int | None) -> object:
    with bot.db.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        return row.skipped_at


def test_skipping_your_own_checkin_records_it_and_turns_the_dm_into_skipped(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    circle_id = circle_with_ana_and_ben(bot, "Product &lt;Leads&gt;")  # as Slack sends `<`
    delivery, dm = sent_checkin(bot, clock, circle_id, "Product <Leads>")
    answer = click_in_message(bot, dm, "checkin_skip", user=ANA)
    assert answer.status == 200 and answer.body == ""  # acked at once, empty
    assert skipped_at(bot, delivery.id) == clock.now
    [update] = answer.calls_to("chat.update")
    assert update.ok and (update.args["channel"], update.args["ts"]) == (dm["channel"], dm["ts"])
    message = stored_message(bot, dm)
    assert message["text"] == SKIPPED and not has_buttons(message)
    assert "Product &lt;Leads&gt;" in str(message["blocks"])
    assert ephemeral_texts(bot, ANA) == []

    # A second click changes nothing and says so.
    first = clock.now
    clock.advance(minutes=5)
    click_in_message(bot, dm, "checkin_skip", user=ANA)
    assert skipped_at(bot, delivery.id) == first
    assert ephemeral_texts(bot, ANA) == ["You've already skipped this one — see you next time."]


@pytest.mark.parametrize("who", [BEN, EVE], ids=["other-member", "outsider"])
def test_someone_elses_checkin_is_refused_and_nothing_changes(
    in_process_bot: InProcessBot, clock: FakeClock, who: str
) -> None:
    bot = in_process_bot
    delivery, dm = sent_checkin(bot, clock, circle_with_ana_and_ben(bot))
    answer = click_in_message(bot, dm, "checkin_skip", user=who)
    assert answer.status == 200
    assert skipped_at(bot, delivery.id) is None
    assert bot.calls("chat.update") == []
    assert has_buttons(stored_message(bot, dm))
    assert ephemeral_texts(bot, who) == [NOT_YOURS]
    assert [c.method for c in answer.calls] == ["response_url"]  # the refusal, nothing else


@pytest.mark.parametrize("value", ["999999", "not-a-number", "-1", "99999999999999999999"])
def test_an_unknown_or_tampered_delivery_id_changes_nothing(
    sqlite_in_process_bot: InProcessBot, clock: FakeClock, value: str
) -> None:
    bot = sqlite_in_process_bot
    delivery, dm = sent_checkin(bot, clock, circle_with_ana_and_ben(bot))
    click_in_message(bot, dm, "checkin_skip", user=ANA, value=value)
    assert skipped_at(bot, delivery.id) is None
    assert bot.calls("chat.update") == []
    assert ephemeral_texts(bot, ANA) == [
        "I couldn't find this check-in any more, so nothing was changed."
    ]
