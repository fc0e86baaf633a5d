"""/circle forget-me in process: the confirmation modal, and its submission deleting the data."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from storage.models import Membership, Reflection
from tests.handlers.in_process.flows import circle_with_ana_and_ben, dm_texts, mention
from tests.harness import ANA, BEN, CHANNEL, EVE, FAC
from tests.in_process import InProcessBot

NOTHING_HELD = (
    "I don't hold any data about you: you're not in any circle and haven't written anything "
    "here, so there is nothing to send or delete."
)


def memberships_of(bot: InProcessBot, user: str) -> int:
    with bot.db.session() as session:
        return len(session.exec(select(Membership).where(Membership.user_id == user)).all())


def forget_me_view(bot: InProcessBot, user: str) -> dict[str, Any]:
    reply = bot.slash("forget-me", user=user)
    assert reply.ack_text == "Check the form that opened: nothing is deleted until you confirm."
    assert reply.follow_ups == []
    [opened] = [c for c in bot.calls("views.open") if c.ok]
    return bot.fake.view(opened.response["view"]["id"])


def test_forget_me_asks_first_and_deletes_only_once_confirmed(
    in_process_bot: InProcessBot,
) -> None:
    bot = in_process_bot
    circle_with_ana_and_ben(bot)
    view = forget_me_view(bot, ANA)
    assert view["callback_id"] == "forget_me_confirm"
    assert (view["submit"]["text"], view["close"]["text"]) == ("Delete my data", "Cancel")
    shown = "\n".join(b["text"]["text"] for b in view["blocks"])
    assert "• your membership of 1 circle: *Product Leads*" in shown
    assert "*This can't be undone.*" in shown
    assert memberships_of(bot, ANA) == 1 and bot.person(ANA) is not None  # not yet

    answer = bot.view_submission(view, {}, user=ANA)
    assert (answer.status, answer.json) == (200, None)  # the modal closes
    assert bot.fake.view_stack(view["id"]) == []
    assert memberships_of(bot, ANA) == 0 and bot.person(ANA) is None
    with bot.db.session() as session:
        assert session.exec(select(Reflection).where(Reflection.user_id == ANA)).all() == []
    [told] = [t for t in dm_texts(bot, ANA) if t.startswith("Done:")]
    assert told.startswith("Done: I deleted everything I held about you:")
    assert "1 circle membership" in told
    assert bot.members() == {FAC: "facilitator", BEN: "participant"}
    assert answer.calls_to("views.publish")[-1].args["user_id"] == ANA
    assert bot.slash("forget-me", user=ANA).ack_text == NOTHING_HELD


def test_forget_me_with_nothing_held_opens_nothing(in_process_bot: InProcessBot) -> None:
    bot = in_process_bot
    circle_with_ana_and_ben(bot)
    reply = bot.slash("forget-me", user=EVE)
    assert reply.ack_text == NOTHING_HELD and reply.follow_ups == []
    assert bot.calls("views.open") == []


def test_the_last_facilitator_is_refused_before_and_after_the_modal(
    in_process_bot: InProcessBot,
) -> None:
    bot = in_process_bot
    circle_with_ana_and_ben(bot)
    reply = bot.slash("forget-me", user=FAC)
    assert reply.ack_text.startswith(
        f"You're the only facilitator of *Product Leads* in <#{CHANNEL}>, so nothing was deleted"
    )
    assert bot.calls("views.open") == []

    # Handed over, the modal opens; left alone again before confirming, it refuses on submit.
    bot.slash(f"add {mention(ANA)} as facilitator")
    view = forget_me_view(bot, FAC)
    bot.slash(f"remove {mention(ANA)}")
    answer = bot.view_submission(view, {}, user=FAC)
    assert answer.status == 200
    [told] = dm_texts(bot, FAC)
    assert told.startswith("You're the only facilitator of *Product Leads*")
    assert memberships_of(bot, FAC) == 1 and bot.person(FAC) is not None
