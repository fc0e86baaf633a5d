"""Parsing of `/circle` text into typed commands.

The manifest sets `should_escape: true`, so Slack sends mentions as `<@U123|ana>`, channels
as `<#C123|name>`, broadcasts as `<!here>` and escapes & < > in the rest of the text. Parsing is
pure: no Slack, no database. Every refusal is a `CommandError` whose message shows the
correct form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time

from bot.calendar import timeparse
from bot.slack.mrkdwn import escape, unescape
from storage.models import Role, ScheduleKind

MAX_CIRCLE_NAME = 80
MAX_TEAM_NAME = 80

# `<...>` is one token even if its label holds spaces; anything else splits on whitespace.
_TOKEN = re.compile(r"<[^<>]*>|\S+")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^<>]*))?>$")
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|([^<>]*))?>$")
_SPECIAL = re.compile(r"^<!([^<>|]+)(?:\|([^<>]*))?>$")
_LINK = re.compile(r"^<([^@#!][^<>|]*)(?:\|([^<>]*))?>$")


class CommandError(Exception):
    """A refusal shown to the person, naming what was wrong and the correct form."""


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    example: str
    summary: str


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("help", "/circle help", "/circle help", "show this list"),
    Subcommand(
        "create",
        "/circle create <name>",
        "/circle create Product Leads",
        "start a circle in this channel; you become its facilitator",
    ),
    Subcommand(
        "add",
        "/circle add @person … [as leader|facilitator]",
        "/circle add @ana @ben  ·  /circle add @dana as leader",
        "add participants, or people with another role",
    ),
    Subcommand(
        "remove", "/circle remove @person …", "/circle remove @ben", "take people out of the circle"
    ),
    Subcommand("members", "/circle members", "/circle members", "list the circle's people by role"),
    Subcommand("rename", "/circle rename <name>", "/circle rename Product Leaders", "rename it"),
    Subcommand(
        "archive", "/circle archive", "/circle archive", "stop all activity (the data is kept)"
    ),
    Subcommand(
        "schedule",
        "/circle schedule checkin|debrief|digest|pairing <day> <time> [every N weeks] [tz:<zone>]",
        "/circle schedule checkin mon 09:00  ·  /circle schedule debrief fri 16:00 every 2 weeks"
        "  ·  /circle schedule pairing mon 10:00 every 2 weeks",
        "send check-ins, debriefs or the leaders' digest, or form peer pairs, every week "
        "(or every N weeks)",
    ),
    Subcommand(
        "schedules", "/circle schedules", "/circle schedules", "list the schedules and their ids"
    ),
    Subcommand(
        "unschedule", "/circle unschedule <id>", "/circle unschedule 3", "remove a schedule"
    ),
    Subcommand(
        "demoday",
        "/circle demoday <YYYY-MM-DD> <time> <title> [remind:3d,2h]",
        "/circle demoday 2026-12-10 15:00 Q4 demo day remind:3d,2h",
        "plan a demo day; the channel is reminded before it (default 7d, 1d and 1h)",
    ),
    Subcommand("demodays", "/circle demodays", "/circle demodays", "list the upcoming demo days"),
    Subcommand(
        "demoday cancel",
        "/circle demoday cancel <id>",
        "/circle demoday cancel 2",
        "cancel a demo day and tell the channel",
    ),
    Subcommand(
        "pause",
        "/circle pause [until <YYYY-MM-DD>]",
        "/circle pause until 2026-12-31  ·  /circle pause",
        "send nothing until that date (inclusive) or until `/circle resume`",
    ),
    Subcommand("resume", "/circle resume", "/circle resume", "end a pause"),
    Subcommand(
        "skip", "/circle skip <YYYY-MM-DD>", "/circle skip 2026-12-24", "send nothing on one date"
    ),
    Subcommand(
        "away",
        "/circle away until <YYYY-MM-DD>",
        "/circle away until 2027-01-05",
        "get nothing yourself up to that date (inclusive)",
    ),
    Subcommand("back", "/circle back", "/circle back", "end your away time early"),
    Subcommand(
        "set",
        "/circle set nudge <duration>|off",
        "/circle set nudge 12h  ·  /circle set nudge off",
        "when to nudge people who haven't answered a check-in (default 24h)",
    ),
    Subcommand(
        "set prompts",
        "/circle set prompts [<set>]",
        "/circle set prompts quick  ·  /circle set prompts",
        "choose the questions check-ins and debriefs ask; with no name, list the question sets",
    ),
    Subcommand(
        "pair",
        "/circle pair",
        "/circle pair",
        "form peer coaching pairs now (a trio if the count is odd); each group gets a group DM",
    ),
    Subcommand(
        "nopair",
        "/circle nopair",
        "/circle nopair",
        "leave yourself out of peer pairing (you're told at each round)",
    ),
    Subcommand("pair-me", "/circle pair-me", "/circle pair-me", "be paired again after nopair"),
    Subcommand(
        "team",
        "/circle team @person [<team>]",
        "/circle team @ana Platform  ·  /circle team @ana",
        "set a person's team (pairing prefers other teams); with no team, use their Slack title",
    ),
    Subcommand(
        "checkin now", "/circle checkin now", "/circle checkin now", "send a check-in right away"
    ),
    Subcommand(
        "debrief now", "/circle debrief now", "/circle debrief now", "send a debrief right away"
    ),
    Subcommand("status", "/circle status", "/circle status", "see what was delivered this week"),
    Subcommand(
        "digest preview",
        "/circle digest preview",
        "/circle digest preview",
        "see what this week's digest says so far to leaders, the circle and facilitators "
        "(only you see it)",
    ),
    Subcommand(
        "digest send",
        "/circle digest send",
        "/circle digest send",
        "send this week's digest so far now, to the channel, the facilitators and the leaders",
    ),
    Subcommand(
        "learnings",
        "/circle learnings <words>",
        "/circle learnings delegation feedback",
        "search the reflections you may read, in all your circles (works in any channel)",
    ),
    Subcommand(
        "my-data",
        "/circle my-data",
        "/circle my-data",
        "get everything Circlebot holds about you, as a file in a direct message",
    ),
    Subcommand(
        "forget-me",
        "/circle forget-me",
        "/circle forget-me",
        "delete everything Circlebot holds about you (asks you to confirm first)",
    ),
    Subcommand(
        "export",
        "/circle export",
        "/circle export",
        "facilitators: get the circle's reflections you may read as a CSV file by direct message",
    ),
)
SUBCOMMANDS_BY_NAME = {sub.name: sub for sub in SUBCOMMANDS}


def usage_hint(name: str) -> str:
    """ "Use `…`, e.g. `…`." with placeholders like <name> escaped, or Slack would parse them."""
    sub = SUBCOMMANDS_BY_NAME[name]
    return f"Use `{escape(sub.usage)}`, e.g. `{escape(sub.example)}`."


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserMention:
    user_id: str
    label: str


@dataclass(frozen=True)
class Word:
    text: str  # unescaped: what the person typed


@dataclass(frozen=True)
class OtherMention:
    """A channel, broadcast, user group or link: never a person."""

    raw: str
    label: str


Token = UserMention | Word | OtherMention


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for raw in _TOKEN.findall(text):
        if match := _USER.match(raw):
            tokens.append(UserMention(match.group(1), match.group(2) or match.group(1)))
        elif match := _CHANNEL.match(raw):
            tokens.append(OtherMention(raw, "#" + (match.group(2) or match.group(1))))
        elif match := _SPECIAL.match(raw):
            label = match.group(2) or match.group(1)
            if label.startswith("subteam^"):
                label = "a user group"
            tokens.append(OtherMention(raw, label if label.startswith("@") else "@" + label))
        elif match := _LINK.match(raw):
            tokens.append(OtherMention(raw, match.group(2) or match.group(1)))
        else:
            tokens.append(Word(unescape(raw)))
    return tokens


def _display(token: Token) -> str:
    if isinstance(token, UserMention):
        return "@" + token.label
    if isinstance(token, OtherMention):
        return token.label
    return token.text


# --- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Help:
    unknown: str | None = None  # the subcommand that was not understood, if any


@dataclass(frozen=True)
class Create:
    name: str


@dataclass(frozen=True)
class Add:
    people: tuple[UserMention, ...]
    role: Role

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(person.user_id for person in self.people)


@dataclass(frozen=True)
class Remove:
    people: tuple[UserMention, ...]

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(person.user_id for person in self.people)


@dataclass(frozen=True)
class Members:
    pass


@dataclass(frozen=True)
class Rename:
    name: str


@dataclass(frozen=True)
class Archive:
    pass


# --- rhythm: schedules, demo days, pauses (run by bot/rhythm_commands.py) -------------------


@dataclass(frozen=True)
class NewSchedule:
    """`schedule <kind> <day> <time> …`; its anchor is set when it runs (today, caller's zone)."""

    kind: ScheduleKind
    weekday: int  # 0 = Monday
    at: time
    interval_weeks: int
    pinned_tz: str | None  # None: each recipient's own zone


@dataclass(frozen=True)
class ListSchedules:
    pass


@dataclass(frozen=True)
class Unschedule:
    schedule_id: int


@dataclass(frozen=True)
class NewDemoDay:
    """`demoday <date> <time> <title> [remind:…]`: read by timeparse.parse_demoday when it runs,
    because the moment depends on the caller's zone and on now."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class ListDemoDays:
    pass


@dataclass(frozen=True)
class CancelDemoDay:
    demo_day_id: int


@dataclass(frozen=True)
class Pause:
    until: date | None  # the last paused local date, inclusive; None: until `/circle resume`


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Skip:
    day: date


@dataclass(frozen=True)
class Away:
    until: date  # inclusive


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class SetNudge:
    minutes: int | None  # None: nudges off


@dataclass(frozen=True)
class SetPrompts:
    """`set prompts <set>`: the set is checked against the question library when it runs."""

    name: str


@dataclass(frozen=True)
class ListPromptSets:
    """`set prompts` with no name."""


@dataclass(frozen=True)
class SendNow:
    """`checkin now` / `debrief now` (run by bot.delivery_commands)."""

    kind: ScheduleKind


@dataclass(frozen=True)
class Status:
    """`status` (run by bot.delivery_commands)."""


@dataclass(frozen=True)
class DigestPreview:
    """`digest preview` (run by bot.delivery_commands)."""


@dataclass(frozen=True)
class DigestSend:
    """`digest send` (run by bot.delivery_commands)."""


@dataclass(frozen=True)
class Learnings:
    """`learnings <words>` (run by bot.learnings, which reads the words out of `text`)."""

    text: str


RhythmCommand = (
    NewSchedule
    | ListSchedules
    | Unschedule
    | NewDemoDay
    | ListDemoDays
    | CancelDemoDay
    | Pause
    | Resume
    | Skip
    | Away
    | Back
    | SetNudge
    | SetPrompts
    | ListPromptSets
)
DeliveryCommand = SendNow | Status | DigestPreview | DigestSend


# --- people's rights over their data (run by bot/data_rights.py) ------------------------------


@dataclass(frozen=True)
class MyData:
    """`my-data`: a copy of everything held about the caller."""


@dataclass(frozen=True)
class ForgetMe:
    """`forget-me`: delete everything held about the caller, after a confirmation."""


@dataclass(frozen=True)
class Export:
    """`export`: the circle's reflections for a facilitator, as CSV."""


DataRightsCommand = MyData | ForgetMe | Export


# --- peer pairing (run by bot/pairing_commands.py) -------------------------------------------


@dataclass(frozen=True)
class Pair:
    """`pair`: form peer coaching pairs now."""


@dataclass(frozen=True)
class NoPair:
    """`nopair`: leave yourself out of pairing."""


@dataclass(frozen=True)
class PairMe:
    """`pair-me`: be paired again."""


@dataclass(frozen=True)
class SetTeam:
    """`team @person [<team>]`; no team: their Slack title stands for it again."""

    user_id: str
    team: str | None


PairingCommand = Pair | NoPair | PairMe | SetTeam
PAIRING_COMMANDS = (Pair, NoPair, PairMe, SetTeam)
DATA_RIGHTS_COMMANDS = (MyData, ForgetMe, Export)
RHYTHM_COMMANDS = (
    NewSchedule,
    ListSchedules,
    Unschedule,
    NewDemoDay,
    ListDemoDays,
    CancelDemoDay,
    Pause,
    Resume,
    Skip,
    Away,
    Back,
    SetNudge,
    SetPrompts,
    ListPromptSets,
)
DELIVERY_COMMANDS = (SendNow, Status, DigestPreview, DigestSend)

Command = (
    Help
    | Create
    | Add
    | Remove
    | Members
    | Rename
    | Archive
    | RhythmCommand
    | DeliveryCommand
    | Learnings
    | DataRightsCommand
    | PairingCommand
)


def parse(text: str) -> Command:
    if "\x00" in (text or ""):  # no Slack client sends it, and PostgreSQL can't store it
        raise CommandError(
            "That command holds a NUL character, which I can't keep. Please type it again. "
            "`/circle help` lists the commands."
        )
    tokens = tokenize(text or "")
    if not tokens:
        return Help()
    head, rest = tokens[0], tokens[1:]
    if not isinstance(head, Word):
        return Help(unknown=_display(head))
    name = head.text.lower()
    if name in ("help", "?", "-h", "--help"):
        return Help()
    if name == "create":
        return Create(_parse_name(rest, "create"))
    if name == "rename":
        return Rename(_parse_name(rest, "rename"))
    if name == "add":
        return _parse_add(rest)
    if name == "remove":
        return Remove(_parse_people(rest, "remove"))
    if name == "members":
        _no_arguments(rest, "members")
        return Members()
    if name == "archive":
        _no_arguments(rest, "archive")
        return Archive()
    if name in ("learnings", "learning"):
        return Learnings(" ".join(_display(token) for token in rest))
    if name in _RHYTHM_PARSERS:
        return _RHYTHM_PARSERS[name](rest)
    if name in _DATA_RIGHTS_PARSERS:
        return _DATA_RIGHTS_PARSERS[name](rest)
    if name in _PAIRING_PARSERS:
        return _PAIRING_PARSERS[name](rest)
    return Help(unknown=head.text)


def _parse_name(tokens: list[Token], sub: str) -> str:
    name = " ".join(_display(token) for token in tokens).strip()
    if not name:
        raise CommandError(f"The circle needs a name. {usage_hint(sub)}")
    if len(name) > MAX_CIRCLE_NAME:
        raise CommandError(
            f"That name is {len(name)} characters; the limit is {MAX_CIRCLE_NAME}. "
            + usage_hint(sub)
        )
    return name


def _no_arguments(tokens: list[Token], sub: str) -> None:
    if tokens:
        extra = escape(" ".join(_display(t) for t in tokens))
        raise CommandError(f"`/circle {sub}` takes no arguments (got “{extra}”). {usage_hint(sub)}")


_ROLE_WORDS = {
    "leader": Role.LEADER,
    "leaders": Role.LEADER,
    "sponsor": Role.LEADER,
    "facilitator": Role.FACILITATOR,
    "facilitators": Role.FACILITATOR,
    "participant": Role.PARTICIPANT,
    "participants": Role.PARTICIPANT,
}


def _parse_add(tokens: list[Token]) -> Add:
    role = Role.PARTICIPANT
    for index, token in enumerate(tokens):
        if isinstance(token, Word) and token.text.lower() == "as":
            role_words = tokens[index + 1 :]
            if len(role_words) != 1 or not isinstance(role_words[0], Word):
                raise CommandError(
                    "After `as`, name one role: leader, facilitator or participant. "
                    + usage_hint("add")
                )
            word = role_words[0].text.lower()
            if word not in _ROLE_WORDS:
                raise CommandError(
                    f"“{escape(role_words[0].text)}” is not a role. Use leader, facilitator or "
                    f"participant, e.g. `/circle add @dana as leader`."
                )
            role = _ROLE_WORDS[word]
            tokens = tokens[:index]
            break
    return Add(_parse_people(tokens, "add"), role)


def _parse_people(tokens: list[Token], sub: str) -> tuple[UserMention, ...]:
    if not tokens:
        raise CommandError(f"Mention at least one person. {usage_hint(sub)}")
    people: dict[str, UserMention] = {}
    for token in tokens:
        if isinstance(token, UserMention):
            people.setdefault(token.user_id, token)
        elif isinstance(token, OtherMention):
            raise CommandError(
                f"{token.label} is not a person: mention people one by one. {usage_hint(sub)}"
            )
        elif token.text.startswith("@"):
            raise CommandError(
                f"I can't find a Slack user called {escape(token.text)}. Pick people from the "
                f"@ list so Slack links them. {usage_hint(sub)}"
            )
        else:
            raise CommandError(
                f"“{escape(token.text)}” is not a mention of a person. {usage_hint(sub)}"
            )
    return tuple(people.values())


# --- rhythm parsers ----------------------------------------------------------------------------

# parse_schedule_spec anchors the series at `today`; parsing is pure, so any date does here and
# the real anchor (today in the caller's zone) is set when the command runs.
_ANY_DAY = date(2026, 1, 5)


def _words(tokens: list[Token], sub: str) -> list[str]:
    """The tokens as plain words; a mention, channel or link has no place in these commands."""
    for token in tokens:
        if not isinstance(token, Word):
            raise CommandError(
                f"{escape(_display(token))} has no place in `/circle {sub}`. {usage_hint(sub)}"
            )
    return [token.text for token in tokens if isinstance(token, Word)]


def _parse_error(error: timeparse.ParseError, sub: str | None = None) -> CommandError:
    """A parser's message (it may quote what was typed, so it is escaped), plus the form."""
    message = escape(str(error))
    return CommandError(message if sub is None else f"{message} {usage_hint(sub)}")


_KIND_WORDS = {
    "checkin": ScheduleKind.CHECKIN,
    "check-in": ScheduleKind.CHECKIN,
    "checkins": ScheduleKind.CHECKIN,
    "debrief": ScheduleKind.DEBRIEF,
    "debriefs": ScheduleKind.DEBRIEF,
    "digest": ScheduleKind.DIGEST,
    "pairing": ScheduleKind.PAIRING,
    "pair": ScheduleKind.PAIRING,
    "pairs": ScheduleKind.PAIRING,
}


def _parse_schedule(tokens: list[Token]) -> NewSchedule:
    words = _words(tokens, "schedule")
    if not words:
        raise CommandError(
            "Say what to schedule (checkin, debrief, digest or pairing), the day and the time. "
            + usage_hint("schedule")
        )
    kind_word = words[0].lower()
    if kind_word not in _KIND_WORDS:
        raise CommandError(
            f"“{escape(words[0])}” is not something I can schedule. Use checkin, debrief, "
            f"digest or pairing, e.g. `/circle schedule checkin mon 09:00`."
        )
    try:
        spec = timeparse.parse_schedule_spec(words[1:], today=_ANY_DAY)
    except timeparse.ParseError as error:
        raise _parse_error(error) from None
    return NewSchedule(
        kind=_KIND_WORDS[kind_word],
        weekday=spec.recurrence.weekday,
        at=spec.recurrence.at,
        interval_weeks=spec.recurrence.interval_weeks,
        pinned_tz=spec.pinned_tz.key if spec.pinned_tz else None,
    )


def _parse_id(tokens: list[Token], sub: str, what: str, lister: str) -> int:
    words = _words(tokens, sub)
    if not words:
        raise CommandError(f"Give the {what} id from `{lister}`. {usage_hint(sub)}")
    if len(words) > 1:
        raise CommandError(f"Give one {what} id at a time. {usage_hint(sub)}")
    text = words[0].removeprefix("#")
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise CommandError(
            f"“{escape(words[0])}” is not a {what} id: ids are the numbers `{lister}` shows. "
            + usage_hint(sub)
        )
    return int(text)


def _parse_demoday(tokens: list[Token]) -> NewDemoDay | CancelDemoDay:
    if tokens and isinstance(tokens[0], Word) and tokens[0].text.lower() == "cancel":
        return CancelDemoDay(
            _parse_id(tokens[1:], "demoday cancel", "demo day", "/circle demodays")
        )
    if not tokens:
        raise CommandError(
            "Give the date, the time and a title. "
            + usage_hint("demoday")
            + " To cancel one: `/circle demoday cancel &lt;id&gt;`."
        )
    return NewDemoDay(tuple(_display(token) for token in tokens))


def _parse_day(words: list[str], sub: str) -> date:
    try:
        return timeparse.parse_date(words[0])
    except timeparse.ParseError as error:
        raise _parse_error(error, sub) from None


def _parse_until(tokens: list[Token], sub: str, *, required: bool) -> date | None:
    words = _words(tokens, sub)
    if words and words[0].lower() == "until":
        words = words[1:]
        if not words:
            raise CommandError(f"The date after `until` is missing. {usage_hint(sub)}")
    if not words:
        if required:
            raise CommandError(f"Say until when. {usage_hint(sub)}")
        return None
    if len(words) > 1:
        raise CommandError(f"I didn't understand “{escape(' '.join(words))}”. {usage_hint(sub)}")
    return _parse_day(words, sub)


def _parse_pause(tokens: list[Token]) -> Pause:
    return Pause(_parse_until(tokens, "pause", required=False))


def _parse_away(tokens: list[Token]) -> Away:
    if any(isinstance(token, UserMention) for token in tokens):
        raise CommandError(
            "`/circle away` is for yourself: each person marks themself away. " + usage_hint("away")
        )
    until = _parse_until(tokens, "away", required=True)
    assert until is not None
    return Away(until)


def _parse_skip(tokens: list[Token]) -> Skip:
    words = _words(tokens, "skip")
    if not words:
        raise CommandError(f"Say which date to skip. {usage_hint('skip')}")
    if len(words) > 1:
        raise CommandError(f"Skip one date at a time. {usage_hint('skip')}")
    return Skip(_parse_day(words, "skip"))


NUDGE_HELP = "`/circle set nudge 12h` (1h to 7d after a check-in) or `/circle set nudge off`"
PROMPTS_HELP = (
    "`/circle set prompts &lt;set&gt;` (the questions check-ins and debriefs ask; "
    "`/circle set prompts` lists the sets)"
)
SETTINGS_HELP = f"{NUDGE_HELP}; {PROMPTS_HELP}"
# A question set's name (prompts/questions.py checks the same shape when it reads the files).
_PROMPT_SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _parse_set(tokens: list[Token]) -> SetNudge | SetPrompts | ListPromptSets:
    words = _words(tokens, "set")
    if not words:
        raise CommandError(f"Say which setting to change. The settings are: {SETTINGS_HELP}.")
    setting = words[0].lower()
    if setting == "prompts":
        return _parse_set_prompts(words[1:])
    if setting != "nudge":
        raise CommandError(
            f"There is no setting called “{escape(words[0])}”. The settings are: {SETTINGS_HELP}."
        )
    if len(words) > 2:
        raise CommandError(
            f"`/circle set nudge` takes one value (got “{escape(' '.join(words[1:]))}”). "
            f"Use {NUDGE_HELP}."
        )
    try:
        value = timeparse.parse_nudge(words[1] if len(words) == 2 else "")
    except timeparse.ParseError as error:
        raise _parse_error(error) from None
    return SetNudge(None if value is None else int(value.total_seconds()) // 60)


def _parse_set_prompts(words: list[str]) -> SetPrompts | ListPromptSets:
    if not words:
        return ListPromptSets()
    if len(words) > 1:
        raise CommandError(
            f"`/circle set prompts` takes one set name (got “{escape(' '.join(words))}”). "
            + usage_hint("set prompts")
        )
    name = words[0].lower()
    if not _PROMPT_SET_NAME.match(name):
        raise CommandError(
            f"“{escape(words[0])}” is not a question set name: names are lower-case letters, "
            "digits, - and _. `/circle set prompts` lists the sets."
        )
    return SetPrompts(name)


def _parse_send_now(kind: ScheduleKind) -> Callable[[list[Token]], SendNow]:
    sub = f"{kind.value} now"

    def parse_it(tokens: list[Token]) -> SendNow:
        words = _words(tokens, sub)
        if [w.lower() for w in words] != ["now"]:
            raise CommandError(
                f"To send a {kind.value} right away use `/circle {sub}`; to send them every "
                f"week use `/circle schedule {kind.value} mon 09:00`."
            )
        return SendNow(kind)

    return parse_it


def _parse_digest(tokens: list[Token]) -> DigestPreview | DigestSend:
    words = [_display(token).lower() for token in tokens]
    if words == ["preview"]:
        return DigestPreview()
    if words == ["send"]:
        return DigestSend()
    raise CommandError(
        "Use `/circle digest preview` to see this week's digest so far, or `/circle digest send` "
        "to send it now. To change when it goes out: `/circle schedule digest mon 08:00`."
    )


def _no_arguments_then(sub: str, command: Command) -> Callable[[list[Token]], Command]:
    def parse_it(tokens: list[Token]) -> Command:
        _no_arguments(tokens, sub)
        return command

    return parse_it


_RHYTHM_PARSERS: dict[str, Callable[[list[Token]], Command]] = {
    "schedule": _parse_schedule,
    "schedules": _no_arguments_then("schedules", ListSchedules()),
    "unschedule": lambda tokens: Unschedule(
        _parse_id(tokens, "unschedule", "schedule", "/circle schedules")
    ),
    "demoday": _parse_demoday,
    "demodays": _no_arguments_then("demodays", ListDemoDays()),
    "pause": _parse_pause,
    "resume": _no_arguments_then("resume", Resume()),
    "skip": _parse_skip,
    "away": _parse_away,
    "back": _no_arguments_then("back", Back()),
    "set": _parse_set,
    "checkin": _parse_send_now(ScheduleKind.CHECKIN),
    "debrief": _parse_send_now(ScheduleKind.DEBRIEF),
    "status": _no_arguments_then("status", Status()),
    "digest": _parse_digest,
}


_DATA_RIGHTS_PARSERS: dict[str, Callable[[list[Token]], Command]] = {
    "my-data": _no_arguments_then("my-data", MyData()),
    "mydata": _no_arguments_then("my-data", MyData()),
    "forget-me": _no_arguments_then("forget-me", ForgetMe()),
    "forgetme": _no_arguments_then("forget-me", ForgetMe()),
    "export": _no_arguments_then("export", Export()),
}


# --- pairing parsers ---------------------------------------------------------------------------


def _parse_team(tokens: list[Token]) -> SetTeam:
    if not tokens or not isinstance(tokens[0], UserMention):
        raise CommandError(f"Mention the person whose team to set first. {usage_hint('team')}")
    person, rest = tokens[0], tokens[1:]
    for token in rest:
        if not isinstance(token, Word):
            raise CommandError(
                f"{escape(_display(token))} can't be part of a team name: set one person's "
                f"team at a time. {usage_hint('team')}"
            )
    team = " ".join(token.text for token in rest if isinstance(token, Word)).strip()
    if len(team) > MAX_TEAM_NAME:
        raise CommandError(
            f"That team name is {len(team)} characters; the limit is {MAX_TEAM_NAME}. "
            + usage_hint("team")
        )
    return SetTeam(person.user_id, team or None)


_PAIRING_PARSERS: dict[str, Callable[[list[Token]], Command]] = {
    "pair": lambda tokens: (
        PairMe()
        if [_display(t).lower() for t in tokens] == ["me"]
        else _no_arguments_then("pair", Pair())(tokens)
    ),
    "pairs": _no_arguments_then("pair", Pair()),
    "nopair": _no_arguments_then("nopair", NoPair()),
    "no-pair": _no_arguments_then("nopair", NoPair()),
    "pair-me": _no_arguments_then("pair-me", PairMe()),
    "pairme": _no_arguments_then("pair-me", PairMe()),
    "team": _parse_team,
}


_SUBCOMMAND_WORDS = frozenset(
    {
        "help",
        "?",
        "-h",
        "--help",
        "create",
        "rename",
        "add",
        "remove",
        "members",
        "archive",
        "learnings",
        "learning",
        *_RHYTHM_PARSERS,
        *_DATA_RIGHTS_PARSERS,
        *_PAIRING_PARSERS,
    }
)


def subcommand_word(text: str) -> str:
    """The subcommand `text` starts with, safe for a log: one of ours, never what was typed
    after it (a circle's name, a search, a team), nor an unknown first word."""
    head = (text or "").split(maxsplit=1)
    if not head:
        return "help"
    word = head[0].lower()
    return word if word in _SUBCOMMAND_WORDS else "(not a subcommand)"
