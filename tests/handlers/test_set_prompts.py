"""`/circle set prompts`: choosing a circle's question set, through signed slash commands.

Fran facilitates *Product Leads*, Ana and Ben participate, Dana leads and Eve is in no circle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prompts import questions
from storage.models import Circle
from tests.harness import ANA, BEN, CHANNEL, DANA, EVE, FAC, OTHER_CHANNEL, BotHarness, FakeClock

ACME = """\
version: 1
description: Acme's <b>engineering</b> & product check-in
checkin:
  - id: shipped
    label: What did you ship?
    kind: short_text
    required: true
    max_length: 200
  - id: blocked_by
    label: What is blocking you <!channel>?
    kind: long_text
    required: false
    max_length: 500
debrief:
  - id: peer
    label: Who did you pair with?
    kind: user
    required: true
    max_length: null
"""

ACME_DEFAULT = """\
version: 1
checkin:
  - id: win
    label: What was this week's win at Acme?
    kind: short_text
    required: true
    max_length: 200
debrief:
  - id: peer
    label: Who did you work with?
    kind: user
    required: true
    max_length: null
"""


def mention(user_id: str) -> str:
    return f"<@{user_id}|{user_id.lower()}>"


def start_circle(bot: BotHarness) -> None:
    bot.slash("create Product Leads")
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    bot.slash(f"add {mention(DANA)} as leader")


def circle_row(bot: BotHarness) -> Circle:
    [circle] = [c for c in bot.circles() if c.channel_id == CHANNEL]
    return circle


def checkin_dm(bot: BotHarness, user_id: str) -> str:
    [dm] = [c.args for c in bot.calls("chat.postMessage") if c.ok and c.args["channel"] == user_id]
    return str(dm["blocks"])


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "prompts"
    directory.mkdir()
    (directory / "acme.yml").write_text(ACME, encoding="utf-8")
    return directory


@pytest.fixture
def acme_bot(
    sqlite_url: str, clock: FakeClock, prompts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotHarness]:
    """The bot started with PROMPTS_DIR set, as an operator would (read from the environment)."""
    monkeypatch.setenv("PROMPTS_DIR", str(prompts_dir))
    try:
        with BotHarness.running(sqlite_url, clock) as harness:
            yield harness
    finally:
        questions.reset()  # the next test starts from the shipped sets


# --- choosing a set ------------------------------------------------------------------------------


def test_a_facilitator_chooses_a_set_and_the_next_checkin_asks_it(bot: BotHarness) -> None:
    start_circle(bot)
    assert circle_row(bot).prompt_set == "default"
    reply = bot.slash("set prompts quick")
    assert reply.ack_text == (
        "From the next check-in and debrief, *Product Leads* asks the `quick` questions "
        "(reflections already written keep their answers).\n"
        "*Check-in*\n"
        "1. What moved forward since last time?\n"
        "2. Where would the circle's help make the biggest difference? _(optional)_\n"
        "3. One thing I'll do next _(optional)_\n"
        "*Debrief*\n"
        "1. Who did you work with?\n"
        "2. What is the one thing you take away?\n"
        "3. What do you commit to doing, and by when?"
    )
    assert circle_row(bot).prompt_set == "quick"
    bot.slash("checkin now")
    dm = checkin_dm(bot, ANA)
    assert "What moved forward since last time?" in dm
    assert "What did you try since last time?" not in dm  # the default set's first question


def test_choosing_the_set_in_use_changes_nothing(sqlite_bot: BotHarness) -> None:
    start_circle(sqlite_bot)
    reply = sqlite_bot.slash("set prompts default")
    assert reply.ack_text == (
        "*Product Leads* already asks the `default` questions, so nothing changed."
    )
    sqlite_bot.slash("set prompts QUICK")  # names are case-insensitive when typed
    assert circle_row(sqlite_bot).prompt_set == "quick"


def test_an_unknown_set_is_refused_with_the_sets_there_are(sqlite_bot: BotHarness) -> None:
    start_circle(sqlite_bot)
    reply = sqlite_bot.slash("set prompts acme")
    assert reply.ack_text == (
        "There is no question set called `acme`. The sets are `default` and `quick`: "
        "`/circle set prompts` shows what each one asks."
    )
    assert circle_row(sqlite_bot).prompt_set == "default"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "set prompts quick default",
            "`/circle set prompts` takes one set name (got “quick default”). "
            "Use `/circle set prompts [&lt;set&gt;]`, e.g. `/circle set prompts quick",
        ),
        (
            "set prompts ../default",
            "“../default” is not a question set name: names are lower-case letters, digits, "
            "- and _. `/circle set prompts` lists the sets.",
        ),
        ("set prompts <@UANA|ana>", "@ana has no place in `/circle set`."),
        ("set", "The settings are: `/circle set nudge 12h`"),
        ("set colour blue", "`/circle set prompts &lt;set&gt;` (the questions check-ins"),
    ],
)
def test_bad_set_prompts_input_is_answered_plainly(
    sqlite_bot: BotHarness, text: str, expected: str
) -> None:
    start_circle(sqlite_bot)
    reply = sqlite_bot.slash(text)
    assert expected in reply.ack_text
    assert circle_row(sqlite_bot).prompt_set == "default"


# --- listing the sets ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", [FAC, ANA, DANA], ids=["facilitator", "participant", "leader"])
def test_set_prompts_alone_lists_the_sets_and_marks_the_one_in_use(
    sqlite_bot: BotHarness, who: str
) -> None:
    start_circle(sqlite_bot)
    sqlite_bot.slash("set prompts quick")
    reply = sqlite_bot.slash("set prompts", user=who)
    assert reply.ack_text == (
        "Question sets for *Product Leads* (choose one with `/circle set prompts &lt;set&gt;`):\n"
        "• `default`: The full weekly check-in and debrief "
        "(4 check-in questions, 4 debrief questions)\n"
        "• `quick` · *in use*: Three questions each, for busy weeks "
        "(3 check-in questions, 3 debrief questions)"
    )


def test_a_circle_whose_set_is_gone_is_told_to_choose_again(sqlite_bot: BotHarness) -> None:
    start_circle(sqlite_bot)
    with sqlite_bot.db.session() as session:
        circle = session.get(Circle, circle_row(sqlite_bot).id)
        assert circle is not None
        circle.prompt_set = "acme"  # chosen while PROMPTS_DIR still held acme.yml
        session.add(circle)
    reply = sqlite_bot.slash("set prompts")
    assert "in use" not in reply.ack_text
    assert reply.ack_text.endswith(
        "_*Product Leads* is set to `acme`, which isn't available any more: choose one of these._"
    )
    sqlite_bot.slash("set prompts quick")
    assert circle_row(sqlite_bot).prompt_set == "quick"


# --- who may, where ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [ANA, DANA, EVE], ids=["participant", "leader", "outsider"])
def test_only_a_facilitator_may_choose_the_questions(sqlite_bot: BotHarness, who: str) -> None:
    start_circle(sqlite_bot)
    reply = sqlite_bot.slash("set prompts quick", user=who)
    assert reply.ack_text == (
        f"Only a facilitator of *Product Leads* can choose its questions. Ask <@{FAC}>."
    )
    assert reply.follow_ups == []
    assert circle_row(sqlite_bot).prompt_set == "default"


def test_an_outsider_may_not_list_a_circles_sets(sqlite_bot: BotHarness) -> None:
    start_circle(sqlite_bot)
    reply = sqlite_bot.slash("set prompts", user=EVE)
    assert reply.ack_text == (
        f"Only members of *Product Leads* can see its question sets. Ask <@{FAC}> to add you."
    )


def test_set_prompts_outside_a_circle_channel_says_where_to_run_it(
    sqlite_bot: BotHarness,
) -> None:
    start_circle(sqlite_bot)
    reply = sqlite_bot.slash("set prompts quick", channel=OTHER_CHANNEL)
    assert reply.ack_text == (
        "There is no circle in this channel. Run `/circle set prompts` in your circle's "
        f"channel: <#{CHANNEL}> (*Product Leads*)."
    )
    assert circle_row(sqlite_bot).prompt_set == "default"


def test_an_archived_circle_keeps_its_set(sqlite_bot: BotHarness) -> None:
    start_circle(sqlite_bot)
    sqlite_bot.slash("archive")
    reply = sqlite_bot.slash("set prompts quick")
    assert reply.ack_text.startswith("This channel's circle *Product Leads* was archived on")
    assert circle_row(sqlite_bot).prompt_set == "default"


def test_help_lists_set_prompts_with_an_example(sqlite_bot: BotHarness) -> None:
    text = sqlite_bot.slash("help").ack_text
    assert (
        "• `/circle set prompts [&lt;set&gt;]`: choose the questions check-ins and debriefs ask; "
        "with no name, list the question sets. Example: `/circle set prompts quick  ·  "
        "/circle set prompts`"
    ) in text


# --- PROMPTS_DIR ---------------------------------------------------------------------------------


def test_a_set_from_prompts_dir_can_be_chosen_and_is_asked(acme_bot: BotHarness) -> None:
    start_circle(acme_bot)
    listing = acme_bot.slash("set prompts").ack_text
    # The description is written by an operator: escaped, so it can't ping or format.
    assert (
        "• `acme`: Acme's &lt;b&gt;engineering&lt;/b&gt; &amp; product check-in "
        "(2 check-in questions, 1 debrief question)"
    ) in listing
    reply = acme_bot.slash("set prompts acme")
    assert "2. What is blocking you &lt;!channel&gt;? _(optional)_" in reply.ack_text
    assert "<!channel>" not in reply.ack_text
    assert circle_row(acme_bot).prompt_set == "acme"
    acme_bot.slash("checkin now")
    assert "What did you ship?" in checkin_dm(acme_bot, BEN)


def test_a_default_set_in_prompts_dir_replaces_the_shipped_one(
    sqlite_url: str, clock: FakeClock, prompts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (prompts_dir / "default.yml").write_text(ACME_DEFAULT, encoding="utf-8")
    monkeypatch.setenv("PROMPTS_DIR", str(prompts_dir))
    try:
        with BotHarness.running(sqlite_url, clock) as bot:
            start_circle(bot)
            assert circle_row(bot).prompt_set == "default"
            assert "• `default` · *in use*: 1 check-in question, 1 debrief question" in (
                bot.slash("set prompts").ack_text
            )
            bot.slash("checkin now")
            dm = checkin_dm(bot, ANA)
            assert "What was this week's win at Acme?" in dm
            assert "What did you try since last time?" not in dm
    finally:
        questions.reset()
