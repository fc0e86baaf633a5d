"""The privacy property: whatever the circles, people, choices and channels, no text reaches a
reader the rule forbids, and a leader's totals add up exactly the circles shown to them.

A generated world (`worlds()`): 1-3 circles of 1-6 participants drawn from one pool (so people
sit in several circles), 0-2 leaders each from a small pool (so leaders sponsor several
circles), one reflection or none per participant with a random visibility, name choice,
confidence and action item, a participant or none removed after writing, demo-day sign-ups,
and channels that hold the circle plus any of: its leaders, people never in it, the removed,
a bot. `play()` writes the week into the database and runs it through the real bot: the
Monday tick (channel digests, facilitators' and leaders' DMs, charts, demo-day reminders)
and every person opening their App Home. `check()` then reads everything the fake Slack
recorded and judges it with an oracle written here from the rule's table, independent of
bot/reflections/visibility.py:

| visibility | author | participant, facilitator | leader | anyone else |
| private    | yes    | no                       | no     | no          |
| circle     | yes    | yes                      | no     | no          |
| leaders    | yes    | yes                      | yes    | no          |

(roles: active memberships of the text's circle when the digest goes out). A channel
message's readers are the channel's human members; a DM's or a Home's, its one person.

The same functions run with a few dozen examples in the test suite (tests/privacy/
test_property_suite.py) and with many more from `python -m bench.fuzz --only privacy`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import SQLModel

from bot.sandbox.fake_slack import FakeUser, RecordedCall
from storage.models import (
    ActionItem,
    Circle,
    Delivery,
    DeliveryStatus,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
    Role,
    Schedule,
)
from tests.harness import FAC, TEAM, BotHarness

WEEK = date(2026, 11, 16)  # the week the Monday digest of 23 Nov covers
SENT = datetime(2026, 11, 16, 9, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, 8, tzinfo=UTC)  # 08:00 in London: every digest is due
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)
VISIBILITIES = ("private", "circle", "leaders")
K = 3

# Everyone is in London, so one Monday 08:00 tick sends every digest.
PARTICIPANTS = [f"UPP{n}" for n in range(8)]
LEADERS = ["ULEAD0", "ULEAD1", "ULEAD2"]
OUTSIDERS = ["UOUT0", "UOUT1"]
A_BOT = "UPBOT"
HUMANS = [FAC, *PARTICIPANTS, *LEADERS, *OUTSIDERS]
MARK = re.compile(r"MK-(\d+)-(U[A-Z0-9]+)-(private|circle|leaders)-(\w+)")


def add_people(bot: BotHarness) -> None:
    """The pool of people in the fake Slack (once per bot)."""
    for user_id in [*PARTICIPANTS, *LEADERS, *OUTSIDERS]:
        bot.fake.add_user(FakeUser(id=user_id, name=user_id.lower(), tz="Europe/London"))
    bot.fake.add_user(FakeUser(id=A_BOT, name="polly", is_bot=True))


@dataclass(frozen=True)
class Writing:
    visibility: str
    named: bool
    confidence: int
    item: bool


@dataclass(frozen=True)
class CircleSpec:
    participants: tuple[str, ...]
    leaders: tuple[str, ...]
    writings: tuple[tuple[str, Writing], ...]  # who wrote what
    removed: tuple[str, ...]  # participants removed after writing (they stay in the channel)
    signups: tuple[str, ...]
    channel_extras: tuple[str, ...]  # besides the circle's active participants and Fran


@dataclass(frozen=True)
class World:
    circles: tuple[CircleSpec, ...]


writings = st.builds(
    Writing,
    visibility=st.sampled_from(VISIBILITIES),
    named=st.booleans(),
    confidence=st.integers(1, 5),
    item=st.booleans(),
)


@st.composite
def circle_specs(draw: st.DrawFn) -> CircleSpec:
    participants = draw(
        st.lists(st.sampled_from(PARTICIPANTS), min_size=1, max_size=6, unique=True)
    )
    leaders = draw(st.lists(st.sampled_from(LEADERS), max_size=2, unique=True))
    wrote = [
        (user_id, draw(writings, label=f"{user_id} writes"))
        for user_id in participants
        if draw(st.booleans().map(lambda b: b or len(participants) < 4), label="writes")
    ]
    removed = draw(st.lists(st.sampled_from(participants), max_size=1, unique=True))
    signups = draw(st.lists(st.sampled_from(participants), max_size=2, unique=True))
    extras = draw(
        st.lists(
            st.sampled_from([*leaders, *OUTSIDERS, A_BOT, *LEADERS]),
            max_size=3,
            unique=True,
        )
    )
    return CircleSpec(
        tuple(participants),
        tuple(leaders),
        tuple(wrote),
        tuple(removed),
        tuple(signups),
        tuple(extras),
    )


def worlds() -> st.SearchStrategy[World]:
    return st.builds(World, st.lists(circle_specs(), min_size=1, max_size=3).map(tuple))


# --- playing a week -----------------------------------------------------------------------------


def wipe(bot: BotHarness) -> None:
    """Every row of every table (children first), so each example starts empty."""
    with bot.db.session() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(delete(table))


def channel_of(index: int) -> str:
    return f"CPROP{index}"


def marker(index: int, author: str, visibility: str, what: str) -> str:
    return f"MK-{index}-{author}-{visibility}-{what}"


def play(bot: BotHarness, world: World) -> list[RecordedCall]:
    """Write the world's week, run Monday's tick (and the charts), open every Home; return
    every call the fake Slack recorded meanwhile."""
    wipe(bot)
    with bot.db.session() as s:
        for user_id in HUMANS:
            s.add(Person(team_id=TEAM, user_id=user_id, tz="Europe/London", refreshed_at=SENT))
        s.add(Person(team_id=TEAM, user_id=A_BOT, is_bot=True, refreshed_at=SENT))
        for index, spec in enumerate(world.circles):
            _write_circle(s, index, spec)
    for index, spec in enumerate(world.circles):
        active = [p for p in spec.participants if p not in spec.removed]
        bot.fake.add_channel(
            channel_of(index), f"prop-{index}", [FAC, *active, *spec.channel_extras]
        )
    bot.fake.reset_calls()
    bot.services.deliverer.tick(MONDAY)
    bot.services.deliverer.tick(MONDAY + timedelta(seconds=30))  # the charts follow
    for user_id in HUMANS:
        bot.fake.send_event(
            bot.events_url,
            {"type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": "home"},
        )
    bot.wait_idle()
    return list(bot.fake.calls)


def _write_circle(s: Any, index: int, spec: CircleSpec) -> None:
    circle = Circle(
        team_id=TEAM,
        channel_id=channel_of(index),
        name=f"Circle-{index}",
        created_by=FAC,
        created_at=LONG_AGO,
        tz="Europe/London",
    )
    s.add(circle)
    s.flush()
    assert circle.id is not None
    s.add(
        Schedule(
            team_id=TEAM,
            circle_id=circle.id,
            kind="digest",
            weekday=0,
            at_minute=8 * 60,
            anchor=date(2026, 1, 5),
            created_by=FAC,
            created_at=LONG_AGO,
        )
    )
    removed_at = datetime(2026, 11, 19, 12, tzinfo=UTC)
    members = [(FAC, Role.FACILITATOR), *((p, Role.PARTICIPANT) for p in spec.participants)]
    members += [(leader, Role.LEADER) for leader in spec.leaders]
    for user_id, role in members:
        s.add(
            Membership(
                team_id=TEAM,
                circle_id=circle.id,
                user_id=user_id,
                role=role,
                added_by=FAC,
                added_at=LONG_AGO,
                removed_at=removed_at if user_id in spec.removed else None,
            )
        )
    wrote = dict(spec.writings)
    for n, user_id in enumerate(spec.participants):
        s.add(
            Delivery(
                team_id=TEAM,
                circle_id=circle.id,
                key=f"checkin:prop:{index}:{user_id}",
                kind="checkin",
                recipient=user_id,
                due_at=SENT,
                status=DeliveryStatus.SENT,
                sent_at=SENT,
                answered_at=SENT + timedelta(hours=n + 1) if user_id in wrote else None,
                created_at=SENT,
            )
        )
    for user_id, writing in spec.writings:
        _write_reflection(s, index, circle.id, user_id, writing)
    demo = DemoDay(
        team_id=TEAM,
        circle_id=circle.id,
        title=f"Demos {index}",
        starts_at=MONDAY + timedelta(days=1),
        reminder_offsets="86400",
        created_by=FAC,
        created_at=LONG_AGO,
    )
    s.add(demo)
    s.flush()
    for user_id in spec.signups:
        s.add(
            DemoSignup(
                team_id=TEAM,
                demo_day_id=demo.id,  # type: ignore[arg-type]
                user_id=user_id,
                title=marker(index, user_id, "circle", "signup"),
                created_at=SENT,
                updated_at=SENT,
            )
        )


def _write_reflection(s: Any, index: int, circle_id: int, user_id: str, w: Writing) -> None:
    at = SENT + timedelta(hours=2)
    reflection = Reflection(
        team_id=TEAM,
        circle_id=circle_id,
        user_id=user_id,
        kind="checkin",
        prompt_set="default",
        week_start=WEEK,
        visibility=w.visibility,
        named=w.named,
        submitted_at=at,
    )
    s.add(reflection)
    s.flush()
    answers = [
        ("tried", "long_text", marker(index, user_id, w.visibility, "answer"), None),
        ("confidence", "scale", None, w.confidence),
    ]
    item_text = marker(index, user_id, w.visibility, "item")
    if w.item:
        answers.append(("next_step", "action_item", item_text, None))
    for question_id, kind, text, number in answers:
        s.add(
            ReflectionAnswer(
                team_id=TEAM,
                reflection_id=reflection.id,  # type: ignore[arg-type]
                question_id=question_id,
                kind=kind,
                text=text,
                number=number,
            )
        )
    if w.item:
        s.add(
            ActionItem(
                team_id=TEAM,
                circle_id=circle_id,
                user_id=user_id,
                reflection_id=reflection.id,
                question_id="next_step",
                text=item_text,
                due_date=date(2026, 11, 25),  # due in the week the digest is read in
                status="open",
                created_at=at,
            )
        )


# --- judging what was sent -------------------------------------------------------------------


@dataclass
class Verdict:
    """What one example delivered, for the suite's own sanity (it does see quotes)."""

    quoted: int = 0  # marker texts delivered to someone allowed to read them
    totals_checked: int = 0
    problems: list[str] = field(default_factory=list)


