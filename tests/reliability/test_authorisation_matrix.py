"""Who may do what: every `/circle` subcommand and every interaction, tried by each role.

Each row gets its own cast (fresh people, channels and circles, so rows never interact) in
one bot per database for the module:

    outsider     in no circle at all
    participant  a participant of circle A (a second participant is there too)
    leader       a leader of A
    other fac    the facilitator of circle B, and not a member of A
    facilitator  the facilitator of A

Everything runs in A's channel unless the row says B. The cells, in that order of roles:

    ✓  allowed: it does what it says (the row's `done` text is in the answer, or `done_check`)
    =  allowed, with nothing to do: answered (`same` text), and nothing changed
    F  refused: "Only a facilitator of *<circle>* can <action>. Ask <@facilitator>."
    M  refused: "Only members of *<circle>* can <action>. Ask <@facilitator> to add you."
    X  refused with the row's own message (`refusal`, the start of the answer)

A refusal (F, M, X) and "=" must change nothing in the database (every table people write to,
compared before and after) and send nothing to Slack but the answer to the person who asked
(the ack, an ephemeral reply, their own Home or a DM to them). Refusals run first in a row,
then the allowed cells.

The lists are driven by the code: a subcommand in `bot.subcommands.SUBCOMMANDS` (whose
`who` each subcommand's rows must agree with) or a listener
registered by `handlers.register_all` without a row here fails
`test_every_subcommand_has_a_row` / `test_every_interaction_has_a_row`. Adding one is one line.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt import App
from sqlmodel import select

from bot.circles import rules as circles
from bot.data_rights.forget_me import FORGET_ME_CALLBACK_ID
from bot.home.rows import NOT_FACILITATOR
from bot.rhythm.messages import checkin_message, demoday_reminder_message
from bot.sandbox.fake_slack import FakeUser, RecordedCall
from bot.subcommands import SUBCOMMANDS, Who
from handlers import register_all
from handlers.home import NOT_FACILITATOR_PREVIEW
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Delivery,
    DeliveryStatus,
    DemoDay,
    DemoSignup,
    Person,
    Reflection,
    Role,
    Schedule,
)
from tests.harness import TEAM, BotHarness, FakeClock
from tests.reliability.fuzzing import press, snapshot

ROLES = ("outsider", "participant", "leader", "other fac", "facilitator")
REFUSED = {"F", "M", "X"}


@dataclass(frozen=True)
class Row:
    name: str  # a SUBCOMMANDS name, or a registered action id, view callback id or event
    text: str  # the command text ({placeholders} from the cast); unused for interactions
    cells: str  # one code per role, in the order of ROLES
    action: str = ""  # F and M refusals: what only facilitators / members may do
    done: str = ""  # ✓: a piece of the answer
    same: str = ""  # =: a piece of the answer
    refusal: str = ""  # X: how the answer starts
    where: str = "A"  # the circle whose channel it runs in

    @property
    def codes(self) -> dict[str, str]:
        codes = self.cells.split()
        assert len(codes) == len(ROLES) and set(codes) <= {"✓", "=", *REFUSED}, self
        return dict(zip(ROLES, codes, strict=True))


# fmt: off
COMMANDS = [
    # subcommand      text                          out part lead ofac fac  (what, answers)
    Row("help",       "help",                        "✓ ✓ ✓ ✓ ✓", done="`/circle create"),
    Row("create",     "create Another one",          "X X X X X",
        refusal="This channel already has a circle: *{A}*."),
    Row("add",        "add <@{outsider}|o>",         "F F F F ✓", "add people", done="Added to"),
    Row("remove",     "remove <@{participant2}|p>",  "F F F F ✓", "remove people",
        done="Removed from"),
    Row("remove",     "remove <@{participant}|p>",   "F F F = F", "remove people",
        same="Not in this circle, so nothing to do", where="B"),
    Row("members",    "members",                     "M ✓ ✓ M ✓", "see who is in it",
        done="<@{participant2}>"),
    Row("rename",     "rename Renamed {A}",          "F F F F ✓", "rename it", done="Renamed"),
    Row("archive",    "archive",                     "F F F F ✓", "archive it", done="Archived"),
    Row("schedule",   "schedule checkin mon 09:00",  "F F F F ✓",
        "schedule check-ins, debriefs and digests", done="Scheduled the check-in"),
    Row("schedules",  "schedules",                   "M ✓ ✓ M ✓", "see its schedules",
        done="#{schedule}"),
    Row("unschedule", "unschedule {schedule}",       "F F F F ✓", "remove schedules",
        done="Removed the leaders' digest schedule"),
    # B's facilitator, in B's channel, naming A's schedule: not theirs to remove.
    Row("unschedule", "unschedule {schedule}",       "F F F X F", "remove schedules",
        refusal="There is no schedule #{schedule} in *{B}*.", where="B"),
    Row("demoday",    "demoday 2026-12-10 15:00 Demo", "F F F F ✓", "plan demo days",
        done="Planned demo day"),
    Row("demodays",   "demodays",                    "M ✓ ✓ M ✓", "see its demo days",
        done="Demo &lt;day&gt;"),
    Row("demoday cancel", "demoday cancel {demo_day}", "F F F F ✓", "cancel demo days",
        done="Cancelled demo day"),
    Row("demoday cancel", "demoday cancel {demo_day}", "F F F X F", "cancel demo days",
        refusal="There is no demo day #{demo_day} in *{B}*.", where="B"),
    Row("pause",      "pause",                       "F F F F ✓", "pause it", done="Paused"),
    Row("resume",     "resume",                      "F F F F ✓", "resume it",
        done="isn't paused"),
    Row("skip",       "skip {monday}",               "F F F F ✓", "skip a date", done="Skipped"),
    Row("away",       "away until {monday}",         "M ✓ ✓ M ✓", "mark themselves away",
        done="You're away until"),
    Row("back",       "back",                        "M ✓ ✓ M ✓", "mark themselves back",
        done="aren't marked away"),
    Row("set",        "set nudge 12h",               "F F F F ✓", "change its settings",
        done="Nudges for"),
    Row("set prompts", "set prompts quick",          "F F F F ✓", "choose its questions",
        done="asks the `quick` questions"),
    Row("set prompts", "set prompts",                "M ✓ ✓ M ✓", "see its question sets",
        done="Question sets for"),
    Row("pair",       "pair",                        "F F F F ✓", "pair people",
        done="Pairing 2 participants"),
    Row("nopair",     "nopair",                      "M ✓ = M =",
        "choose whether they are paired", done="You won't be paired",
        same="Only participants are paired"),
    Row("pair-me",    "pair-me",                     "M = = M =",
        "choose whether they are paired", same="nothing"),
    Row("team",       "team <@{participant}|p> Platform", "F F F F ✓", "set people's teams",
        done="is now *Platform*"),
    Row("team",       "team <@{participant}|p> Platform", "F F F X F", "set people's teams",
        refusal="<@{participant}> isn't in *{B}*", where="B"),
    Row("checkin now", "checkin now",                "F F F F ✓", "send a check-in",
        done="Sending the check-in"),
    Row("debrief now", "debrief now",                "F F F F ✓", "send a debrief",
        done="Sending the debrief"),
    Row("status",     "status",                      "F F F F ✓", "see delivery status",
        done="deliveries this week"),
    Row("digest preview", "digest preview",          "F F F F ✓", "preview the digest",
        done="{A}"),
    Row("digest send", "digest send",                "F F F F ✓", "send the digest",
        done="Sending the digest"),
    Row("learnings",  "learnings retro",             "X ✓ ✓ ✓ ✓",
        refusal="You're not in any circle yet", done="“retro”"),
    Row("my-data",    "my-data",                     "= ✓ ✓ ✓ ✓",
        same="I don't hold any data about you", done="Preparing your data"),
    Row("forget-me",  "forget-me",                   "= ✓ ✓ X X",
        same="I don't hold any data about you", done="Check the form that opened",
        refusal="You're the only facilitator of *{own}*"),
    Row("export",     "export",                      "F F F F ✓", "export its data",
        done="Preparing the export"),
]

# Interactions: the participant owns the check-in, the reflection and the action item; A has
# the demo day. Buttons carry those ids; the Home buttons A's circle id.
INTERACTIONS = [
    #   listener               out part lead ofac fac
    Row("checkin_skip",        "", "X ✓ X X X",
        refusal="This check-in belongs to someone else, so I left it alone."),
    Row("reflection_open",     "", "X ✓ X X X",
        refusal="This check-in was sent to someone else, so I can't open it for you."),
    Row("reflection_edit",     "", "X ✓ X X X",
        refusal="Only the person who wrote a reflection can edit it."),
    Row("reflection_modal",    "", "X ✓ X X X",
        refusal="This form no longer matches your check-in."),
    Row("action_item_done",    "", "X ✓ X X X",
        refusal="This action item belongs to someone else, so I left it alone."),
    Row("demoday_signup",      "", "M ✓ ✓ M ✓", "sign up to demo"),
    Row("demoday_signup_modal", "", "X ✓ ✓ X ✓",
        refusal="Only members of this circle can sign up to demo."),
    Row("home_checkin_now",    "", "X X X X ✓", refusal=NOT_FACILITATOR),
    Row("home_digest_preview", "", "X X X X ✓", refusal=NOT_FACILITATOR_PREVIEW),
    Row("home_show_all",       "", "✓ ✓ ✓ ✓ ✓"),
    Row("forget_me_confirm",   "", "= ✓ ✓ X X", same="Done: I deleted",
        refusal="You're the only facilitator of *{own}*"),
    Row("app_home_opened",     "", "✓ ✓ ✓ ✓ ✓"),
]
# fmt: on

# --------------------------------------------------------------------------- completeness


def test_every_subcommand_has_a_row() -> None:
    names = {sub.name for sub in SUBCOMMANDS}
    rows = {row.name for row in COMMANDS}
    missing, stale = sorted(names - rows), sorted(rows - names)
    assert not missing, (
        f"/circle {', '.join(missing)} has no row in COMMANDS of {__file__}: add one saying "
        "which roles may run it (one line)."
    )
    assert not stale, f"COMMANDS has rows for subcommands that no longer exist: {stale}"


def matches_who(who: Who, codes: dict[str, str]) -> bool:
    """Whether one matrix row behaves as the table's `who` of its subcommand says."""
    if who is Who.FACILITATORS:
        return codes["facilitator"] in ("✓", "=") and all(
            codes[role] in REFUSED for role in ("outsider", "participant", "leader")
        )
    if who is Who.MEMBERS:
        return (
            codes["participant"] == codes["leader"] == codes["facilitator"] == "✓"
            and codes["outsider"] in REFUSED
        )
    if who is Who.YOURSELF:
        return codes["participant"] in ("✓", "=") and codes["outsider"] != "✓"
    return all(code not in ("F", "M") for code in codes.values())  # anyone


