"""`/circle learnings <words>` through the real path: signed slash commands into the bot, on
SQLite and PostgreSQL, with reflections written by the real writer (bot/reflections/rules.py).

The visibility matrix, with one reflection of Ana's per visibility in circle A, one of Chloé's
(written before she was removed), and one of Eve's in circle B:

| reader                     | private | circle | leaders | Chloé's | Eve's (B) |
| -------------------------- | ------- | ------ | ------- | ------- | --------- |
| Ana, author (A)            | yes     | yes    | yes     | yes     | no        |
| Ben, participant (A and B) | no      | yes    | yes     | yes     | yes       |
| Fran, facilitator (A)      | no      | yes    | yes     | yes     | no        |
| Dana, leader (A)           | no      | no     | yes     | no      | no        |
| Chloé, removed from A      | no      | no     | no      | yes     | no        |
| Eve, outsider to A         | no      | no     | no      | no      | yes       |
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect
from sqlmodel import select

from bot.slash.base import SORRY
from storage.models import Reflection, Visibility
from tests.bot.reflections.test_learnings import parsed, write_reflection
from tests.harness import (
    ANA,
    BEN,
    CHANNEL,
    CHLOE,
    DANA,
    EVE,
    FAC,
    OTHER_CHANNEL,
    TEAM,
    BotHarness,
    Reply,
)

MARKER = re.compile(r"\b(\w+mark)\b")


def circle_ids(bot: BotHarness) -> dict[str, int]:
    return {c.name: c.id for c in bot.circles() if c.id is not None}


def learnings(bot: BotHarness, words: str, *, user: str, channel: str = CHANNEL) -> Reply:
    reply = bot.slash(f"learnings {words}", user=user, channel=channel)
    assert reply.status == 200, reply
    assert SORRY not in reply.all_text
    return reply


def markers(reply: Reply) -> set[str]:
    return set(MARKER.findall(reply.ack_text))


def test_each_reader_finds_exactly_what_they_may_read(bot: BotHarness) -> None:
    bot.slash("create Product Leads")
    bot.slash(f"add <@{ANA}|ana> <@{BEN}|ben> <@{CHLOE}|chloe>")
    bot.slash(f"add <@{DANA}|dana> as leader")
    bot.slash("create Design Crew", user=EVE, channel=OTHER_CHANNEL)
    bot.slash(f"add <@{BEN}|ben>", user=EVE, channel=OTHER_CHANNEL)
    ids = circle_ids(bot)
    a, b = ids["Product Leads"], ids["Design Crew"]
    for visibility in Visibility:
        write_reflection(
            bot.db,
            team_id=TEAM,
            circle_id=a,
            author=ANA,
            submission=parsed(
                f"Our retro {visibility.value}mark went well",
                visibility=visibility,
                named=visibility != Visibility.LEADERS,
            ),
        )
    write_reflection(
        bot.db, team_id=TEAM, circle_id=a, author=CHLOE, submission=parsed("retro chloemark")
    )
    write_reflection(
        bot.db, team_id=TEAM, circle_id=b, author=EVE, submission=parsed("retro evemark")
    )
    bot.slash(f"remove <@{CHLOE}|chloe>")

    seen = {
        "author": learnings(bot, "retro", user=ANA),
        "participant": learnings(bot, "RETRO", user=BEN, channel="DBENDM"),  # from a DM
        "facilitator": learnings(bot, "retro", user=FAC),
        "leader": learnings(bot, "retro", user=DANA, channel=OTHER_CHANNEL),
        "removed": learnings(bot, "retro", user=CHLOE),
        "outsider": learnings(bot, "retro", user=EVE),
    }
    assert {reader: markers(reply) for reader, reply in seen.items()} == {
        "author": {"privatemark", "circlemark", "leadersmark", "chloemark"},
        "participant": {"circlemark", "leadersmark", "chloemark", "evemark"},
        "facilitator": {"circlemark", "leadersmark", "chloemark"},
        "leader": {"leadersmark"},
        "removed": {"chloemark"},
        "outsider": {"evemark"},
    }
    # Named where the author chose it; the author is always "you" to themself.
    assert f"by <@{ANA}>" in seen["participant"].ack_text
    assert f"<@{ANA}>" not in seen["leader"].ack_text
    assert "name not shared" in seen["leader"].ack_text
    assert "by you, private\n>Our *retro* privatemark went well" in seen["author"].ack_text
    assert "*Design Crew* · week of" in seen["participant"].ack_text
    assert seen["leader"].ack_text.startswith(
        "1 reflection you can read mentions “retro”, best match first:"
    )


HOSTILE_FINDS = ["OR", "NEAR(", "a* OR b", '"said" -yes', "^NEAR", "zurich CAFÉ", "日本語", "हिंदी"]


def test_query_syntax_and_sql_are_searched_as_plain_words(bot: BotHarness) -> None:
    bot.slash("create Product Leads")
    bot.slash(f"add <@{ANA}|ana>")
    [circle_id] = circle_ids(bot).values()
    write_reflection(
        bot.db,
        team_id=TEAM,
        circle_id=circle_id,
        author=ANA,
        submission=parsed(
            'Plan a* OR b: we said "yes" NEAR the end, in a Zürich café. 日本語 テスト, हिंदी में'
        ),
    )

    for words in HOSTILE_FINDS:
        reply = learnings(bot, words, user=ANA)
        assert reply.ack_text.startswith("1 reflection you can read mentions"), (words, reply)

    for words in ("OR NOT", "'; DROP TABLE reflection; --", "NEAR(plan offsite)"):
        reply = learnings(bot, words, user=ANA)
        assert reply.ack_text.startswith("No reflection you can read mentions all of"), words
    with bot.db.session() as session:  # still there, still searchable
        assert len(session.exec(select(Reflection)).all()) == 1
    assert "reflection" in inspect(bot.db.engine).get_table_names()

    refusals = {
        '"': "There are no words in that search, only symbols",
        "*": "There are no words in that search, only symbols",
        "!!! ??? *** &lt;&gt; &amp;": "There are no words in that search, only symbols",
        "": "Say what to look for, e.g. `/circle learnings delegation`.",
        "x" * 3000: "One of those words is 3000 characters long",
        " ".join(f"w{n}" for n in range(600)): "That's 600 words; I search with at most 20",
    }
    for words, answer in refusals.items():
        assert answer in learnings(bot, words, user=ANA).ack_text, words[:20]


def test_a_person_in_no_circle_is_told_so(sqlite_bot: BotHarness) -> None:
    reply = learnings(sqlite_bot, "retro", user=EVE, channel="DEVEDM")
    assert reply.ack_text == (
        "You're not in any circle yet, so there are no reflections for you to search. "
        "A circle's facilitator can add you with `/circle add`."
    )


@pytest.mark.parametrize("alias", ["learnings", "learning", "LEARNINGS"])
def test_nothing_found_says_so_and_help_shows_the_command(
    sqlite_bot: BotHarness, alias: str
) -> None:
    sqlite_bot.slash("create Product Leads")
    reply = sqlite_bot.slash(f"{alias} hiring plan")
    assert reply.ack_text == (
        "No reflection you can read mentions all of “hiring plan”. "
        "Try fewer words, e.g. `/circle learnings hiring`."
    )
    help_text = sqlite_bot.slash("help").ack_text
    assert "`/circle learnings &lt;words&gt;`: search the reflections you may read" in help_text
