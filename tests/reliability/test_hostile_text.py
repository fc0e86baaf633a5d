"""Hostile text everywhere a person can put text, and everywhere the bot shows it.

People write a circle's name, a team's name, a demo day's title, their sign-up and their
reflections (up to 3000 characters); they search the learnings. Each of those gets broadcasts
and mentions (`<!channel>`, `<@U123>`), a disguised link (`<https://evil|click>`), mrkdwn
marks, an already-escaped `&lt;`, SQL (`'); DROP TABLE reflection;--`), full-text query syntax
(`"`, `*`, `OR`, `NEAR(`) and awkward unicode (direction overrides, zero-width joiners,
combining marks, emoji). The module drives all of it through the real bot once per database
(`world`), then checks:

- every piece of mrkdwn the bot sent to Slack (messages, ephemeral answers, updates, modals,
  Home tabs, file comments) has no `<…>` the bot did not make itself: only mentions of real
  people, channels and date tokens; and the typed `&lt;` shows as typed (`&amp;lt;`);
- the text round-trips: stored exactly, and exactly so in the my-data JSON and export CSV;
- the tables are intact and search still works after SQL and query syntax went through it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.data_rights import rows as data_rights_rows
from bot.reflections.modal import Answer, ParsedReflection
from bot.sandbox.fake_slack import FakeUser, RecordedCall
from bot.slack.mrkdwn import escape
from storage.models import (
    ActionItem,
    Circle,
    DemoDay,
    DemoSignup,
    Membership,
    Reflection,
    ReflectionAnswer,
    Visibility,
)
from tests.bot.reflections.test_learnings import write_reflection
from tests.harness import ANA, BEN, DANA, FAC, TEAM, BotHarness, FakeClock
from tests.reliability.fuzzing import press, send_checkin_dm, snapshot

MARK = "Zq&lt;Zq"  # typed as is: shown right only as Zq&amp;lt;Zq
BROADCASTS = "<!channel> <!here> <!everyone> <@U123> <#C123> <!subteam^S1> <https://evil|click>"
UNICODE = "\u202eevil\u202c \u200f\u200b\u200d e\u0301\u0301 👩🏽‍💻"
SQL = "'); DROP TABLE reflection;--"
QUERY = '" * OR NEAR( AND col:x ^y -z'
NEEDLE = "needleword"

CIRCLE_NAME = f"<!channel> *R&D* {MARK} '); DROP TABLE circle;-- \u202eevil\u202c 🎉"
RENAMED = f"<https://evil|click> {MARK} <@U123> ~gone~"
TEAM_NAME = f"<!here> Platform {MARK} \u200d"
DEMO_TITLE = f"<!everyone> Demo *day* {MARK} \u202e🎉"
SIGNUP_TITLE = f"<@U123> pricing <https://evil|test> {MARK} {SQL}"
SIGNUP_TRIED = f"{QUERY} {UNICODE} `code`"
TRIED = f"{BROADCASTS} {MARK} *bold* _it_ ~s~ `code` {SQL} {QUERY} {UNICODE} {NEEDLE}"
NEXT_STEP = f"Call <@U123> about <https://evil|click> & <!channel> {MARK}"
LONG = (f"{NEEDLE} {BROADCASTS} {MARK} {UNICODE} " * 40)[:3000]

MALLORY = FakeUser(
    id="UMALLORY", name="mallory", real_name=f"<!channel> Mal *lory* {MARK}", tz="UTC"
)
CHANNEL = "CHOSTILE"

# Who and what the bot may mention: its people, its channels, Slack's date tokens.
_TOKEN = re.compile(r"<[^<>]*>")
_DATE = re.compile(r"^<!date\^\d+\^[^|<>]*\|[^<>]*>$")


def escaped_slash(text: str) -> str:
    """Text typed into `/circle …` as Slack sends it (& < > escaped)."""
    return escape(text)


@dataclass
class World:
    circle_id: int
    demo_day_id: int
    calls: list[RecordedCall] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    searches: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(shared_bot: BotHarness, shared_clock: FakeClock) -> Iterator[World]:
    bot, clock = shared_bot, shared_clock
    bot.fake.add_user(MALLORY)
    bot.fake.add_channel(CHANNEL, "hostile", [FAC, ANA, BEN, MALLORY.id])  # only the circle

    def slash(text: str, user: str = FAC) -> str:
        reply = bot.slash(text, user=user, channel=CHANNEL)
        assert reply.status == 200, reply
        return reply.all_text

    slash("create " + escaped_slash(CIRCLE_NAME))
    [circle] = [c for c in bot.circles() if c.channel_id == CHANNEL]
    assert circle.id is not None, slash("members")
    slash(f"add <@{ANA}|ana> <@{BEN}|ben> <@{MALLORY.id}|mallory>")
    slash(f"add <@{DANA}|dana> as leader")
    slash(f"team <@{ANA}|ana> " + escaped_slash(TEAM_NAME))
    starts = (clock.now + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    slash(f"demoday {starts} " + escaped_slash(DEMO_TITLE))
    with bot.db.session() as session:
        demo_day = session.exec(select(DemoDay).where(DemoDay.circle_id == circle.id)).one()
        assert demo_day.id is not None
        demo_day_id = demo_day.id

    # Ana writes her check-in in the modal; Ben and Mallory's long answers are saved directly
    # (the modal keeps `tried` to 1000 characters; the rest of the bot must cope with 3000).
    _delivery, dm = send_checkin_dm(bot, clock, circle.id, ANA, "checkin", circle_name=CIRCLE_NAME)
    view = press(bot, dm, "reflection_open", user=ANA)
    assert view is not None
    values = {
        "tried": {"tried": {"type": "plain_text_input", "value": TRIED}},
        "obstacles": {"obstacles": {"type": "plain_text_input", "value": UNICODE}},
        "confidence": {"confidence": {"selected_option": {"value": "4"}}},
        "next_step": {"next_step": {"type": "plain_text_input", "value": NEXT_STEP}},
        "meta.visibility": {"visibility": {"selected_option": {"value": "leaders"}}},
        "meta.named": {"named": {"selected_options": [{"value": "named"}]}},
    }
    status, _h, body = bot.fake.send_view_submission(
        bot.events_url, user_id=ANA, view=view, state_values=values
    )
    bot.wait_idle()
    assert status == 200 and not body.strip(), body
    for author in (BEN, MALLORY.id):
        write_reflection(
            bot.db,
            team_id=TEAM,
            circle_id=circle.id,
            author=author,
            submission=ParsedReflection(
                answers=(
                    Answer("tried", "long_text", text=LONG),
                    Answer("confidence", "scale", number=3),
                    Answer("next_step", "action_item", text=NEXT_STEP),
                ),
                visibility=Visibility.LEADERS,
                named=True,
                follow_ups={},
            ),
            when=clock.now,
        )

    # Ana signs up to demo from the channel's reminder.
    from bot.rhythm.messages import demoday_reminder_message

    reminder = demoday_reminder_message(
        circle_name=CIRCLE_NAME,
        demo_day_id=demo_day_id,
        title=DEMO_TITLE,
        starts_at=clock.now + timedelta(days=3),
        signups=[],
        topics=True,
        now=clock.now,
    )
    response = bot.services.client.chat_postMessage(channel=CHANNEL, **reminder)
    [posted] = [m for m in bot.fake.messages(CHANNEL) if m["ts"] == response["ts"]]
    signup_view = press(bot, posted, "demoday_signup", user=ANA)
    assert signup_view is not None
    status, _h, body = bot.fake.send_view_submission(
        bot.events_url,
        user_id=ANA,
        view=signup_view,
        state_values={
            "demo_title": {"title": {"type": "plain_text_input", "value": SIGNUP_TITLE}},
            "demo_tried": {"what_tried": {"type": "plain_text_input", "value": SIGNUP_TRIED}},
        },
    )
    bot.wait_idle()
    assert status == 200 and not body.strip(), body

    clock.advance(hours=1)  # the digest measures people who were members before "now"
    searches = {
        "needle": slash(f"learnings {NEEDLE}"),
        "query": slash("learnings " + escaped_slash(f"{QUERY} {SQL} {NEEDLE}")),
        "only syntax": slash("learnings " + escaped_slash('" * ( ) ^ -')),
        "ana": slash(f"learnings {NEEDLE} evil", user=ANA),
        "leader": slash(f"learnings {NEEDLE}", user=DANA),
    }
    for text in ("members", "schedules", "demodays", "status", "digest preview", "digest send"):
        slash(text)
    for user in (ANA, FAC, DANA, BEN):
        bot.fake.send_event(
            bot.events_url,
            {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"},
        )
        bot.wait_idle()
    slash("export")
    slash("my-data", user=ANA)
    slash("forget-me", user=BEN)  # the confirmation lists her circles by name
    slash("pair")
    # The day before the demo day: the channel's reminder lists who demos what.
    clock.advance(days=2, minutes=1)
    bot.services.deliverer.tick(clock.now)
    bot.wait_idle()
    slash("rename " + escaped_slash(RENAMED))
    slash(f"demoday cancel {demo_day_id}")
    yield World(
        circle_id=circle.id,
        demo_day_id=demo_day_id,
        calls=bot.fake.calls_snapshot(),
        answers={"tried": TRIED, "next_step": NEXT_STEP},
        searches=searches,
    )


# --------------------------------------------------------------------------- what Slack got


# Calls whose top-level `text` is a message (mrkdwn unless it says `mrkdwn: false`).
MESSAGE_METHODS = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "response_url",
    "command_response",
)


def mrkdwn_texts(call: RecordedCall) -> Iterator[str]:
    """Every string of the call that Slack renders as mrkdwn."""
    args = dict(call.args)
    for key in ("blocks", "view", "attachments"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    text = args.get("text")
    if call.method in MESSAGE_METHODS and args.get("mrkdwn") is not False and isinstance(text, str):
        yield text
    if call.method == "files.completeUploadExternal" and args.get("initial_comment"):
        yield str(args["initial_comment"])
    yield from _mrkdwn_in(args.get("blocks"))
    yield from _mrkdwn_in(args.get("view"))
    yield from _mrkdwn_in(args.get("attachments"))


def _mrkdwn_in(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _mrkdwn_in(item)
    elif isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _mrkdwn_in(value)


def injections(text: str, people: set[str], channels: set[str]) -> list[str]:
    """The `<…>` tokens in mrkdwn that the bot did not make itself, and a typed `&lt;`
    shown unescaped."""
    found = []
    for token in _TOKEN.findall(text):
        if token[1:2] == "@" and token[2:-1] in people:
            continue
        if token[1:2] == "#" and token[2:-1] in channels:
            continue
        if _DATE.match(token):
            continue
        found.append(token)
    if MARK in text:
        found.append(MARK)
    return found


def injected(bot: BotHarness, world: World) -> tuple[int, list[str]]:
    """(mrkdwn texts checked, problems found) in every call the bot made to Slack."""
    people = set(bot.fake.users)
    channels = set(bot.fake.channels)
    problems = []
    checked = 0
    for call in world.calls:
        for text in mrkdwn_texts(call):
            checked += 1
            found = injections(text, people, channels)
            if found:
                problems.append(f"{call.method}: {found} in {text[:300]!r}")
    return checked, problems


def test_no_mrkdwn_from_person_text_reaches_slack(shared_bot: BotHarness, world: World) -> None:
    checked, problems = injected(shared_bot, world)
    assert checked > 80, checked  # the surfaces were really exercised
    assert not problems, "\n".join(problems)


# Where each person-written text must show up (escaped), so the check above really saw it:
# (what, the call's method, to whom or where, the text as it must appear).
SURFACES = (
    ("the circle's name in acks", "command_response", None, escape(CIRCLE_NAME)),
    ("the name in the channel", "chat.postMessage", CHANNEL, escape(CIRCLE_NAME)),
    ("the team name", "command_response", None, escape(TEAM_NAME.strip())),
    ("the demo day's title", "command_response", None, escape(DEMO_TITLE)),
    ("the saved check-in DM", "chat.update", None, escape(NEXT_STEP)),
    ("Ana's Home", "views.publish", ANA, escape(NEXT_STEP)),
    ("the leaders' digest quote", "chat.postMessage", DANA, escape(BROADCASTS)),
    ("the channel's digest", "chat.postMessage", CHANNEL, escape(BROADCASTS)),
    ("the sign-up DM", "chat.postMessage", ANA, escape(" ".join(SIGNUP_TITLE.split()))),
    ("the reminder's sign-ups", "chat.postMessage", CHANNEL, escape("<@U123> pricing")),
    ("the sign-up modal", "views.open", None, escape(DEMO_TITLE)),
    ("the search results", "command_response", None, escape("<!channel> <!here>")),
    ("the new name", "command_response", None, escape(RENAMED)),
)


@pytest.mark.parametrize(
    ("what", "method", "where", "shown"), SURFACES, ids=[s[0] for s in SURFACES]
)
def test_person_text_is_shown_escaped(
    world: World, what: str, method: str, where: str | None, shown: str
) -> None:
    """Not vacuous: each surface did show the hostile text, escaped."""
    calls = [
        call
        for call in world.calls
        if call.method == method
        and where in (None, call.args.get("channel"), call.args.get("user_id"))
    ]
    assert any(shown in text for call in calls for text in mrkdwn_texts(call)), (
        f"{what}: {shown!r} not in any of {len(calls)} {method} calls"
    )


# --------------------------------------------------------------------------- round trips


def test_text_is_stored_exactly_as_written(shared_bot: BotHarness, world: World) -> None:
    with shared_bot.db.session() as session:
        circle = session.get(Circle, world.circle_id)
        assert circle is not None and circle.name == RENAMED
        demo_day = session.get(DemoDay, world.demo_day_id)
        assert demo_day is not None and demo_day.title == DEMO_TITLE
        [signup] = session.exec(
            select(DemoSignup).where(DemoSignup.demo_day_id == world.demo_day_id)
        ).all()
        assert (signup.title, signup.what_tried) == (
            " ".join(SIGNUP_TITLE.split()),
            " ".join(SIGNUP_TRIED.split()),
        )
        team = session.exec(
            select(Membership.team).where(
                Membership.circle_id == world.circle_id, Membership.user_id == ANA
            )
        ).one()
        assert team == TEAM_NAME.strip()
        answers = {
            (r.user_id, a.question_id): a.text
            for a, r in session.exec(
                select(ReflectionAnswer, Reflection).where(
                    ReflectionAnswer.reflection_id == Reflection.id,
                    Reflection.circle_id == world.circle_id,
                )
            ).all()
        }
    assert answers[(ANA, "tried")] == TRIED.strip()
    assert answers[(ANA, "next_step")] == NEXT_STEP
    assert answers[(ANA, "obstacles")] == UNICODE.strip()
    assert answers[(BEN, "tried")] == LONG and len(LONG) == 3000


def files_sent(bot: BotHarness, user: str) -> list[tuple[str, bytes]]:
    dm = bot.fake.dm_channel_of(user)
    return [
        (shared["name"], bot.fake.uploaded_file(shared["id"]))
        for call in bot.calls("files.completeUploadExternal")
        if call.ok and call.args.get("channel_id") == dm
        for shared in call.response["files"]
    ]


def test_the_my_data_file_holds_the_text_exactly(shared_bot: BotHarness, world: World) -> None:
    [(_name, raw)] = [f for f in files_sent(shared_bot, ANA) if f[0].endswith(".json")]
    data = json.loads(raw)
    [reflection] = data["reflections"]
    written = {a["question_id"]: a["text"] for a in reflection["answers"]}
    assert written["tried"] == TRIED.strip() and written["next_step"] == NEXT_STEP
    assert reflection["circle"] in (CIRCLE_NAME, RENAMED)
    [signup] = data["demo_signups"]
    assert signup["title"] == " ".join(SIGNUP_TITLE.split())


def test_the_export_holds_the_text_exactly(shared_bot: BotHarness, world: World) -> None:
    [(_name, raw)] = [f for f in files_sent(shared_bot, FAC) if f[0].endswith(".csv")]
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert {row["circle"] for row in rows} == {CIRCLE_NAME}
    cells = {(row["author_id"], row["question_id"]): row["answer"] for row in rows}
    assert cells[(ANA, "tried")] == TRIED.strip()
    assert cells[(BEN, "tried")] == LONG
    mallory = [row for row in rows if row["author_id"] == MALLORY.id]
    assert mallory and mallory[0]["author_name"] == MALLORY.real_name
    for value in cells.values():  # a cell a spreadsheet would run is quoted
        assert not re.match(r"^[=+\-@]", value), value


# --------------------------------------------------------------------------- search, tables


def test_search_treats_query_syntax_and_sql_as_words(world: World) -> None:
    for who, answer in world.searches.items():
        assert "Something went wrong" not in answer, (who, answer)
    assert "3 reflections you can read mention “needleword”" in world.searches["needle"]
    # Operators are words like any other: only Ana's answer holds all of them.
    query = world.searches["query"]
    assert query.startswith("1 reflection you can read mentions “OR NEAR AND col x y z DROP")
    assert world.searches["only syntax"].startswith("There are no words in that search")
    assert "by you" in world.searches["ana"]
    assert world.searches["leader"].startswith("3 reflections")


def test_the_tables_are_intact(shared_bot: BotHarness, world: World) -> None:
    rows = snapshot(shared_bot)
    for table in ("Circle", "Reflection", "ReflectionAnswer", "ActionItem", "DemoSignup"):
        assert rows[table], f"{table} is empty"
    with shared_bot.db.session() as session:
        reflections = session.exec(
            select(func.count())
            .select_from(Reflection)
            .where(Reflection.circle_id == world.circle_id)
        ).one()
        items = session.exec(
            select(func.count())
            .select_from(ActionItem)
            .where(ActionItem.circle_id == world.circle_id)
        ).one()
    assert (reflections, items) == (3, 3)
    assert data_rights_rows.PLACEHOLDER not in json.dumps(rows, default=str)  # nobody was forgotten