def test_each_subcommand_behaves_as_the_table_says_who_may_run_it() -> None:
    """bot/subcommands.py declares who may run each subcommand; its rows here agree."""
    for sub in SUBCOMMANDS:
        rows = [row for row in COMMANDS if row.name == sub.name and row.where == "A"]
        assert any(matches_who(sub.who, row.codes) for row in rows), (
            f"/circle {sub.name}: the table says {sub.who.value}, the matrix rows say "
            f"{[row.cells for row in rows]}"
        )


def test_every_interaction_has_a_row() -> None:
    app = App(token="xoxb-0-0-matrix", signing_secret="0" * 32, token_verification_enabled=False)
    registered = register_all(app)
    names = registered.actions | registered.views | registered.events
    rows = {row.name for row in INTERACTIONS}
    missing, stale = sorted(names - rows), sorted(rows - names)
    assert not missing, (
        f"{', '.join(missing)} is registered but has no row in INTERACTIONS of {__file__}: "
        "add one saying which roles may use it (one line), and how to trigger it in PERFORM."
    )
    assert not stale, f"INTERACTIONS has rows for listeners no longer registered: {stale}"


# --------------------------------------------------------------------------- the cast

CASTS = itertools.count(1)


@dataclass
class Cast:
    """Fresh people and circles for one row."""

    index: int
    users: dict[str, str]  # role -> user id (and "participant2")
    channels: dict[str, str]  # "A" / "B" -> channel id
    names: dict[str, str]  # "A" / "B" -> circle name
    circle_ids: dict[str, int]
    schedule: int  # A's leaders' digest schedule (every circle starts with one)
    demo_day: int  # A's upcoming demo day
    monday: str  # a date with something scheduled in A (its digest)
    made: dict[str, Any] = field(default_factory=dict)  # what interactions set up, lazily

    def fields(self, role: str) -> dict[str, Any]:
        own = "B" if role == "other fac" else "A"
        return {
            **{key.replace(" ", "_"): value for key, value in self.users.items()},
            **self.names,
            "own": self.names[own],
            "schedule": self.schedule,
            "demo_day": self.demo_day,
            "monday": self.monday,
        }


