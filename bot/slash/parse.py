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
    """A refusal shown to the person, naming what was wrong and the correct form: `usage`
    names the subcommand whose form (its `/circle help` line, bot/subcommands.py) follows the
    message, then `then`."""

    def __init__(self, message: str, *, usage: str | None = None, then: str = "") -> None:
        super().__init__(message)
        self.message, self.usage, self.then = message, usage, then


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


def display(token: Token) -> str:
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


# --- rhythm: schedules, demo days, pauses (run by bot/rhythm/commands.py) -------------------


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
    """`checkin now` / `debrief now` (run by bot.rhythm.now)."""

    kind: ScheduleKind


@dataclass(frozen=True)
class Status:
    """`status` (run by bot.rhythm.now)."""


@dataclass(frozen=True)
class DigestPreview:
    """`digest preview` (run by bot.rhythm.now)."""


@dataclass(frozen=True)
class DigestSend:
    """`digest send` (run by bot.rhythm.now)."""


@dataclass(frozen=True)
class Learnings:
    """`learnings <words>` (run by bot.reflections.learnings, which reads the words out of
    `text`)."""

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


# --- people's rights over their data (run by bot/data_rights/) ------------------------------


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


# --- peer pairing (run by bot/pairing/rounds.py) -------------------------------------------


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


def _parse_name(tokens: list[Token], sub: str) -> str:
    name = " ".join(display(token) for token in tokens).strip()
    if not name:
        raise CommandError("The circle needs a name.", usage=sub)
    if len(name) > MAX_CIRCLE_NAME:
        raise CommandError(
            f"That name is {len(name)} characters; the limit is {MAX_CIRCLE_NAME}.", usage=sub
        )
    return name


def _no_arguments(tokens: list[Token], sub: str) -> None:
    if tokens:
        extra = escape(" ".join(display(t) for t in tokens))
        raise CommandError(f"`/circle {sub}` takes no arguments (got “{extra}”).", usage=sub)


_ROLE_WORDS = {
    "leader": Role.LEADER,
    "leaders": Role.LEADER,
    "sponsor": Role.LEADER,
    "facilitator": Role.FACILITATOR,
    "facilitators": Role.FACILITATOR,
    "participant": Role.PARTICIPANT,
    "participants": Role.PARTICIPANT,
}


def parse_add(tokens: list[Token]) -> Add:
    role = Role.PARTICIPANT
    for index, token in enumerate(tokens):
        if isinstance(token, Word) and token.text.lower() == "as":
            role_words = tokens[index + 1 :]
            if len(role_words) != 1 or not isinstance(role_words[0], Word):
                raise CommandError(
                    "After `as`, name one role: leader, facilitator or participant.", usage="add"
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
        raise CommandError("Mention at least one person.", usage=sub)
    people: dict[str, UserMention] = {}
    for token in tokens:
        if isinstance(token, UserMention):
            people.setdefault(token.user_id, token)
        elif isinstance(token, OtherMention):
            raise CommandError(
                f"{token.label} is not a person: mention people one by one.", usage=sub
            )
        elif token.text.startswith("@"):
            raise CommandError(
                f"I can't find a Slack user called {escape(token.text)}. Pick people from the "
                f"@ list so Slack links them.",
                usage=sub,
            )
        else:
            raise CommandError(f"“{escape(token.text)}” is not a mention of a person.", usage=sub)
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
                f"{escape(display(token))} has no place in `/circle {sub}`.", usage=sub
            )
    return [token.text for token in tokens if isinstance(token, Word)]


def _parse_error(error: timeparse.ParseError, sub: str | None = None) -> CommandError:
    """A parser's message (it may quote what was typed, so it is escaped), plus the form."""
    message = escape(str(error))
    return CommandError(message, usage=sub)


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