def may_read(world: World, reader: str, index: int, author: str, visibility: str) -> bool:
    """The rule's table, from the world itself (not from the code under test)."""
    if reader == author:
        return True
    spec = world.circles[index]
    active = {p for p in spec.participants if p not in spec.removed} | {FAC}
    if visibility == "circle":
        return reader in active
    if visibility == "leaders":
        return reader in active or reader in spec.leaders
    return False


def readers_of(bot: BotHarness, call: RecordedCall) -> list[str]:
    """Who reads what a call put in front of people."""
    if call.method in ("views.publish",):
        return [str(call.args["user_id"])]
    if call.method == "views.open":
        return []  # only after a click; none in this week
    channel = str(call.args.get("channel") or call.args.get("channel_id") or "")
    if channel.startswith("U"):
        return [channel]
    if channel.startswith("D"):
        return [channel[1:]]
    found = bot.fake.channels.get(channel)
    if found is None:
        return ["(an unknown channel)"]
    people = bot.fake.users
    return [
        m for m in found.members if m in people and not people[m].is_bot and not people[m].deleted
    ]


def check(bot: BotHarness, world: World, calls: list[RecordedCall]) -> Verdict:
    verdict = Verdict()
    for call in calls:
        if call.method == "response_url" or not call.ok:
            continue
        text = json.dumps(call.args, ensure_ascii=False)
        for match in MARK.finditer(text):
            index, author, visibility = int(match[1]), match[2], match[3]
            for reader in readers_of(bot, call):
                if not may_read(world, reader, index, author, visibility):
                    verdict.problems.append(
                        f"{match[0]} reached {reader} via {call.method} to "
                        f"{call.args.get('channel') or call.args.get('user_id')}"
                    )
                else:
                    verdict.quoted += 1
        if call.method == "chat.postMessage" and str(call.args.get("channel", "")) in LEADERS:
            verdict.totals_checked += _check_leader_totals(world, call, verdict)
    return verdict