def make_cast(bot: BotHarness, clock: FakeClock) -> Cast:
    """People in the fake Slack and in the database (profiles fresh, so no users.info is
    needed before answering), circles made by the rules' own functions."""
    index = next(CASTS)
    ids = {
        "outsider": f"U{index:03d}OUT",
        "participant": f"U{index:03d}PART",
        "participant2": f"U{index:03d}PARTB",
        "leader": f"U{index:03d}LEAD",
        "other fac": f"U{index:03d}OFAC",
        "facilitator": f"U{index:03d}FAC",
    }
    for role, user_id in ids.items():
        bot.fake.add_user(FakeUser(id=user_id, name=role.replace(" ", ""), real_name=role))
    channels = {"A": f"C{index:03d}AAA", "B": f"C{index:03d}BBB"}
    names = {"A": f"Circle {index} A", "B": f"Circle {index} B"}
    for key, channel in channels.items():
        bot.fake.add_channel(channel, names[key].lower().replace(" ", "-"), ids.values())
    now = clock.now
    with bot.db.session() as session:
        people = {  # the outsider has never been seen: Circlebot holds nothing about them
            role: session.merge(
                Person(team_id=TEAM, user_id=uid, real_name=role, tz="UTC", refreshed_at=now)
            )
            for role, uid in ids.items()
            if role != "outsider"
        }
        made = {
            key: circles.create_circle(
                session,
                team_id=TEAM,
                channel_id=channels[key],
                name=names[key],
                creator_id=ids["facilitator" if key == "A" else "other fac"],
                now=now - timedelta(days=30),
            )
            for key in ("A", "B")
        }
        a = made["A"]
        for roles, role in (
            (("participant", "participant2"), Role.PARTICIPANT),
            (("leader",), Role.LEADER),
        ):
            circles.add_people(
                session,
                a,
                [people[r] for r in roles],
                role,
                added_by=ids["facilitator"],
                now=now - timedelta(days=30),
            )
        [digest] = session.exec(select(Schedule).where(Schedule.circle_id == a.id)).all()
        demo_day = DemoDay(
            team_id=TEAM,
            circle_id=a.id,  # type: ignore[arg-type]
            title="Demo <day>",
            starts_at=now + timedelta(days=7),
            reminder_offsets="86400",
            created_by=ids["facilitator"],
            created_at=now,
        )
        session.add(demo_day)
        session.flush()
        assert a.id and made["B"].id and digest.id and demo_day.id
        circle_ids = {"A": a.id, "B": made["B"].id}
        schedule_id, demo_day_id = digest.id, demo_day.id
    monday = (now + timedelta(days=7 - now.weekday())).date().isoformat()
    return Cast(index, ids, channels, names, circle_ids, schedule_id, demo_day_id, monday)


