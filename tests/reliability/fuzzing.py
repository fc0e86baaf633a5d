"""Strategies and properties shared by the fuzz tests and `python -m bench.fuzz`.

The tests (tests/reliability/test_fuzz_commands.py, test_fuzz_modals.py) run each property
with a few dozen examples under the suite's time budget; bench/fuzz.py runs the very same
properties with thousands. A property is a plain function that raises AssertionError (or
anything else) when the bot misbehaves, so both runners can call it.

- `/circle` text: Slack sends mentions as `<@U123|ana>`, channels as `<#C1|name>`, broadcasts
  as `<!here>` and escapes & < > in everything else; `slack_text()` builds text the way
  Slack does, from real subcommand words, mentions, dates, times, durations and hostile
  unicode; `any_text()` is anything at all (parsing must not care).
- Modals: `reflection_submission()` / `signup_submission()` draw state values from the view's
  own blocks (missing blocks, wrong types, huge text, NUL, invalid dates, unknown options),
  tampered private_metadata and odd view ids; the properties check the answer and the rows.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st
from sqlmodel import SQLModel, col, select

from bot.rhythm.messages import (
    SIGNUP_TITLE_ACTION,
    SIGNUP_TITLE_BLOCK,
    SIGNUP_TRIED_ACTION,
    SIGNUP_TRIED_BLOCK,
    checkin_message,
)
from bot.slack.mrkdwn import escape, unescape
from bot.slash.base import SORRY
from bot.slash.parse import (
    MAX_CIRCLE_NAME,
    Add,
    Away,
    CancelDemoDay,
    Command,
    CommandError,
    Create,
    NewSchedule,
    Pause,
    Remove,
    Rename,
    SetNudge,
    SetPrompts,
    Skip,
    Unschedule,
)
from bot.subcommands import SUBCOMMANDS
from bot.subcommands import parse_text as parse
from prompts.questions import load_question_set
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DeliveryStatus,
    DemoDay,
    DemoSignup,
    Membership,
    PairingMember,
    PairingRound,
    Person,
    Reflection,
    ReflectionAnswer,
    Schedule,
    SkipDay,
)
from tests.harness import ANA, BEN, BOT_USER, DANA, EVE, FAC, GONE, TEAM, BotHarness, FakeClock

# --------------------------------------------------------------------------- /circle text

# Words a person would type: every subcommand's words, their aliases, and argument words.
COMMAND_WORDS = sorted(
    {word for sub in SUBCOMMANDS for word in sub.name.split()}
    | {"?", "-h", "--help", "learning", "mydata", "forgetme", "check-in", "checkins"}
)
# Whole subcommands ("demoday cancel", "set prompts"), so that most examples reach a parser.
SUBCOMMAND_NAMES = sorted({sub.name for sub in SUBCOMMANDS} | set(COMMAND_WORDS))
# fmt: off
ARGUMENT_WORDS = (
    "until", "as", "leader", "leaders", "sponsor", "facilitator", "participant", "now",
    "preview", "send", "cancel", "nudge", "off", "prompts", "quick", "default", "checkin",
    "debrief", "digest", "pairing", "every", "other", "week", "weeks", "at",
    "tz:Europe/Berlin", "tz:america/new_york", "tz:Mars/Olympus", "tz:",
    "remind:3d,2h", "remind:none", "remind:0m", "remind:",
)
# fmt: on
# Text Slack cannot produce from typing but a person can paste: direction marks, zero-width
# characters, combining marks, emoji with joiners.
ODD_UNICODE = (
    "\u202eevil\u202c",
    "\u200f\u200e",
    "zero\u200bwidth\u200d\ufeff",
    "e\u0301\u0301\u0301",
    "👩🏽‍💻🎉",
    "ﷺ",
    "İstanbul",
    "ß",
    "\u2028\u2029",
    "\u0661\u0662\u0663",  # Arabic-Indic digits
)
MENTIONS = (
    f"<@{ANA}|ana>",
    f"<@{FAC}|fran>",
    f"<@{DANA}>",
    f"<@{BOT_USER}|deploybot>",
    f"<@{GONE}|gone>",
    "<@U123|x>",
    "<@W0ABC>",
)
OTHER_MENTIONS = (
    "<#C0123|general>",
    "<#CPRODLEADS>",
    "<!here>",
    "<!channel>",
    "<!everyone>",
    "<!subteam^S0123|@devs>",
    "<!date^1700000000^{date}|Nov 14>",
    "<https://evil.example/x|click>",
    "<mailto:a@example.com|a@example.com>",
)
BAD_DATES = ("2026-02-30", "2026-13-01", "26-1-1", "0000-01-01", "9999-12-31", "2026/12/24", "")
BAD_TIMES = ("25:00", "12:60", "24:00", "noon", "9", "9pm.", "0:00", "13pm", "-1:00")


def _person_text(*, max_size: int) -> st.SearchStrategy[str]:
    """What a person typed, as Slack sends it (& < > escaped); never NUL (Slack drops it)."""
    return st.text(
        st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=max_size
    ).map(escape)


def _user_mention() -> st.SearchStrategy[str]:
    ids = st.sampled_from([ANA, FAC, DANA, EVE, "U123"]) | st.from_regex(
        r"[UW][A-Z0-9]{2,11}", fullmatch=True
    )
    labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", max_size=12)
    return st.builds(lambda uid, label: f"<@{uid}|{label}>" if label else f"<@{uid}>", ids, labels)


def slack_token() -> st.SearchStrategy[str]:
    """One whitespace-free piece of `/circle` text as Slack would send it."""
    return st.one_of(
        st.sampled_from(COMMAND_WORDS),
        st.sampled_from(ARGUMENT_WORDS),
        st.sampled_from(MENTIONS),
        _user_mention(),
        st.sampled_from(OTHER_MENTIONS),
        st.dates().map(date.isoformat),
        st.sampled_from(BAD_DATES),
        st.times().map(lambda t: t.strftime("%H:%M")),
        st.sampled_from(("9am", "4:30pm", "16h30", "9.15", *BAD_TIMES)),
        st.builds(lambda n, unit: f"{n}{unit}", st.integers(-5, 10**7), st.sampled_from("mhdwy")),
        st.sampled_from(("2h30m", "1h1h", "0", "1w", "7d", "169h")),
        st.integers(-10, 10**12).map(str),
        st.integers(0, 10**11).map(lambda n: f"#{n}"),
        st.sampled_from(ODD_UNICODE),
        st.sampled_from(("&lt;!channel&gt;", "&amp;", "&lt;@U123&gt;", "&amp;lt;", "*bold*")),
        _person_text(max_size=16),
    )


@st.composite
def slack_text(draw: st.DrawFn, *, long_text: bool = True) -> str:
    """`/circle` text: mostly a real subcommand, then a mix of argument tokens."""
    known = draw(st.integers(0, 9)) > 0
    head = draw(st.sampled_from(SUBCOMMAND_NAMES) if known else slack_token())
    rest = draw(st.lists(slack_token(), max_size=9))
    if long_text and draw(st.integers(0, 9)) == 0:  # now and then, something very long
        rest.append(draw(_person_text(max_size=4000)))
    separators = st.sampled_from((" ", " ", " ", "  ", "\n", "\t", "\u00a0", "\u3000"))
    text = head
    for token in rest:
        text += draw(separators) + token
    return text


def any_text() -> st.SearchStrategy[str]:
    """Anything at all, including NUL, raw < >, lone punctuation and control characters."""
    return st.text(st.characters(codec="utf-8"), max_size=300) | st.lists(
        st.text(st.characters(codec="utf-8"), max_size=12) | slack_token(), max_size=8
    ).map(" ".join)


# What only a programming error puts into an answer (a repr, a traceback, an internal name).
# Each counts only when the person's own text does not contain it.
INTERNAL_TEXT = (
    "Traceback",
    'File "',
    "object at 0x",
    "<class ",
    "Error(",
    "Exception",
    "Mention(",
    "Word(",
    "NoneType",
    "None",
    "timeparse",
    "CommandError",
    "Refusal",
    "datetime.",
    "ZoneInfo(",
    "\\x",
    "\\u",
)


# Over HTTP an answer may also quote names typed in earlier commands (a circle called "None"),
# so only what no person would type counts there.
TRACEBACK_TEXT = INTERNAL_TEXT[:5]


def internal_text_in(message: str, typed: str, pieces: Sequence[str] = INTERNAL_TEXT) -> list[str]:
    """The internal-looking pieces of `message` that the person did not type themselves."""
    said = typed + "\n" + unescape(typed)
    return [piece for piece in pieces if piece in message and piece not in said]


def check_parse(text: str) -> Command | None:
    """`parse` returns a sound command, or refuses with a message naming the correct form."""
    try:
        command = parse(text)
    except CommandError as error:
        check_refusal_message(str(error), text)
        return None
    check_command(command)
    return command


def check_refusal_message(message: str, typed: str) -> None:
    assert message.strip(), f"an empty refusal for {typed!r}"
    assert "/circle" in message, f"the refusal names no correct form: {message!r}"
    leaked = internal_text_in(message, typed)
    assert not leaked, f"internal text {leaked} in {message!r}"


def check_refusal_is_escaped(message: str) -> None:
    """mrkdwn: `<` and `>` make mentions, broadcasts and links; a refusal has none of its own."""
    assert "<" not in message and ">" not in message, f"unescaped < or > in {message!r}"


_SLACK_ID = re.compile(r"^[UW][A-Z0-9]+$")


def check_command(command: Command) -> None:
    """What a parsed command promises to the code that runs it."""
    if isinstance(command, Create | Rename):
        assert 0 < len(command.name) <= MAX_CIRCLE_NAME and command.name == command.name.strip(), (
            command
        )
    elif isinstance(command, Add | Remove):
        assert command.people and all(_SLACK_ID.match(uid) for uid in command.user_ids), command
        assert len(set(command.user_ids)) == len(command.user_ids), command
    elif isinstance(command, Unschedule):
        assert 0 <= command.schedule_id < 10**9, command
    elif isinstance(command, CancelDemoDay):
        assert 0 <= command.demo_day_id < 10**9, command
    elif isinstance(command, SetNudge):
        assert command.minutes is None or 60 <= command.minutes <= 7 * 24 * 60, command
    elif isinstance(command, NewSchedule):
        assert 0 <= command.weekday <= 6 and 1 <= command.interval_weeks <= 12, command
    elif isinstance(command, SetPrompts):
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", command.name)
    elif isinstance(command, Pause):
        assert command.until is None or isinstance(command.until, date), command
    elif isinstance(command, Skip | Away):
        day = command.day if isinstance(command, Skip) else command.until
        assert isinstance(day, date), command


# --------------------------------------------------------------------------- /circle over HTTP

SLASH_USERS = (FAC, ANA, DANA, EVE)
SLASH_CHANNELS = ("CFUZZ", "COTHER", "D0FUZZ")
FUZZ_CHANNEL = "CFUZZ"


def ensure_live_circle(bot: BotHarness) -> None:
    """A live circle in FUZZ_CHANNEL with a facilitator, a participant and a leader, so that
    commands have something to work on (an example may have archived the last one)."""
    if FUZZ_CHANNEL not in bot.fake.channels:
        bot.fake.add_channel(FUZZ_CHANNEL, "fuzz", [FAC, ANA, DANA, EVE, BEN])
    with bot.db.session() as session:
        live = session.exec(
            select(Circle).where(
                Circle.channel_id == FUZZ_CHANNEL, col(Circle.archived_at).is_(None)
            )
        ).first()
    if live is None:
        for text in ("create Fuzz circle", f"add <@{ANA}|ana>", f"add <@{DANA}|dana> as leader"):
            bot.slash(text, user=FAC, channel=FUZZ_CHANNEL)


def check_slash(bot: BotHarness, text: str, *, user: str, channel: str) -> str:
    """A signed `/circle` through the real HTTP path: 200, a non-empty ack, our own words only,
    and every answer Slack accepted. Returns the ack text."""
    before = len(bot.fake.calls_snapshot())
    reply = bot.slash(text, user=user, channel=channel)
    assert reply.status == 200, f"HTTP {reply.status} for {text!r}: {reply.ack}"
    assert reply.ack_text.strip(), f"an empty ack for {text!r}: {reply.ack}"
    for answer in reply.texts:
        assert "Traceback" not in answer, answer
        assert SORRY not in answer, f"{text!r} failed inside the bot (see the log)"
        leaked = internal_text_in(answer, text, TRACEBACK_TEXT)
        assert not leaked, f"internal text {leaked} in {answer!r}"
    refused = [
        (call.method, call.error)
        for call in bot.fake.calls_snapshot()[before:]
        if call.method in ("command_response", "response_url") and not call.ok
    ]
    assert not refused, f"Slack refused the answer to {text!r}: {refused}"
    return reply.ack_text


# --------------------------------------------------------------------------- rows

SNAPSHOT_MODELS: tuple[type[SQLModel], ...] = (
    Circle,
    Membership,
    Person,
    Schedule,
    SkipDay,
    DemoDay,
    DemoSignup,
    Delivery,
    Reflection,
    ReflectionAnswer,
    ActionItem,
    PairingRound,
    PairingMember,
)


def snapshot(bot: BotHarness) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables people's actions write to, for "nothing changed" checks."""
    found: dict[str, list[dict[str, Any]]] = {}
    with bot.db.session() as session:
        for model in SNAPSHOT_MODELS:
            rows = [row.model_dump() for row in session.exec(select(model)).all()]
            found[model.__name__] = sorted(rows, key=lambda row: json.dumps(row, default=str))
    return found


