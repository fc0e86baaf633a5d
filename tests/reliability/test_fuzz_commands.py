"""Fuzzing `/circle`: the parser with any text, then signed slash commands over HTTP.

`bot.commands.parse` must return a sound command or refuse with a `CommandError` whose message
names the correct form and shows no internals, whatever it is given. Through the real HTTP
path (one bot per database for the module), every command answers 200 with a non-empty ack
in our own words, and Slack accepts every answer. The properties live in
tests/reliability/fuzzing.py; `python -m bench.fuzz` runs them with many more examples.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.slash.base import SORRY
from bot.slash.parse import CommandError, Help
from bot.subcommands import SUBCOMMANDS
from bot.subcommands import parse_text as parse
from tests.harness import FAC, BotHarness
from tests.reliability.conftest import fuzz_settings
from tests.reliability.fuzzing import (
    FUZZ_CHANNEL,
    SLASH_CHANNELS,
    SLASH_USERS,
    any_text,
    check_parse,
    check_refusal_is_escaped,
    check_slash,
    ensure_live_circle,
    slack_text,
)

# --- the parser alone (pure, so many examples are cheap) ------------------------------------


@fuzz_settings(300)
@given(any_text())
def test_parse_answers_any_text_with_a_command_or_a_clear_refusal(text: str) -> None:
    check_parse(text)


@fuzz_settings(500)
@given(slack_text())
@example("schedule checkin mon 09:00 every 0 weeks tz:Mars/Olympus")
@example("demoday cancel #99999999999")
@example("add <@U123|x> <!here> as leader")
@example("set nudge 0h")
@example("remove")
def test_parse_answers_slack_text_with_a_command_or_a_clear_refusal(text: str) -> None:
    check_parse(text)


def test_every_documented_example_parses_to_its_command() -> None:
    """The forms the refusals point people to must themselves work."""
    for sub in SUBCOMMANDS:
        for shown in sub.example.split("  ·  "):
            text = shown.removeprefix("/circle").strip()
            command = check_parse(
                text.replace("@ana", "<@UANA|ana>")
                .replace("@ben", "<@UBEN|ben>")
                .replace("@dana", "<@UDANA|dana>")
            )
            assert command is not None, f"the example {shown!r} of {sub.name!r} is refused"
            assert command == Help() or not isinstance(command, Help), shown


@fuzz_settings(200)
@given(slack_text(long_text=False))
@example("members &lt;!channel&gt;")
@example("remove &lt;https://evil|click&gt;")
@example("add <@UANA|ana> as &lt;@U123&gt;")
def test_refusals_escape_what_the_person_typed(text: str) -> None:
    try:
        parse(text)
    except CommandError as error:
        check_refusal_is_escaped(str(error))


# --- through the real HTTP path --------------------------------------------------------------


@fuzz_settings(30)
@given(
    text=slack_text(),
    user=st.sampled_from(SLASH_USERS),
    channel=st.sampled_from(SLASH_CHANNELS),
)
@example(text="digest send", user=FAC, channel=FUZZ_CHANNEL)
@example(text="demoday 2099-01-01 25:00 x", user=FAC, channel=FUZZ_CHANNEL)
@example(text="learnings \"NEAR( OR * '); DROP TABLE reflection;--", user=FAC, channel="D0FUZZ")
def test_slash_commands_over_http_always_get_a_clear_answer(
    shared_bot: BotHarness, text: str, user: str, channel: str
) -> None:
    ensure_live_circle(shared_bot)
    check_slash(shared_bot, text, user=user, channel=channel)


@pytest.mark.parametrize("text", ["rename Fuzz\x00circle", "demoday 2026-12-10 15:00 Q\x00 day"])
def test_a_nul_character_in_a_command_gets_a_clear_answer(
    shared_bot: BotHarness, shared_db_url: str, text: str
) -> None:
    """Slack's clients don't send NUL, but a command must not depend on that: PostgreSQL cannot
    store it in text, SQLite can; the parser refuses it, the same on both."""
    ensure_live_circle(shared_bot)
    reply = shared_bot.slash(text, user=FAC, channel=FUZZ_CHANNEL)
    assert reply.status == 200 and SORRY not in reply.all_text, reply.all_text
    assert "NUL character" in reply.ack_text