# --------------------------------------------------------------------------- what people saw


def shown_to(calls: list[RecordedCall], user: str) -> tuple[list[str], list[str]]:
    """(texts shown to `user`, calls that went anywhere else or did anything else)."""
    texts: list[str] = []
    elsewhere: list[str] = []
    for call in calls:
        args = call.args
        if call.method in ("command_response", "response_url"):
            texts.append(str(args.get("text", "")))
        elif call.method == "response_action":
            texts.extend(str(v) for v in (args.get("errors") or {}).values())
        elif call.method == "chat.postEphemeral" and args.get("user") == user:
            texts.append(str(args.get("text", "")))
        elif call.method == "chat.postMessage" and args.get("channel") == user:
            texts.append(str(args.get("text", "")))  # a DM to them (forget-me's answer)
        elif call.method == "views.publish" and args.get("user_id") == user:
            view = args.get("view")
            view = json.loads(view) if isinstance(view, str) else view or {}
            texts.extend(
                str(block["text"]["text"])
                for block in view.get("blocks") or []
                if block.get("block_id") == "home_notice"
            )
        elif call.method != "users.info":
            elsewhere.append(f"{call.method} {json.dumps(args, default=str)[:200]}")
    return texts, elsewhere


def expected_refusal(row: Row, code: str, cast: Cast, role: str) -> str:
    where = row.where
    facilitator = cast.users["facilitator" if where == "A" else "other fac"]
    name = cast.names[where]
    if code == "F":
        return f"Only a facilitator of *{name}* can {row.action}. Ask <@{facilitator}>."
    if code == "M":
        return f"Only members of *{name}* can {row.action}. Ask <@{facilitator}> to add you."
    return row.refusal.format(**cast.fields(role))


