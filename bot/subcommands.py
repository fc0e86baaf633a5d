"""The one table of `/circle` subcommands, and how a command finds its way through it.

Each subcommand is declared once, here: the words that start it and its parser (from
bot/slash/parse.py, pure), who may run it, its `/circle help` line, and the handler of each
typed command it parses to (in its feature: `bot/<feature>/commands.py`). Dispatch, `/circle
help`, the usage hint a refusal ends with and the authorisation matrix
(tests/reliability/test_authorisation_matrix.py) all read it. A new subcommand: its parser,
its handler in its feature, and one row below.

`start()` runs one invocation: parse, dispatch, and turn refusals (`CommandError`, `Refusal`)
into the answer, before or after the ack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.circles import commands as circles
from bot.circles.rules import Refusal
from bot.data_rights import commands as data_rights
from bot.digest import commands as digest
from bot.pairing import commands as pairing
from bot.reflections import learnings
from bot.rhythm import commands as rhythm
from bot.rhythm import now
from bot.slack.mrkdwn import escape
from bot.slash import parse
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import (
    Add,
    Archive,
    Away,
    Back,
    CancelDemoDay,
    Command,
    CommandError,
    Create,
    DigestPreview,
    DigestSend,
    Export,
    ForgetMe,
    Help,
    Learnings,
    ListDemoDays,
    ListPromptSets,
    ListSchedules,
    Members,
    MyData,
    NewDemoDay,
    NewSchedule,
    NoPair,
    Pair,
    PairMe,
    Pause,
    Remove,
    Rename,
    Resume,
    SendNow,
    SetNudge,
    SetPrompts,
    SetTeam,
    Skip,
    Status,
    Token,
    Unschedule,
    Word,
)
from prompts import render
from storage.models import ScheduleKind

Handler = Callable[[Any, Invocation, Deps], Outcome]
Parser = Callable[[list[Token]], Command]


class Who(StrEnum):
    """Who may run a subcommand (its handler checks it again, in its unit of work)."""

    ANYONE = "anyone"
    MEMBERS = "members"
    FACILITATORS = "facilitators"
    YOURSELF = "yourself"  # members, about themselves


@dataclass(frozen=True)
class Subcommand:
    name: str  # as `/circle help` shows it
    usage: str
    example: str
    summary: str
    who: Who
    handles: tuple[tuple[type, Handler], ...]  # each typed command it parses to, its handler
    words: tuple[str, ...] = ()  # the first words that start it ((): it shares another's)
    parse: Parser | None = None  # the tokens after the word -> a typed command


def help_command(command: Help, inv: Invocation, deps: Deps) -> Outcome:
    return Outcome(render("messages/help.md.j2", unknown=command.unknown, subcommands=SUBCOMMANDS))


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "help",
        usage="/circle help",
        example="/circle help",
        summary="show this list",
        who=Who.ANYONE,
        words=(
            "help",
            "?",
            "-h",
            "--help",
        ),
        parse=lambda _tokens: Help(),
        handles=((Help, help_command),),
    ),
    Subcommand(
        "create",
        usage="/circle create <name>",
        example="/circle create Product Leads",
        summary="start a circle in this channel; you become its facilitator",
        who=Who.ANYONE,
        words=("create",),
        parse=parse.parse_create,
        handles=((Create, circles.create),),
    ),
    Subcommand(
        "add",
        usage="/circle add @person … [as leader|facilitator]",
        example="/circle add @ana @ben  ·  /circle add @dana as leader",
        summary="add participants, or people with another role",
        who=Who.FACILITATORS,
        words=("add",),
        parse=parse.parse_add,
        handles=((Add, circles.add),),
    ),
    Subcommand(
        "remove",
        usage="/circle remove @person …",
        example="/circle remove @ben",
        summary="take people out of the circle",
        who=Who.FACILITATORS,
        words=("remove",),
        parse=parse.parse_remove,
        handles=((Remove, circles.remove),),
    ),
    Subcommand(
        "members",
        usage="/circle members",
        example="/circle members",
        summary="list the circle's people by role",
        who=Who.MEMBERS,
        words=("members",),
        parse=parse.no_arguments("members", Members),
        handles=((Members, circles.members),),
    ),
    Subcommand(
        "rename",
        usage="/circle rename <name>",
        example="/circle rename Product Leaders",
        summary="rename it",
        who=Who.FACILITATORS,
        words=("rename",),
        parse=parse.parse_rename,
        handles=((Rename, circles.rename),),
    ),
    Subcommand(
        "archive",
        usage="/circle archive",
        example="/circle archive",
        summary="stop all activity (the data is kept)",
        who=Who.FACILITATORS,
        words=("archive",),
        parse=parse.no_arguments("archive", Archive),
        handles=((Archive, circles.archive),),
    ),
    Subcommand(
        "schedule",
        usage=(
            "/circle schedule checkin|debrief|digest|pairing <day> <time> [every N weeks] "
            "[tz:<zone>]"
        ),
        example=(
            "/circle schedule checkin mon 09:00  ·  /circle schedule debrief fri 16:00 every 2 "
            "weeks  ·  /circle schedule pairing mon 10:00 every 2 weeks"
        ),
        summary=(
            "send check-ins, debriefs or the leaders' digest, or form peer pairs, every week (or "
            "every N weeks)"
        ),
        who=Who.FACILITATORS,
        words=("schedule",),
        parse=parse.parse_schedule,
        handles=((NewSchedule, rhythm.new_schedule),),
    ),
    Subcommand(
        "schedules",
        usage="/circle schedules",
        example="/circle schedules",
        summary="list the schedules and their ids",
        who=Who.MEMBERS,
        words=("schedules",),
        parse=parse.no_arguments("schedules", ListSchedules),
        handles=((ListSchedules, rhythm.list_schedules),),
    ),
    Subcommand(
        "unschedule",
        usage="/circle unschedule <id>",
        example="/circle unschedule 3",
        summary="remove a schedule",
        who=Who.FACILITATORS,
        words=("unschedule",),
        parse=parse.parse_unschedule,
        handles=((Unschedule, rhythm.unschedule),),
    ),
    Subcommand(
        "demoday",
        usage="/circle demoday <YYYY-MM-DD> <time> <title> [remind:3d,2h]",
        example="/circle demoday 2026-12-10 15:00 Q4 demo day remind:3d,2h",
        summary="plan a demo day; the channel is reminded before it (default 7d, 1d and 1h)",
        who=Who.FACILITATORS,
        words=("demoday",),
        parse=parse.parse_demoday,
        handles=((NewDemoDay, rhythm.new_demo_day),),
    ),
    Subcommand(
        "demodays",
        usage="/circle demodays",
        example="/circle demodays",
        summary="list the upcoming demo days",
        who=Who.MEMBERS,
        words=("demodays",),
        parse=parse.no_arguments("demodays", ListDemoDays),
        handles=((ListDemoDays, rhythm.list_demo_days),),
    ),
    Subcommand(
        "demoday cancel",
        usage="/circle demoday cancel <id>",
        example="/circle demoday cancel 2",
        summary="cancel a demo day and tell the channel",
        who=Who.FACILITATORS,
        handles=((CancelDemoDay, rhythm.cancel_demo_day),),
    ),
    Subcommand(
        "pause",
        usage="/circle pause [until <YYYY-MM-DD>]",
        example="/circle pause until 2026-12-31  ·  /circle pause",
        summary="send nothing until that date (inclusive) or until `/circle resume`",
        who=Who.FACILITATORS,
        words=("pause",),
        parse=parse.parse_pause,
        handles=((Pause, rhythm.pause),),
    ),
    Subcommand(
        "resume",
        usage="/circle resume",
        example="/circle resume",
        summary="end a pause",
        who=Who.FACILITATORS,
        words=("resume",),
        parse=parse.no_arguments("resume", Resume),
        handles=((Resume, rhythm.resume),),
    ),
    Subcommand(
        "skip",
        usage="/circle skip <YYYY-MM-DD>",
        example="/circle skip 2026-12-24",
        summary="send nothing on one date",
        who=Who.FACILITATORS,
        words=("skip",),
        parse=parse.parse_skip,
        handles=((Skip, rhythm.skip),),
    ),
    Subcommand(
        "away",
        usage="/circle away until <YYYY-MM-DD>",
        example="/circle away until 2027-01-05",
        summary="get nothing yourself up to that date (inclusive)",
        who=Who.YOURSELF,
        words=("away",),
        parse=parse.parse_away,
        handles=((Away, rhythm.away),),
    ),
    Subcommand(
        "back",
        usage="/circle back",
        example="/circle back",
        summary="end your away time early",
        who=Who.YOURSELF,
        words=("back",),
        parse=parse.no_arguments("back", Back),
        handles=((Back, rhythm.back),),
    ),
    Subcommand(
        "set",
        usage="/circle set nudge <duration>|off",
        example="/circle set nudge 12h  ·  /circle set nudge off",
        summary="when to nudge people who haven't answered a check-in (default 24h)",
        who=Who.FACILITATORS,
        words=("set",),
        parse=parse.parse_set,
        handles=((SetNudge, rhythm.set_nudge),),
    ),
    Subcommand(
        "set prompts",
        usage="/circle set prompts [<set>]",
        example="/circle set prompts quick  ·  /circle set prompts",
        summary=(
            "choose the questions check-ins and debriefs ask; with no name, list the question sets"
        ),
        who=Who.FACILITATORS,
        handles=(
            (SetPrompts, rhythm.set_prompts),
            (ListPromptSets, rhythm.list_prompt_sets),
        ),
    ),
    Subcommand(
        "pair",
        usage="/circle pair",
        example="/circle pair",
        summary=(
            "form peer coaching pairs now (a trio if the count is odd); each group gets a group DM"
        ),
        who=Who.FACILITATORS,
        words=(
            "pair",
            "pairs",
        ),
        parse=parse.parse_pair,
        handles=((Pair, pairing.pair),),
    ),
    Subcommand(
        "nopair",
        usage="/circle nopair",
        example="/circle nopair",
        summary="leave yourself out of peer pairing (you're told at each round)",
        who=Who.YOURSELF,
        words=(
            "nopair",
            "no-pair",
        ),
        parse=parse.no_arguments("nopair", NoPair),
        handles=((NoPair, pairing.no_pair),),
    ),
    Subcommand(
        "pair-me",
        usage="/circle pair-me",
        example="/circle pair-me",
        summary="be paired again after nopair",
        who=Who.YOURSELF,
        words=(
            "pair-me",
            "pairme",
        ),
        parse=parse.no_arguments("pair-me", PairMe),
        handles=((PairMe, pairing.pair_me),),
    ),
    Subcommand(
        "team",
        usage="/circle team @person [<team>]",
        example="/circle team @ana Platform  ·  /circle team @ana",
        summary=(
            "set a person's team (pairing prefers other teams); with no team, use their Slack title"
        ),
        who=Who.FACILITATORS,
        words=("team",),
        parse=parse.parse_team,
        handles=((SetTeam, pairing.set_team),),
    ),
    Subcommand(
        "checkin now",
        usage="/circle checkin now",
        example="/circle checkin now",
        summary="send a check-in right away",
        who=Who.FACILITATORS,
        words=("checkin",),
        parse=parse.parse_send_now(ScheduleKind.CHECKIN),
        handles=((SendNow, now.send_now_command),),
    ),
    Subcommand(
        "debrief now",
        usage="/circle debrief now",
        example="/circle debrief now",
        summary="send a debrief right away",
        who=Who.FACILITATORS,
        words=("debrief",),
        parse=parse.parse_send_now(ScheduleKind.DEBRIEF),
        handles=((SendNow, now.send_now_command),),
    ),
    Subcommand(
        "status",
        usage="/circle status",
        example="/circle status",
        summary="see what was delivered this week",
        who=Who.FACILITATORS,
        words=("status",),
        parse=parse.no_arguments("status", Status),
        handles=((Status, now.status_command),),
    ),
    Subcommand(
        "digest preview",
        usage="/circle digest preview",
        example="/circle digest preview",
        summary=(
            "see what this week's digest says so far to leaders, the circle and facilitators (only "
            "you see it)"
        ),
        who=Who.FACILITATORS,
        words=("digest",),
        parse=parse.parse_digest,
        handles=((DigestPreview, digest.digest_preview),),
    ),
    Subcommand(
        "digest send",
        usage="/circle digest send",
        example="/circle digest send",
        summary=(
            "send this week's digest so far now, to the channel, the facilitators and the leaders"
        ),
        who=Who.FACILITATORS,
        handles=((DigestSend, digest.digest_send),),
    ),
    Subcommand(
        "learnings",
        usage="/circle learnings <words>",
        example="/circle learnings delegation feedback",
        summary="search the reflections you may read, in all your circles (works in any channel)",
        who=Who.ANYONE,
        words=(
            "learnings",
            "learning",
        ),
        parse=parse.parse_learnings,
        handles=((Learnings, learnings.search_command),),
    ),
    Subcommand(
        "my-data",
        usage="/circle my-data",
        example="/circle my-data",
        summary="get everything Circlebot holds about you, as a file in a direct message",
        who=Who.YOURSELF,
        words=(
            "my-data",
            "mydata",
        ),
        parse=parse.no_arguments("my-data", MyData),
        handles=((MyData, data_rights.my_data),),
    ),
    Subcommand(
        "forget-me",
        usage="/circle forget-me",
        example="/circle forget-me",
        summary="delete everything Circlebot holds about you (asks you to confirm first)",
        who=Who.YOURSELF,
        words=(
            "forget-me",
            "forgetme",
        ),
        parse=parse.no_arguments("forget-me", ForgetMe),
        handles=((ForgetMe, data_rights.forget_me),),
    ),
    Subcommand(
        "export",
        usage="/circle export",
        example="/circle export",
        summary=(
            "facilitators: get the circle's reflections you may read as a CSV file by direct "
            "message"
        ),
        who=Who.FACILITATORS,
        words=("export",),
        parse=parse.no_arguments("export", Export),
        handles=((Export, data_rights.export),),
    ),
)

BY_NAME = {sub.name: sub for sub in SUBCOMMANDS}
BY_WORD: dict[str, Subcommand] = {word: sub for sub in SUBCOMMANDS for word in sub.words}
HANDLERS: dict[type, Handler] = {
    kind: handle for sub in SUBCOMMANDS for kind, handle in sub.handles
}


def usage_hint(name: str) -> str:
    """ "Use `…`, e.g. `…`." with placeholders like <name> escaped, or Slack would parse them."""
    sub = BY_NAME[name]
    return f"Use `{escape(sub.usage)}`, e.g. `{escape(sub.example)}`."


def answer(error: CommandError | Refusal) -> str:
    """What a refusal says to the person: its message, and the form of the subcommand."""
    if isinstance(error, CommandError) and error.usage is not None:
        return f"{error.message} {usage_hint(error.usage)}{error.then}"
    return str(error)


def parse_text(text: str) -> Command:
    """`/circle` text -> a typed command, through the table's words; raises CommandError with
    its whole answer."""
    if "\x00" in (text or ""):  # no Slack client sends it, and PostgreSQL can't store it
        raise CommandError(
            "That command holds a NUL character, which I can't keep. Please type it again. "
            "`/circle help` lists the commands."
        )
    tokens = parse.tokenize(text or "")
    if not tokens:
        return Help()
    head, rest = tokens[0], tokens[1:]
    if not isinstance(head, Word):
        return Help(unknown=parse.display(head))
    sub = BY_WORD.get(head.text.lower())
    if sub is None or sub.parse is None:
        return Help(unknown=head.text)
    try:
        return sub.parse(rest)
    except CommandError as error:
        if error.usage is None:
            raise
        raise CommandError(answer(error)) from None


def subcommand_word(text: str) -> str:
    """The subcommand `text` starts with, safe for a log: one of ours, never what was typed
    after it (a circle's name, a search, a team), nor an unknown first word."""
    head = (text or "").split(maxsplit=1)
    if not head:
        return "help"
    word = head[0].lower()
    return word if word in BY_WORD else "(not a subcommand)"


def start(invocation: Invocation, deps: Deps) -> Outcome:
    """Parse and dispatch one `/circle`; a refusal is the answer, before or after the ack."""
    try:
        command = parse_text(invocation.text)
    except CommandError as error:
        return Outcome(answer(error))
    try:
        outcome = HANDLERS[type(command)](command, invocation, deps)
    except (CommandError, Refusal) as refusal:
        return Outcome(answer(refusal))
    if outcome.follow_up is not None:
        outcome.follow_up = _refusals_as_answers(outcome.follow_up)
    return outcome


def _refusals_as_answers(work: Callable[[], str | None]) -> Callable[[], str | None]:
    """A rule may still say no after the ack (e.g. the last facilitator); say it, don't crash."""

    def run() -> str | None:
        try:
            return work()
        except (CommandError, Refusal) as refusal:
            return answer(refusal)

    return run
