"""Parsing of `/circle` text into typed commands.

The manifest sets `should_escape: true`, so Slack sends mentions as `<@U123|ana>`, channels
as `<#C123|name>`, broadcasts as `<!here>` and escapes & < > in the rest of the text. Parsing is
pure: no Slack, no database. Every refusal is a `CommandError` whose message shows the
correct form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.mrkdwn import unescape
from storage.models import Role

MAX_CIRCLE_NAME = 80

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
)
SUBCOMMANDS_BY_NAME = {sub.name: sub for sub in SUBCOMMANDS}


def usage_hint(name: str) -> str:
    sub = SUBCOMMANDS_BY_NAME[name]
    return f"Use `{sub.usage}`, e.g. `{sub.example}`."


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


Command = Help | Create | Add | Remove | Members | Rename | Archive


def parse(text: str) -> Command:
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
        extra = " ".join(_display(t) for t in tokens)
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
                    f"“{role_words[0].text}” is not a role. Use leader, facilitator or "
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
                f"I can't find a Slack user called {token.text}. Pick people from the @ list "
                f"so Slack links them. {usage_hint(sub)}"
            )
        else:
            raise CommandError(f"“{token.text}” is not a mention of a person. {usage_hint(sub)}")
    return tuple(people.values())