# --------------------------------------------------------------------------- commands


def run_command(bot: BotHarness, cast: Cast, row: Row, role: str) -> tuple[str, list[Any]]:
    user = cast.users[role]
    text = row.text.format(**cast.fields(role))
    before = len(bot.fake.calls_snapshot())
    reply = bot.slash(text, user=user, channel=cast.channels[row.where])
    assert reply.status == 200, reply
    return reply.all_text, bot.fake.calls_snapshot()[before:]


@pytest.mark.parametrize(
    "row", COMMANDS, ids=[f"{r.name}{'@B' if r.where == 'B' else ''}" for r in COMMANDS]
)
def test_subcommand_by_each_role(shared_bot: BotHarness, shared_clock: FakeClock, row: Row) -> None:
    cast = make_cast(shared_bot, shared_clock)
    check_row(shared_bot, cast, row, lambda role: run_command(shared_bot, cast, row, role))


def check_row(
    bot: BotHarness, cast: Cast, row: Row, perform: Callable[[str], tuple[str, list[Any]]]
) -> None:
    codes = row.codes
    # Refusals and no-ops first: they must leave everything as it was for the next role.
    order = sorted(ROLES, key=lambda role: codes[role] == "✓")
    problems: list[str] = []
    for role in order:
        code = codes[role]
        before = snapshot(bot) if code != "✓" else None
        answer, calls = perform(role)
        fields = cast.fields(role)
        if code in REFUSED:
            expected = expected_refusal(row, code, cast, role)
            texts, elsewhere = shown_to(calls, cast.users[role])
            if not any(text.startswith(expected) for text in texts):
                problems.append(f"{role}: expected the refusal {expected!r}, got {answer!r}")
            if elsewhere:
                problems.append(f"{role}: refused, yet Slack got {elsewhere}")
        elif code == "=":
            texts, elsewhere = shown_to(calls, cast.users[role])
            if row.same.format(**fields) not in answer:
                problems.append(f"{role}: expected {row.same!r} in {answer!r}")
            if elsewhere:
                problems.append(f"{role}: nothing to do, yet Slack got {elsewhere}")
        elif row.done and row.done.format(**fields) not in answer:
            problems.append(f"{role}: allowed, so expected {row.done!r} in {answer!r}")
        if before is not None:
            after = snapshot(bot)
            changed = [name for name in before if before[name] != after[name]]
            if changed:
                problems.append(f"{role} ({code}): the database changed: {changed}")
    assert not problems, f"{row.name} ({row.text or 'interaction'}):\n" + "\n".join(problems)


# --------------------------------------------------------------------------- interactions