FIGURES = re.compile(r"\((\d+) of (\d+) participants? reflected\)")
CHECKINS = re.compile(r"\*Check-ins:\* (\d+) sent, (\d+) answered, (\d+) skipped")
REFLECTIONS = re.compile(r"\*Reflections:\* (\d+) check-ins?, (\d+) debriefs?")


def _check_leader_totals(world: World, call: RecordedCall, verdict: Verdict) -> int:
    """A leader's DM: small circles show no figure; the totals add up the circles shown."""
    leader = str(call.args["channel"])
    lines: list[str] = []
    for block in call.args.get("blocks") or []:
        if block.get("type") == "section":
            lines += str(block["text"]["text"]).splitlines()
    sections: dict[str, list[str]] = {}
    current = None
    for line in lines:
        title = re.fullmatch(r"\*(Circle-\d+|All \d+ circles)\*", line)
        if title:
            current = title[1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    sponsored = [i for i, spec in enumerate(world.circles) if leader in spec.leaders]
    shown: list[int] = []
    for index in sponsored:
        body = "\n".join(sections.get(f"Circle-{index}", []))
        spec = world.circles[index]
        has_figures = bool(FIGURES.search(body))
        if (len(set(spec.participants)) >= K) != has_figures:
            verdict.problems.append(
                f"Circle-{index} of {len(spec.participants)} people "
                f"{'shows' if has_figures else 'hides'} its figures"
            )
        if has_figures:
            shown.append(index)
    totals = "\n".join(next((v for k, v in sections.items() if k.startswith("All ")), []))
    if len(sponsored) < 2:
        return 0
    if not shown:
        if FIGURES.search(totals):
            verdict.problems.append(f"{leader}'s totals show figures with no circle shown")
        return 1
    people = set().union(*(set(world.circles[i].participants) for i in shown))
    reflected = set().union(*({u for u, _w in world.circles[i].writings} for i in shown))
    found = FIGURES.search(totals)
    expected = (len(reflected), len(people))
    if found is None or (int(found[1]), int(found[2])) != expected:
        verdict.problems.append(
            f"{leader}'s totals say {found[0] if found else 'nothing'}, "
            f"the {len(shown)} circles shown add up to {expected}"
        )
    checkins = CHECKINS.search(totals)
    sent = sum(len(world.circles[i].participants) for i in shown)
    answered = sum(len(world.circles[i].writings) for i in shown)
    if checkins is None or (int(checkins[1]), int(checkins[2])) != (sent, answered):
        verdict.problems.append(f"{leader}'s check-in totals do not add up to ({sent}, {answered})")
    written = REFLECTIONS.search(totals)
    if written is None or int(written[1]) != answered:
        verdict.problems.append(f"{leader}'s reflection totals do not add up to {answered}")
    return 1
