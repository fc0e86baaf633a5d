"""/circle in process: the signed slash command through Bolt's middleware into the listener."""

from __future__ import annotations

import pytest

from storage.models import Role
from tests.handlers.in_process.flows import circle_with_ana_and_ben, mention
from tests.harness import ANA, BEN, CHANNEL, DANA, EVE, FAC, OTHER_CHANNEL, TEAM, FakeClock
from tests.in_process import InProcessBot

SUBCOMMANDS = ("create", "add", "remove", "members", "rename", "archive", "help")


@pytest.mark.parametrize("text", ["help", "", "HELP"])
def test_help_lists_every_subcommand(sqlite_in_process_bot: InProcessBot, text: str) -> None:
    reply = sqlite_in_process_bot.slash(text, channel=OTHER_CHANNEL)
    assert reply.status == 200 and reply.follow_ups == []
    for sub in SUBCOMMANDS:
        assert f"`/circle {sub}" in reply.ack_text
    assert "Example: `/circle create Product Leads`" in reply.ack_text
    assert "I don't know" not in reply.ack_text
    # Shown to the person only, as Slack shows an ephemeral ack.
    [shown] = sqlite_in_process_bot.fake.ephemerals(user=FAC)
    assert shown["text"] == reply.ack_text


def test_an_unknown_subcommand_says_so_and_shows_the_help(
    sqlite_in_process_bot: InProcessBot,
) -> None:
    bot = sqlite_in_process_bot
    reply = bot.slash("frobnicate <!channel>")
    assert reply.status == 200
    assert reply.ack_text.startswith("I don't know `frobnicate`. Here is what `/circle` can do:")
    assert "`/circle add @person" in reply.ack_text
    assert "<!channel>" not in reply.ack_text
    assert bot.circles() == []
    assert bot.calls("chat.postMessage") == []


def test_create_binds_the_circle_to_the_channel_and_announces_it(
    in_process_bot: InProcessBot, clock: FakeClock
) -> None:
    bot = in_process_bot
    reply = bot.slash("create Product Leads")
    assert reply.status == 200
    assert "Created *Product Leads* in this channel. You are its facilitator." in reply.ack_text
    [circle] = bot.circles()
    assert (circle.team_id, circle.channel_id, circle.name) == (TEAM, CHANNEL, "Product Leads")
    assert (circle.created_at, circle.created_by) == (clock.now, FAC)
    assert bot.members(circle.id) == {FAC: Role.FACILITATOR}
    [post] = bot.calls("chat.postMessage")
    assert post.ok and post.args["channel"] == CHANNEL
    assert "started the peer coaching circle *Product Leads*" in post.args["text"]
    person = bot.person(FAC)
    assert person is not None and person.tz == "Europe/London"


def test_create_in_a_direct_message_is_refused(sqlite_in_process_bot: InProcessBot) -> None:
    bot = sqlite_in_process_bot
    reply = bot.slash("create Product Leads", channel="D0FRAN")
    assert "Circles live in channels" in reply.ack_text
    assert bot.circles() == [] and bot.calls("chat.postMessage") == []


def test_add_acks_first_then_follows_up_with_who_was_added(in_process_bot: InProcessBot) -> None:
    bot = in_process_bot
    bot.slash("create Product Leads")
    reply = bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    assert reply.ack_text == "Adding 2 people to the circle…"
    [follow_up] = reply.follow_ups
    assert follow_up["response_type"] == "ephemeral"
    assert f"as participant: <@{ANA}>, <@{BEN}>." in follow_up["text"]
    reply = bot.slash(f"add {mention(DANA)} as leader")
    assert f"as leader: <@{DANA}>." in reply.all_text
    [circle] = bot.circles()
    assert bot.members(circle.id) == {
        FAC: Role.FACILITATOR,
        ANA: Role.PARTICIPANT,
        BEN: Role.PARTICIPANT,
        DANA: Role.LEADER,
    }
    ana = bot.person(ANA)
    assert ana is not None and (ana.real_name, ana.tz) == ("Ana Lima", "America/New_York")


def test_add_by_a_participant_is_refused_and_changes_nothing(
    sqlite_in_process_bot: InProcessBot,
) -> None:
    bot = sqlite_in_process_bot
    circle_id = circle_with_ana_and_ben(bot)
    before = bot.members(circle_id)
    reply = bot.slash(f"add {mention(DANA)}", user=ANA)
    assert "Only a facilitator of *Product Leads* can" in reply.ack_text
    assert reply.follow_ups == []
    assert bot.members(circle_id) == before


def test_members_lists_the_circle_for_a_member(sqlite_in_process_bot: InProcessBot) -> None:
    bot = sqlite_in_process_bot
    circle_with_ana_and_ben(bot)
    reply = bot.slash("members", user=ANA)
    assert reply.ack_text.startswith("*Product Leads*: 3 members")
    assert f"*Participants* (2): <@{ANA}>, <@{BEN}>" in reply.ack_text


def test_members_is_refused_to_an_outsider(in_process_bot: InProcessBot) -> None:
    bot = in_process_bot
    circle_with_ana_and_ben(bot)
    reply = bot.slash("members", user=EVE)
    assert reply.status == 200
    assert f"Only members of *Product Leads* can see who is in it. Ask <@{FAC}>" in reply.ack_text
    assert f"<@{ANA}>" not in reply.all_text and f"<@{BEN}>" not in reply.all_text
    assert EVE not in bot.members()


@pytest.mark.parametrize("text", ["rename Fuzz\x00circle", "create Nul\x00circle"])
def test_a_command_with_a_nul_character_is_refused(in_process_bot: InProcessBot, text: str) -> None:
    """PostgreSQL cannot store NUL in text, SQLite can: the parser refuses it on both."""
    bot = in_process_bot
    bot.slash("create Product Leads")
    reply = bot.slash(text)
    assert reply.status == 200 and reply.follow_ups == []
    assert "That command holds a NUL character, which I can't keep." in reply.ack_text
    assert [c.name for c in bot.circles()] == ["Product Leads"]