def _dm(bot: BotHarness, cast: Cast, kind: str = "checkin") -> tuple[int, dict[str, Any]]:
    """A check-in DM to the participant, as the delivery engine sends it."""
    key = f"dm:{kind}"
    if key not in cast.made:
        now = bot.services.clock()
        user = cast.users["participant"]
        with bot.db.session() as session:
            delivery = Delivery(
                team_id=TEAM,
                circle_id=cast.circle_ids["A"],
                key=f"{kind}:matrix:{user}",
                kind=kind,
                recipient=user,
                due_at=now,
                status=DeliveryStatus.SENT,
                sent_at=now,
                created_at=now,
            )
            session.add(delivery)
            session.flush()
            assert delivery.id is not None
            delivery_id = delivery.id
        message = checkin_message(
            kind=kind, circle_name=cast.names["A"], questions=["?"], delivery_id=delivery_id
        )
        response = bot.services.client.chat_postMessage(channel=user, **message)
        [dm] = [m for m in bot.fake.messages(response["channel"]) if m["ts"] == response["ts"]]
        with bot.db.session() as session:
            row = session.get(Delivery, delivery_id)
            assert row is not None
            row.channel_id, row.message_ts = dm["channel"], dm["ts"]
            session.add(row)
        cast.made[key] = (delivery_id, dm)
    made: tuple[int, dict[str, Any]] = cast.made[key]
    return made


CHECKIN_VALUES = {
    "tried": {"tried": {"type": "plain_text_input", "value": "Asked twice"}},
    "confidence": {"confidence": {"selected_option": {"value": "4"}}},
    "next_step": {"next_step": {"type": "plain_text_input", "value": "Call Ben"}},
    "meta.visibility": {"visibility": {"selected_option": {"value": "private"}}},
}


def _modal(bot: BotHarness, cast: Cast) -> dict[str, Any]:
    """The participant's check-in modal, as the bot opened it for them."""
    if "modal" not in cast.made:
        _delivery_id, dm = _dm(bot, cast)
        view = press(bot, dm, "reflection_open", user=cast.users["participant"])
        assert view is not None
        cast.made["modal"] = view
    modal: dict[str, Any] = cast.made["modal"]
    return modal


def _reflection(bot: BotHarness, cast: Cast) -> int:
    """A reflection the participant wrote (private: only they may read or edit it)."""
    if "reflection" not in cast.made:
        view = _modal(bot, cast)
        answer = _submit(bot, view, CHECKIN_VALUES, cast.users["participant"])
        assert answer == "(closed)", answer
        with bot.db.session() as session:
            found = session.exec(
                select(Reflection).where(Reflection.user_id == cast.users["participant"])
            ).one()
            assert found.id is not None
            cast.made["reflection"] = found.id
    reflection_id: int = cast.made["reflection"]
    return reflection_id


def _item(bot: BotHarness, cast: Cast) -> int:
    if "item" not in cast.made:
        with bot.db.session() as session:
            item = ActionItem(
                team_id=TEAM,
                circle_id=cast.circle_ids["A"],
                user_id=cast.users["participant"],
                question_id="next_step",
                text=f"Secret plan {cast.index}",
                created_at=bot.services.clock() - timedelta(days=7),
            )
            session.add(item)
            session.flush()
            assert item.id is not None
            cast.made["item"] = item.id
    item_id: int = cast.made["item"]
    return item_id


def _reminder(bot: BotHarness, cast: Cast) -> dict[str, Any]:
    if "reminder" not in cast.made:
        message = demoday_reminder_message(
            circle_name=cast.names["A"],
            demo_day_id=cast.demo_day,
            title="Demo <day>",
            starts_at=bot.services.clock() + timedelta(days=7),
            signups=[],
            topics=True,
            now=bot.services.clock(),
        )
        channel = cast.channels["A"]
        response = bot.services.client.chat_postMessage(channel=channel, **message)
        [stored] = [m for m in bot.fake.messages(channel) if m["ts"] == response["ts"]]
        cast.made["reminder"] = stored
    reminder: dict[str, Any] = cast.made["reminder"]
    return reminder