def changed_tables(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


def input_block_ids(view: dict[str, Any]) -> set[str]:
    return {
        str(block["block_id"])
        for block in view.get("blocks") or []
        if block.get("type") == "input" and block.get("block_id")
    }


def check_field_errors(answer: dict[str, Any] | None, view: dict[str, Any]) -> dict[str, str]:
    """`response_action: errors`, each a non-empty message under an input block of the view."""
    assert answer is not None and answer.get("response_action") == "errors", answer
    errors = answer.get("errors")
    assert isinstance(errors, dict) and errors, answer
    blocks = input_block_ids(view)
    for block_id, message in errors.items():
        assert block_id in blocks, f"error under {block_id!r}, not a block of the view {blocks}"
        assert isinstance(message, str) and message.strip(), answer
        assert "Traceback" not in message and "Error" not in message, message
    return errors


def submit_view(
    bot: BotHarness, view: dict[str, Any], values: Any, *, user: str
) -> dict[str, Any] | None:
    """A signed view_submission; the bot's answer (None: an empty 200, the modal closes)."""
    status, _headers, body = bot.fake.send_view_submission(
        bot.events_url, user_id=user, view=view, state_values=values
    )
    bot.wait_idle()
    assert status == 200, f"HTTP {status}: {body[:300]!r}"
    if not body.strip():
        return None
    answer = json.loads(body)
    assert isinstance(answer, dict), answer
    return answer


# --------------------------------------------------------------------------- modal values

MISSING = object()  # leave the block out of state.values
_ODD: tuple[Any, ...] = (None, "x", 7, 1.5, True, [], ["x"], {})


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn in proportion to its weight (st.one_of gives every
    distinct strategy the same chance and would merge repeated ones)."""
    indices = [index for index, (weight, _s) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(indices).flatmap(lambda index: choices[index][1])


@dataclass(frozen=True)
class Values:
    """Values for one kind of input element.

    `typical`: what a client sends for a filled-in field; `edge`: still valid, but unusual
    (empty, at the limit, odd unicode); `bad`: what only a forged payload sends.
    """

    typical: st.SearchStrategy[Any]
    edge: st.SearchStrategy[Any]
    bad: st.SearchStrategy[Any]

    def map(self, wrap: Callable[[Any], Any]) -> Values:
        return Values(self.typical.map(wrap), self.edge.map(wrap), self.bad.map(wrap))


def _text_values(max_length: int | None) -> Values:
    limit = max_length or 3000
    chars = st.characters(codec="utf-8", exclude_characters="\x00")
    return Values(
        typical=st.text(chars, min_size=1, max_size=min(limit, 80)).filter(str.strip),
        edge=st.one_of(
            st.sampled_from((*ODD_UNICODE, "<!channel> <@U123> <https://evil|x>", "'); DROP--")),
            st.just(limit * "é"),  # exactly at the limit
            st.sampled_from(("", "   ", "\n\t", None)),  # empty: fine when optional
        ),
        bad=st.one_of(
            st.text(chars, min_size=limit + 1, max_size=limit + 40),  # just too long
            st.just("y" * (limit * 3)),  # far too long
            st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=5), st.text(max_size=5)),
            st.sampled_from((12, 1.5, True, ["a"], {"a": 1})),
        ),
    )


def _date_values(today: date) -> Values:
    return Values(
        typical=st.integers(0, 60).map(lambda d: (today + timedelta(days=d)).isoformat()),
        edge=st.sampled_from((None, today.isoformat())),
        bad=st.one_of(
            st.integers(-400, -1).map(lambda d: (today + timedelta(days=d)).isoformat()),
            st.sampled_from(
                (
                    "2026-02-30",
                    "2026-11-2",
                    "20261120",
                    "2026-11-20T00:00",
                    "tomorrow",
                    "",
                    "\u0662\u0660\u0662\u0666-11-20",  # Arabic-Indic digits
                    20261120,
                    True,
                    [],
                )
            ),
        ),
    )


def _option_values(values: Sequence[str]) -> Values:
    odd_values: tuple[Any, ...] = (
        "",
        "0",
        "6",
        "\u0663",
        "everyone",
        "PRIVATE",
        " circle",
        5,
        None,
        [],
    )
    return Values(
        typical=st.sampled_from(list(values)).map(
            lambda v: {"text": {"type": "plain_text"}, "value": v}
        ),
        edge=st.none(),  # nothing chosen
        bad=st.one_of(
            st.sampled_from(odd_values).map(lambda v: {"value": v}),
            st.sampled_from(("4", 4, [], "circle")),  # not an option object at all
        ),
    )


def _element_values(element: dict[str, Any], today: date) -> Values:
    """Values for one input element (as the whole element object Slack sends)."""
    kind = element.get("type")
    if kind == "plain_text_input":
        values, key = _text_values(element.get("max_length")), "value"
    elif kind == "radio_buttons":
        options = [str(o.get("value")) for o in element.get("options") or []]
        values, key = _option_values(options), "selected_option"
    elif kind == "datepicker":
        values, key = _date_values(today), "selected_date"
    elif kind == "users_select":
        values = Values(
            st.sampled_from((ANA, BEN, FAC)),
            st.sampled_from(("U123ABC", None)),
            st.sampled_from(("", "not a user", "<@UANA>", "u123", 12, [])),
        )
        key = "selected_user"
    elif kind == "checkboxes":
        values = Values(
            st.sampled_from(([], [{"value": "named"}])),
            st.none(),
            st.sampled_from(([{"value": "other"}], "named", [1], {"value": "named"})),
        )
        key = "selected_options"
    else:
        return Values(st.nothing(), st.nothing(), st.sampled_from(_ODD))
    return values.map(lambda v: {"type": kind, key: v})


def _under(action_id: str, element: Any) -> dict[str, Any]:
    return {action_id: element}


def block_values(view: dict[str, Any], today: date) -> st.SearchStrategy[Any]:
    """state.values for the view's input blocks.

    Each example picks how broken the form is: filled in as a client sends it, filled in
    with one field broken, or every field typical, unusual, broken or missing at random;
    and now and then the values are not an object at all.
    """
    blocks: list[tuple[str, Values]] = []
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        block_id, element = str(block["block_id"]), block["element"]
        action_id = str(element.get("action_id"))
        under_action = functools.partial(_under, action_id)
        values = _element_values(element, today).map(under_action)
        bad = weighted(
            (3, values.bad),
            (1, st.sampled_from(_ODD)),  # the block is not an object
            (1, st.sampled_from(_ODD).map(under_action)),  # nor its element
            (1, values.typical.map(lambda e: {"another_action": next(iter(e.values()))})),
        )
        blocks.append((block_id, Values(values.typical, values.edge, bad)))

    @st.composite
    def form(draw: st.DrawFn) -> Any:
        mode = draw(st.sampled_from(("filled", "filled", "one broken", "one broken", "chaos")))
        if mode == "chaos" and draw(st.integers(0, 9)) == 0:
            return draw(st.sampled_from(([], "values", None, 3)))
        broken_one = draw(st.integers(0, len(blocks) - 1)) if mode == "one broken" else -1
        values: dict[str, Any] = {}
        for index, (block_id, choices) in enumerate(blocks):
            if index == broken_one:
                value = draw(choices.bad)
            elif mode == "chaos":
                value = draw(
                    weighted(
                        (2, choices.typical),
                        (1, choices.edge),
                        (1, choices.bad),
                        (1, st.just(MISSING)),
                    )
                )
            else:
                value = draw(weighted((6, choices.typical), (1, choices.edge)))
            if value is not MISSING:
                values[block_id] = value
        extra = draw(st.sampled_from(({}, {}, {}, {"injected": {"x": {"value": "<!channel>"}}})))
        return {**values, **extra}

    return form()


VIEW_IDS = itertools.count(1)


def fresh_view_id() -> str:
    """A view id the fake does not know, so the view is sent as given (metadata included)."""
    return f"VFUZZ{next(VIEW_IDS):07d}"


def odd_view_id() -> st.SearchStrategy[str]:
    return st.sampled_from(("", "V" * 65, "V\x00X", "V X", "V😀", "v-lower"))


def as_sent(view: dict[str, Any], *, view_id: str | None, metadata: str) -> dict[str, Any]:
    """A copy of `view` the fake does not know, with the given id and private_metadata."""
    sent = {k: v for k, v in view.items() if k not in ("id", "root_view_id", "state")}
    sent["private_metadata"] = metadata
    if view_id is not None:
        sent["id"] = view_id
        sent["root_view_id"] = view_id
    return sent


# --------------------------------------------------------------------------- reflection world


@dataclass(repr=False)
class ReflectionWorld:
    """Ana's check-in and debrief, their modals as the bot opened them, and someone else's."""

    circle_id: int
    checkin: dict[str, Any]  # the modal view
    debrief: dict[str, Any]
    checkin_delivery: int
    debrief_delivery: int
    own_item: int  # an open action item of Ana's (the check-in asks about it)
    bens_delivery: int
    bens_item: int
    other_circle: int
    today: date

    def __repr__(self) -> str:  # Hypothesis prints it with every failing example
        return f"ReflectionWorld(circle {self.circle_id}, check-in {self.checkin_delivery})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


REFLECTION_CHANNEL = "CREFLECT"


def send_checkin_dm(
    bot: BotHarness,
    clock: FakeClock,
    circle_id: int,
    recipient: str,
    kind: str,
    *,
    circle_name: str = "Fuzz",
) -> tuple[int, dict[str, Any]]:
    """A check-in or debrief DM sent as the delivery engine sends it; (delivery id, message)."""
    with bot.db.session() as session:
        delivery = Delivery(
            team_id=TEAM,
            circle_id=circle_id,
            key=f"{kind}:fuzz:{recipient}:{clock.now.isoformat()}",
            kind=kind,
            recipient=recipient,
            due_at=clock.now,
            status=DeliveryStatus.SENT,
            sent_at=clock.now,
            created_at=clock.now,
        )
        session.add(delivery)
        session.flush()
        assert delivery.id is not None
        delivery_id = delivery.id
    message = checkin_message(
        kind=kind, circle_name=circle_name, questions=["?"], delivery_id=delivery_id
    )
    response = bot.services.client.chat_postMessage(channel=recipient, **message)
    [dm] = [m for m in bot.fake.messages(response["channel"]) if m["ts"] == response["ts"]]
    with bot.db.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        row.channel_id, row.message_ts = dm["channel"], dm["ts"]
        session.add(row)
    return delivery_id, dm


def press(
    bot: BotHarness, message: dict[str, Any], action_id: str, *, user: str
) -> dict[str, Any] | None:
    """Press the button `action_id` of a message; the modal the bot opened (None if none)."""
    before = len(bot.calls("views.open"))
    [button] = [
        element
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    ]
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url,
        user_id=user,
        action_id=action_id,
        value=button["value"],
        message=message,
        channel_id=message["channel"],
    )
    assert status == 200
    bot.wait_idle()
    opened = [call for call in bot.calls("views.open")[before:] if call.ok]
    return bot.fake.view(opened[0].response["view"]["id"]) if opened else None


def reflection_world(bot: BotHarness, clock: FakeClock) -> ReflectionWorld:
    bot.fake.add_channel(REFLECTION_CHANNEL, "reflect", [FAC, ANA, BEN])
    bot.slash("create Reflect", channel=REFLECTION_CHANNEL)
    bot.slash(f"add <@{ANA}|ana> <@{BEN}|ben>", channel=REFLECTION_CHANNEL)
    with bot.db.session() as session:
        circle = session.exec(select(Circle).where(Circle.channel_id == REFLECTION_CHANNEL)).one()
        other = Circle(
            team_id=TEAM,
            channel_id="CFUZZOTHER",
            name="Other",
            created_by=BEN,
            created_at=clock.now,
        )
        session.add(other)
        session.flush()
        assert circle.id is not None and other.id is not None
        circle_id, other_id = circle.id, other.id
        items = [
            ActionItem(
                team_id=TEAM,
                circle_id=circle_id,
                user_id=user,
                question_id="next_step",
                text=f"{user}'s item",
                created_at=clock.now - timedelta(days=7),
            )
            for user in (ANA, BEN)
        ]
        session.add_all(items)
        session.flush()
        own_item, bens_item = (item.id for item in items)
    assert own_item is not None and bens_item is not None
    checkin_id, checkin_dm = send_checkin_dm(bot, clock, circle_id, ANA, "checkin")
    debrief_id, debrief_dm = send_checkin_dm(bot, clock, circle_id, ANA, "debrief")
    bens_id, _ = send_checkin_dm(bot, clock, circle_id, BEN, "checkin")
    checkin = press(bot, checkin_dm, "reflection_open", user=ANA)
    debrief = press(bot, debrief_dm, "reflection_open", user=ANA)
    assert checkin is not None and debrief is not None
    assert f"follow_up.{own_item}" in input_block_ids(checkin)
    return ReflectionWorld(
        circle_id=circle_id,
        checkin=checkin,
        debrief=debrief,
        checkin_delivery=checkin_id,
        debrief_delivery=debrief_id,
        own_item=own_item,
        bens_delivery=bens_id,
        bens_item=bens_item,
        other_circle=other_id,
        today=clock.now.date(),
    )


def _reflection_metadata(world: ReflectionWorld) -> st.SearchStrategy[str | None]:
    """None: the view's own metadata. Else forged or broken metadata."""
    targets = (world.checkin_delivery, world.debrief_delivery, world.bens_delivery)
    ids = st.sampled_from((*targets, 0, -1, 2**31, 10**20, 999_999, "1", 1.5, True, None))
    forged = st.fixed_dictionaries(
        {
            "circle_id": st.sampled_from(
                (world.circle_id, world.circle_id, world.other_circle, 0, "1", True)
            ),
            "prompt_set": st.sampled_from(("default", "default", "quick", "", "x" * 41, 5)),
        },
        optional={
            "delivery_id": ids,
            "reflection_id": ids,
            "follow_up": st.sampled_from(
                ([], [world.own_item], [world.bens_item], [world.own_item] * 2, ["1"], [0], {})
            ),
        },
    ).map(json.dumps)
    garbage = st.sampled_from(
        ("", "null", "[]", "{", "not json", "\x00", "1", '"x"', "{}", "x" * 3000)
    )
    return weighted((16, st.none()), (2, forged), (1, garbage))


@dataclass(frozen=True)
class Submission:
    view: dict[str, Any]  # as sent: id and private_metadata may be forged
    values: Any
    user: str
    retry: bool  # send it twice: the second time must change nothing

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        return (
            f"user={self.user} view_id={self.view.get('id')!r} "
            f"metadata={str(self.view.get('private_metadata'))[:200]!r} "
            f"values={json.dumps(self.values, default=str, ensure_ascii=False)[:600]}"
        )


@st.composite
def reflection_submission(draw: st.DrawFn, world: ReflectionWorld) -> Submission:
    view = draw(st.sampled_from((world.checkin, world.checkin, world.debrief)))
    metadata = draw(_reflection_metadata(world))
    view_id = fresh_view_id() if draw(st.integers(0, 19)) else draw(odd_view_id())
    return Submission(
        view=as_sent(
            view,
            view_id=view_id,
            metadata=view["private_metadata"] if metadata is None else metadata,
        ),
        values=draw(block_values(view, world.today)),
        user=draw(st.sampled_from((ANA,) * 18 + (BEN, EVE))),
        retry=draw(st.booleans()),
    )


def check_reflection_submission(bot: BotHarness, sub: Submission) -> str:
    """The answer is a success with consistent rows, or field errors and no change at all."""
    before = snapshot(bot)
    answer = submit_view(bot, sub.view, sub.values, user=sub.user)
    after = snapshot(bot)
    if answer is None:
        check_reflection_saved(bot, sub, before, after)
        if sub.retry:  # Slack retries, or a double click: the same view id again
            assert submit_view(bot, sub.view, sub.values, user=sub.user) is None
            assert snapshot(bot) == after, "a repeated submission changed rows"
        return "saved"
    check_field_errors(answer, sub.view)
    assert after == before, f"a refused submission wrote to {changed_tables(before, after)}"
    return "refused"


def _raw(values: dict[str, Any], block_id: str, action_id: str, key: str) -> Any:
    block = values.get(block_id)
    element = block.get(action_id) if isinstance(block, dict) else None
    return element.get(key) if isinstance(element, dict) else None


def _selected(values: dict[str, Any], block_id: str, action_id: str) -> Any:
    option = _raw(values, block_id, action_id, "selected_option")
    return option.get("value") if isinstance(option, dict) else None


def _follow_up_ids(view: dict[str, Any]) -> list[Any]:
    try:
        metadata = json.loads(view.get("private_metadata") or "")
    except ValueError:
        return []
    found = metadata.get("follow_up") if isinstance(metadata, dict) else None
    return found if isinstance(found, list) else []


def check_reflection_saved(
    bot: BotHarness, sub: Submission, before: dict[str, Any], after: dict[str, Any]
) -> None:
    values = sub.values
    assert isinstance(values, dict), "saved from values that are not an object"
    with bot.db.session() as session:
        reflection = session.exec(
            select(Reflection).where(Reflection.view_id == sub.view.get("id"))
        ).first()
        assert reflection is not None, f"a success, and no reflection saved by this view: {after}"
        assert reflection.user_id == sub.user and reflection.id is not None
        delivery = session.get(Delivery, reflection.delivery_id)
        assert delivery is not None and delivery.answered_at is not None
        assert delivery.recipient == sub.user
        per_delivery = session.exec(
            select(Reflection).where(Reflection.delivery_id == reflection.delivery_id)
        ).all()
        assert len(per_delivery) == 1
        assert reflection.visibility == _selected(values, "meta.visibility", "visibility")
        named = _raw(values, "meta.named", "named", "selected_options")
        assert reflection.named == (
            isinstance(named, list)
            and any(isinstance(o, dict) and o.get("value") == "named" for o in named)
        )
        answers = {
            a.question_id: a
            for a in session.exec(
                select(ReflectionAnswer).where(ReflectionAnswer.reflection_id == reflection.id)
            ).all()
        }
        items = {
            i.question_id: i
            for i in session.exec(
                select(ActionItem).where(ActionItem.reflection_id == reflection.id)
            ).all()
        }
        questions = load_question_set(reflection.prompt_set).for_kind(reflection.kind)
    for question in questions:
        qid, kind = question.id, question.kind
        row = answers.pop(qid, None)
        if kind in ("short_text", "long_text", "action_item"):
            raw = _raw(values, qid, qid, "value")
            text = raw.strip() if isinstance(raw, str) else ""
            if text:
                assert row is not None and row.text == text, (qid, row, raw)
            else:
                assert row is None, (qid, row, raw)
            if kind == "action_item":
                item = items.get(qid)
                raw_due = _raw(values, qid + ".due", "due", "selected_date")
                earlier = [
                    row
                    for row in before["ActionItem"]
                    if (row["reflection_id"], row["question_id"]) == (reflection.id, qid)
                ]
                asked_about = item is not None and item.id in _follow_up_ids(sub.view)
                if asked_about:
                    pass  # the form also answered "Did you do it?" about this very item
                elif (
                    earlier
                    and earlier[0]["status"] == ActionItemStatus.DROPPED
                    and text
                    and text != earlier[0]["text"]
                ):
                    # Dropped, and now a different next step: a new commitment, open again.
                    assert item is not None and item.text == text, (item, text)
                    assert item.status == ActionItemStatus.OPEN, item
                elif earlier and earlier[0]["status"] != ActionItemStatus.OPEN:
                    # Done or dropped before this edit: it keeps its history (bot/reflections).
                    assert item is not None and item.model_dump() == earlier[0], (item, earlier)
                elif text:
                    assert item is not None and item.text == text, (item, text)
                    assert item.status == ActionItemStatus.OPEN, item
                    assert item.due_date == (date.fromisoformat(raw_due) if raw_due else None)
                else:
                    assert item is None or item.status == ActionItemStatus.DROPPED
        elif row is not None:
            if kind == "scale":
                assert row.number == int(_selected(values, qid, qid))
            elif kind == "choice":
                assert row.text == _selected(values, qid, qid) and row.text in question.options
            elif kind == "date":
                assert row.text == _raw(values, qid, qid, "selected_date")
            elif kind == "user":
                assert row.text == _raw(values, qid, qid, "selected_user")
        elif question.required:
            raise AssertionError(f"required question {qid} saved without an answer")
    assert not answers, f"answers to questions the form does not ask: {sorted(answers)}"


# --------------------------------------------------------------------------- sign-up world


@dataclass(repr=False)
class SignupWorld:
    view: dict[str, Any]  # the sign-up modal as the bot opened it for Ana
    demo_day: int
    cancelled: int
    started: int
    other_team: int

    def __repr__(self) -> str:
        return f"SignupWorld(demo day {self.demo_day})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


SIGNUP_CHANNEL = "CSIGNUP"


def signup_world(bot: BotHarness, clock: FakeClock) -> SignupWorld:
    from bot.rhythm.messages import demoday_reminder_message

    bot.fake.add_channel(SIGNUP_CHANNEL, "demos", [FAC, ANA, DANA, EVE])
    bot.slash("create Demos", channel=SIGNUP_CHANNEL)
    bot.slash(f"add <@{ANA}|ana>", channel=SIGNUP_CHANNEL)
    bot.slash(f"add <@{DANA}|dana> as leader", channel=SIGNUP_CHANNEL)
    ids: list[int] = []
    with bot.db.session() as session:
        circle = session.exec(select(Circle).where(Circle.channel_id == SIGNUP_CHANNEL)).one()
        assert circle.id is not None
        for team, starts, cancelled in (
            (TEAM, timedelta(days=7), False),
            (TEAM, timedelta(days=7), True),
            (TEAM, -timedelta(hours=1), False),
            ("TOTHER", timedelta(days=7), False),
        ):
            demo_day = DemoDay(
                team_id=team,
                circle_id=circle.id,
                title="Demo <day>",
                starts_at=clock.now + starts,
                reminder_offsets="86400",
                created_by=FAC,
                created_at=clock.now,
                cancelled_at=clock.now if cancelled else None,
            )
            session.add(demo_day)
            session.flush()
            assert demo_day.id is not None
            ids.append(demo_day.id)
        message = demoday_reminder_message(
            circle_name="Demos",
            demo_day_id=ids[0],
            title="Demo <day>",
            starts_at=clock.now + timedelta(days=7),
            signups=[],
            topics=True,
            now=clock.now,
        )
    response = bot.services.client.chat_postMessage(channel=SIGNUP_CHANNEL, **message)
    [reminder] = [m for m in bot.fake.messages(SIGNUP_CHANNEL) if m["ts"] == response["ts"]]
    view = press(bot, reminder, "demoday_signup", user=ANA)
    assert view is not None
    return SignupWorld(view, *ids)


@st.composite
def signup_submission(draw: st.DrawFn, world: SignupWorld) -> Submission:
    demo_days = (world.demo_day, world.cancelled, world.started, world.other_team)
    forged = st.one_of(
        st.sampled_from((*demo_days, 0, -1, 2**31, 10**20, 999_999, "1", 1.5, True, None)).map(
            lambda i: json.dumps({"demo_day_id": i})
        ),
        st.sampled_from(("", "null", "[]", "{", "not json", "\x00", "7", '{"demo_day": 1}')),
    )
    metadata = draw(weighted((8, st.none()), (1, forged)))
    view_id = fresh_view_id() if draw(st.integers(0, 19)) else draw(odd_view_id())
    return Submission(
        view=as_sent(
            world.view,
            view_id=view_id,
            metadata=world.view["private_metadata"] if metadata is None else metadata,
        ),
        values=draw(block_values(world.view, date(2026, 1, 1))),
        user=draw(st.sampled_from((ANA, ANA, ANA, DANA, FAC, EVE))),
        retry=draw(st.booleans()),
    )


def _one_line(raw: Any) -> str:
    return " ".join(raw.split()) if isinstance(raw, str) else ""


def check_signup_submission(bot: BotHarness, sub: Submission) -> str:
    before = snapshot(bot)
    answer = submit_view(bot, sub.view, sub.values, user=sub.user)
    after = snapshot(bot)
    if answer is None:
        values = sub.values
        assert isinstance(values, dict)
        demo_day_id = json.loads(sub.view["private_metadata"])["demo_day_id"]
        with bot.db.session() as session:
            rows = session.exec(
                select(DemoSignup).where(
                    DemoSignup.demo_day_id == demo_day_id, DemoSignup.user_id == sub.user
                )
            ).all()
        assert len(rows) == 1, rows
        title = _one_line(_raw(values, SIGNUP_TITLE_BLOCK, SIGNUP_TITLE_ACTION, "value"))
        tried = _one_line(_raw(values, SIGNUP_TRIED_BLOCK, SIGNUP_TRIED_ACTION, "value"))
        assert (rows[0].title, rows[0].what_tried) == (title, tried)
        assert title and "\x00" not in title + tried
        others = {k: v for k, v in after.items() if k != "DemoSignup"}
        assert others == {k: v for k, v in before.items() if k != "DemoSignup"}
        if sub.retry:
            assert submit_view(bot, sub.view, sub.values, user=sub.user) is None
            assert snapshot(bot) == after, "a repeated sign-up changed rows"
        return "saved"
    check_field_errors(answer, sub.view)
    assert after == before, f"a refused sign-up wrote to {changed_tables(before, after)}"
    return "refused"