def parse_schedule(tokens: list[Token]) -> NewSchedule:
    words = _words(tokens, "schedule")
    if not words:
        raise CommandError(
            "Say what to schedule (checkin, debrief, digest or pairing), the day and the time.",
            usage="schedule",
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
        raise CommandError(f"Give the {what} id from `{lister}`.", usage=sub)
    if len(words) > 1:
        raise CommandError(f"Give one {what} id at a time.", usage=sub)
    text = words[0].removeprefix("#")
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise CommandError(
            f"“{escape(words[0])}” is not a {what} id: ids are the numbers `{lister}` shows.",
            usage=sub,
        )
    return int(text)


def parse_demoday(tokens: list[Token]) -> NewDemoDay | CancelDemoDay:
    if tokens and isinstance(tokens[0], Word) and tokens[0].text.lower() == "cancel":
        return CancelDemoDay(
            _parse_id(tokens[1:], "demoday cancel", "demo day", "/circle demodays")
        )
    if not tokens:
        raise CommandError(
            "Give the date, the time and a title.",
            usage="demoday",
            then=" To cancel one: `/circle demoday cancel &lt;id&gt;`.",
        )
    return NewDemoDay(tuple(display(token) for token in tokens))


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
            raise CommandError("The date after `until` is missing.", usage=sub)
    if not words:
        if required:
            raise CommandError("Say until when.", usage=sub)
        return None
    if len(words) > 1:
        raise CommandError(f"I didn't understand “{escape(' '.join(words))}”.", usage=sub)
    return _parse_day(words, sub)


def parse_pause(tokens: list[Token]) -> Pause:
    return Pause(_parse_until(tokens, "pause", required=False))


def parse_away(tokens: list[Token]) -> Away:
    if any(isinstance(token, UserMention) for token in tokens):
        raise CommandError(
            "`/circle away` is for yourself: each person marks themself away.", usage="away"
        )
    until = _parse_until(tokens, "away", required=True)
    assert until is not None
    return Away(until)


def parse_skip(tokens: list[Token]) -> Skip:
    words = _words(tokens, "skip")
    if not words:
        raise CommandError("Say which date to skip.", usage="skip")
    if len(words) > 1:
        raise CommandError("Skip one date at a time.", usage="skip")
    return Skip(_parse_day(words, "skip"))


NUDGE_HELP = "`/circle set nudge 12h` (1h to 7d after a check-in) or `/circle set nudge off`"
PROMPTS_HELP = (
    "`/circle set prompts &lt;set&gt;` (the questions check-ins and debriefs ask; "
    "`/circle set prompts` lists the sets)"
)
SETTINGS_HELP = f"{NUDGE_HELP}; {PROMPTS_HELP}"
# A question set's name (prompts/questions.py checks the same shape when it reads the files).
_PROMPT_SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def parse_set(tokens: list[Token]) -> SetNudge | SetPrompts | ListPromptSets:
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
            f"`/circle set prompts` takes one set name (got “{escape(' '.join(words))}”).",
            usage="set prompts",
        )
    name = words[0].lower()
    if not _PROMPT_SET_NAME.match(name):
        raise CommandError(
            f"“{escape(words[0])}” is not a question set name: names are lower-case letters, "
            "digits, - and _. `/circle set prompts` lists the sets."
        )
    return SetPrompts(name)


def parse_send_now(kind: ScheduleKind) -> Callable[[list[Token]], SendNow]:
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


def parse_digest(tokens: list[Token]) -> DigestPreview | DigestSend:
    words = [display(token).lower() for token in tokens]
    if words == ["preview"]:
        return DigestPreview()
    if words == ["send"]:
        return DigestSend()
    raise CommandError(
        "Use `/circle digest preview` to see this week's digest so far, or `/circle digest send` "
        "to send it now. To change when it goes out: `/circle schedule digest mon 08:00`."
    )


# --- pairing parsers ---------------------------------------------------------------------------


def parse_team(tokens: list[Token]) -> SetTeam:
    if not tokens or not isinstance(tokens[0], UserMention):
        raise CommandError("Mention the person whose team to set first.", usage="team")
    person, rest = tokens[0], tokens[1:]
    for token in rest:
        if not isinstance(token, Word):
            raise CommandError(
                f"{escape(display(token))} can't be part of a team name: set one person's "
                f"team at a time.",
                usage="team",
            )
    team = " ".join(token.text for token in rest if isinstance(token, Word)).strip()
    if len(team) > MAX_TEAM_NAME:
        raise CommandError(
            f"That team name is {len(team)} characters; the limit is {MAX_TEAM_NAME}.", usage="team"
        )
    return SetTeam(person.user_id, team or None)


def no_arguments(sub: str, command: Callable[[], Command]) -> Callable[[list[Token]], Command]:
    """The parser of a subcommand that takes nothing after its word."""

    def parse_it(tokens: list[Token]) -> Command:
        _no_arguments(tokens, sub)
        return command()

    return parse_it


def parse_create(tokens: list[Token]) -> Create:
    return Create(_parse_name(tokens, "create"))


def parse_rename(tokens: list[Token]) -> Rename:
    return Rename(_parse_name(tokens, "rename"))


def parse_remove(tokens: list[Token]) -> Remove:
    return Remove(_parse_people(tokens, "remove"))


def parse_unschedule(tokens: list[Token]) -> Unschedule:
    return Unschedule(_parse_id(tokens, "unschedule", "schedule", "/circle schedules"))


def parse_pair(tokens: list[Token]) -> Pair | PairMe:
    """`/circle pair`, or `/circle pair me` (as `pair-me`)."""
    if [display(t).lower() for t in tokens] == ["me"]:
        return PairMe()
    _no_arguments(tokens, "pair")
    return Pair()


def parse_learnings(tokens: list[Token]) -> Learnings:
    return Learnings(" ".join(display(token) for token in tokens))