def _click_message(
    bot: BotHarness, message: dict[str, Any], user: str, action_id: str, value: str
) -> None:
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url,
        user_id=user,
        action_id=action_id,
        value=value,
        message=message,
        channel_id=message["channel"],
    )
    assert status == 200
    bot.wait_idle()


def _click_home(bot: BotHarness, user: str, action_id: str, value: str) -> None:
    """A button on the clicker's own App Home (the value may be forged)."""
    home = {"id": f"VHOME{user}", "type": "home", "blocks": []}
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url, user_id=user, action_id=action_id, value=value, view=home
    )
    assert status == 200
    bot.wait_idle()


def _submit(bot: BotHarness, view: dict[str, Any], values: Any, user: str) -> str:
    status, _h, body = bot.fake.send_view_submission(
        bot.events_url, user_id=user, view=view, state_values=values
    )
    bot.wait_idle()
    assert status == 200, body
    return body.decode() or "(closed)"


def _opened(calls: list[RecordedCall]) -> bool:
    return any(c.method == "views.open" and c.ok for c in calls)


# Each performs the interaction as `user` and returns something to check an allowed cell by.
Perform = Callable[[BotHarness, Cast, str], Any]


def _skip(bot: BotHarness, cast: Cast, user: str) -> Any:
    delivery_id, dm = _dm(bot, cast)
    _click_message(bot, dm, user, "checkin_skip", str(delivery_id))
    with bot.db.session() as session:
        row = session.get(Delivery, delivery_id)
        return row is not None and row.skipped_at is not None


def _open(bot: BotHarness, cast: Cast, user: str) -> Any:
    delivery_id, dm = _dm(bot, cast, "debrief")
    _click_message(bot, dm, user, "reflection_open", str(delivery_id))
    return "opened"


def _edit(bot: BotHarness, cast: Cast, user: str) -> Any:
    reflection_id = _reflection(bot, cast)
    _delivery_id, dm = _dm(bot, cast)
    _click_message(bot, dm, user, "reflection_edit", str(reflection_id))
    return "opened"


def _submit_reflection(bot: BotHarness, cast: Cast, user: str) -> Any:
    view = {k: v for k, v in _modal(bot, cast).items() if k not in ("id", "root_view_id")}
    return _submit(bot, view, CHECKIN_VALUES, user)


def _done(bot: BotHarness, cast: Cast, user: str) -> Any:
    item_id = _item(bot, cast)
    _click_home(bot, user, "action_item_done", str(item_id))
    with bot.db.session() as session:
        item = session.get(ActionItem, item_id)
        return item is not None and item.status == ActionItemStatus.DONE


def _signup_button(bot: BotHarness, cast: Cast, user: str) -> Any:
    _click_message(bot, _reminder(bot, cast), user, "demoday_signup", str(cast.demo_day))
    return "opened"


def _signup_modal(bot: BotHarness, cast: Cast, user: str) -> Any:
    if "signup_modal" not in cast.made:
        view = press(bot, _reminder(bot, cast), "demoday_signup", user=cast.users["participant"])
        assert view is not None
        cast.made["signup_modal"] = {
            k: v for k, v in view.items() if k not in ("id", "root_view_id")
        }
    values = {"demo_title": {"title": {"type": "plain_text_input", "value": "My demo"}}}
    _submit(bot, cast.made["signup_modal"], values, user)
    with bot.db.session() as session:
        return session.exec(select(DemoSignup).where(DemoSignup.user_id == user)).first()


def _checkin_now(bot: BotHarness, cast: Cast, user: str) -> Any:
    _click_home(bot, user, "home_checkin_now", str(cast.circle_ids["A"]))
    return "sent"


def _preview(bot: BotHarness, cast: Cast, user: str) -> Any:
    _click_home(bot, user, "home_digest_preview", str(cast.circle_ids["A"]))
    return "opened"


def _show_all(bot: BotHarness, cast: Cast, user: str) -> Any:
    _item(bot, cast)
    _click_home(bot, user, "home_show_all", "action_items")
    return "opened"


def _forget(bot: BotHarness, cast: Cast, user: str) -> Any:
    view = {"type": "modal", "callback_id": FORGET_ME_CALLBACK_ID, "blocks": []}
    return _submit(bot, view, {}, user)


def _home(bot: BotHarness, cast: Cast, user: str) -> Any:
    _item(bot, cast)
    bot.fake.send_event(
        bot.events_url,
        {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"},
    )
    bot.wait_idle()
    return "published"


PERFORM: dict[str, Perform] = {
    "checkin_skip": _skip,
    "reflection_open": _open,
    "reflection_edit": _edit,
    "reflection_modal": _submit_reflection,
    "action_item_done": _done,
    "demoday_signup": _signup_button,
    "demoday_signup_modal": _signup_modal,
    "home_checkin_now": _checkin_now,
    "home_digest_preview": _preview,
    "home_show_all": _show_all,
    "forget_me_confirm": _forget,
    "app_home_opened": _home,
}


def allowed_did_it(name: str, result: Any, calls: list[RecordedCall], cast: Cast, user: str) -> str:
    """What an allowed interaction must have done ("" when it did)."""
    secret = f"Secret plan {cast.index}"
    own = user == cast.users["participant"]
    if name in ("checkin_skip", "action_item_done"):
        return "" if result is True else "the row did not change"
    if name in ("reflection_open", "reflection_edit", "demoday_signup", "home_digest_preview"):
        return "" if _opened(calls) else "no modal opened"
    if name == "reflection_modal":
        return "" if result == "(closed)" else f"not saved: {result}"
    if name == "demoday_signup_modal":
        return "" if result is not None else "no sign-up saved"
    if name == "home_checkin_now":
        dms = [c for c in calls if c.method == "chat.postMessage" and c.ok]
        return "" if dms else "no check-in sent"
    if name in ("home_show_all", "app_home_opened"):
        shown = [
            json.dumps(c.args, ensure_ascii=False)
            for c in calls
            if c.method in ("views.open", "views.publish") and c.ok
        ]
        if not shown:
            return "nothing shown"
        if not own and any(secret in text for text in shown):
            return f"{user} was shown the participant's own action item"
        return ""
    if name == "forget_me_confirm":
        texts, _ = shown_to(calls, user)
        return "" if any(t.startswith("Done: I deleted") for t in texts) else f"got {texts}"
    raise AssertionError(f"no check for {name}")


@pytest.mark.parametrize("row", INTERACTIONS, ids=[row.name for row in INTERACTIONS])
def test_interaction_by_each_role(
    shared_bot: BotHarness, shared_clock: FakeClock, row: Row
) -> None:
    bot = shared_bot
    cast = make_cast(bot, shared_clock)
    perform = PERFORM[row.name]
    failures: list[str] = []

    def attempt(role: str) -> tuple[str, list[Any]]:
        user = cast.users[role]
        before = len(bot.fake.calls_snapshot())
        result = perform(bot, cast, user)
        calls = bot.fake.calls_snapshot()[before:]
        if row.codes[role] == "✓":
            problem = allowed_did_it(row.name, result, calls, cast, user)
            if problem:
                failures.append(f"{role}: allowed, but {problem}")
        texts, _ = shown_to(calls, user)
        return "\n".join(texts), calls

    _prepare(bot, cast, row.name)  # what it needs exists before the first attempt
    check_row(bot, cast, row, attempt)
    assert not failures, f"{row.name}:\n" + "\n".join(failures)


def _prepare(bot: BotHarness, cast: Cast, name: str) -> None:
    if name in ("checkin_skip",):
        _dm(bot, cast)
    elif name == "reflection_open":
        _dm(bot, cast, "debrief")
    elif name == "reflection_edit":
        _reflection(bot, cast)
    elif name == "reflection_modal":
        _modal(bot, cast)
    elif name in ("action_item_done", "home_show_all", "app_home_opened"):
        _item(bot, cast)
    elif name == "demoday_signup":
        _reminder(bot, cast)
    elif name == "demoday_signup_modal":
        view = press(bot, _reminder(bot, cast), "demoday_signup", user=cast.users["participant"])
        assert view is not None
        cast.made["signup_modal"] = {
            k: v for k, v in view.items() if k not in ("id", "root_view_id")
        }
