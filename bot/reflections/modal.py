"""The reflection modal: built from a circle's question set, and its submission read back.

Pure functions: no clock, database or Slack. `build_reflection_modal` turns questions into one
input block per question (an action item is two: its text and a due-date picker), then the
visibility choice and the "show my name" checkbox, then one "Did you do it?" question per
open action item. `parse_submission` reads `view.state.values` back and checks everything
again, because a forged payload can skip every limit Slack's client enforces: it returns the
answers, or field errors keyed by block id for `response_action: errors`.

Block ids: a question's block id and action id are its id (snake_case, so it never contains a
dot); the blocks the modal adds itself contain a dot, so they can never collide with a question.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.slack import block_kit, mrkdwn
from bot.slack.block_kit import Block
from prompts.questions import SCALE_MAX, SCALE_MIN, Question
from storage.models import Visibility

View = dict[str, Any]

CALLBACK_ID = "reflection_modal"
MAX_ID = 2**31 - 1  # ids are 32-bit; anything bigger was not made by us

DUE_SUFFIX = ".due"  # an action item's date picker: "<question id>.due"
DUE_ACTION = "due"
VISIBILITY_BLOCK = "meta.visibility"
VISIBILITY_ACTION = "visibility"
NAMED_BLOCK = "meta.named"
NAMED_ACTION = "named"
NAMED_VALUE = "named"
FOLLOW_UP_PREFIX = "follow_up."  # "follow_up.<action item id>"
FOLLOW_UP_ACTION = "answer"

# What each visibility means, in the words the modal and the saved message use.
VISIBILITY_LABELS: dict[str, str] = {
    Visibility.PRIVATE: "Only me",
    Visibility.CIRCLE: "My circle",
    Visibility.LEADERS: "My circle and the leaders' digest",
}
_VISIBILITY_DESCRIPTIONS: dict[str, str] = {
    Visibility.PRIVATE: "Nobody else reads it; it only counts in totals.",
    Visibility.CIRCLE: "The participants and facilitators of this circle.",
    Visibility.LEADERS: "Your circle, and it may be quoted in the digest leaders get.",
}
FOLLOW_UP_CHOICES = (("done", "Done"), ("not_yet", "Not yet"), ("drop", "Drop"))

MAX_FOLLOW_UPS = 20  # keeps the modal well within Slack's 100 blocks
MAX_LABEL_CHARS = 2000  # Slack's input label limit
_TITLES = {"checkin": "Your check-in", "debrief": "Your debrief"}
_SCALE_VALUES = frozenset(str(n) for n in range(SCALE_MIN, SCALE_MAX + 1))
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,31}$")

# Field errors (plain text, shown under the field).
NEEDS_ANSWER = "Please answer this question."
PICK_SCALE = f"Pick a number from {SCALE_MIN} to {SCALE_MAX}."
PICK_OPTION = "Pick one of the options listed."
PICK_DATE = "Pick a date from the calendar."
PICK_PERSON = "Pick a person from the list."
PICK_VISIBILITY = "Choose who can read this."
PICK_FOLLOW_UP = "Choose Done, Not yet or Drop."
NO_NUL = "Remove the invisible NUL character from this text."
DATE_WITHOUT_TEXT = "Write what you'll do by this date, or clear the date."
DUE_PASSED = "{day} has passed where you are. Pick today or a later date."


def too_long(length: int, limit: int) -> str:
    over = length - limit
    return (
        f"This is {over} character{'' if over == 1 else 's'} too long: "
        f"keep it to {limit} or fewer (it has {length})."
    )


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class ModalMetadata:
    """What the modal is for, carried in private_metadata (which the client can tamper with).

    Exactly one of `delivery_id` (a new reflection for that check-in) and `reflection_id`
    (an edit) is set. `follow_up_ids` are the action items the modal asks about.
    """

    circle_id: int
    prompt_set: str
    delivery_id: int | None = None
    reflection_id: int | None = None
    follow_up_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if (self.delivery_id is None) == (self.reflection_id is None):
            raise ValueError("exactly one of delivery_id and reflection_id")

    def encode(self) -> str:
        data: dict[str, Any] = {"circle_id": self.circle_id, "prompt_set": self.prompt_set}
        if self.delivery_id is not None:
            data["delivery_id"] = self.delivery_id
        if self.reflection_id is not None:
            data["reflection_id"] = self.reflection_id
        if self.follow_up_ids:
            data["follow_up"] = list(self.follow_up_ids)
        return json.dumps(data, separators=(",", ":"))


def decode_metadata(raw: Any) -> ModalMetadata | None:
    """The metadata the modal was opened with, or None when it is not something we wrote."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    circle_id = _id(data.get("circle_id"))
    prompt_set = data.get("prompt_set")
    delivery_id = _id(data["delivery_id"]) if "delivery_id" in data else None
    reflection_id = _id(data["reflection_id"]) if "reflection_id" in data else None
    follow_up = data.get("follow_up", [])
    if (
        circle_id is None
        or not isinstance(prompt_set, str)
        or not 0 < len(prompt_set) <= 40
        or ("delivery_id" in data) == ("reflection_id" in data)
        or (delivery_id is None and reflection_id is None)
        or not isinstance(follow_up, list)
        or len(follow_up) > MAX_FOLLOW_UPS
    ):
        return None
    follow_up_ids = tuple(_id(item) for item in follow_up)
    if any(item is None for item in follow_up_ids) or len(set(follow_up_ids)) != len(follow_up):
        return None
    return ModalMetadata(
        circle_id=circle_id,
        prompt_set=prompt_set,
        delivery_id=delivery_id,
        reflection_id=reflection_id,
        follow_up_ids=tuple(i for i in follow_up_ids if i is not None),
    )


def _id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    """One non-empty answer. `text` holds text, an ISO date, a user id or the chosen option;
    `number` a scale; `due_date` an action item's date."""

    question_id: str
    kind: str
    text: str | None = None
    number: int | None = None
    due_date: date | None = None


@dataclass(frozen=True)
class Prefill:
    """What the modal shows when it edits a reflection."""

    answers: dict[str, Answer] = field(default_factory=dict)
    visibility: str = Visibility.CIRCLE
    named: bool = False


@dataclass(frozen=True)
class FollowUp:
    """An open action item the modal asks about."""

    item_id: int
    text: str
    due_date: date | None


@dataclass(frozen=True)
class ParsedReflection:
    answers: tuple[Answer, ...]  # the non-empty ones, in question order
    visibility: Visibility
    named: bool
    follow_ups: dict[int, str]  # action item id -> done | not_yet | drop


@dataclass(frozen=True)
class ParseResult:
    reflection: ParsedReflection | None
    errors: dict[str, str]  # block id -> message; empty when `reflection` is set


# --------------------------------------------------------------------------- building


def build_reflection_modal(
    *,
    kind: str,
    circle_name: str,
    week_start: date,
    questions: tuple[Question, ...],
    metadata: ModalMetadata,
    follow_ups: list[FollowUp] | tuple[FollowUp, ...] = (),
    hidden_follow_ups: int = 0,
    prefill: Prefill | None = None,
    initial_peer: str | None = None,
) -> View:
    """The modal for a check-in or debrief (an edit when `prefill` is given).

    `initial_peer` prefills a debrief's `user` question with the current peer (the person's
    pairing partner, bot/pairing_commands.debrief_peer); an answer already given wins.
    """
    if kind not in _TITLES:
        raise ValueError(f"kind must be one of {sorted(_TITLES)}, not {kind!r}")
    editing = prefill is not None
    answers = prefill.answers if prefill else {}
    intro = f"*{mrkdwn.escape(circle_name)}* · the week of {_day(week_start)}\n" + (
        "You're editing what you wrote. Saving replaces it."
        if editing
        else "Write as much or as little as helps you."
    )
    blocks: list[Block] = [block_kit.section(intro)]
    for question in questions:
        peer = initial_peer if question.kind == "user" and kind == "debrief" else None
        blocks.extend(_question_blocks(question, answers.get(question.id), peer))
    blocks.append({"type": "divider"})
    blocks.append(_visibility_block(prefill.visibility if prefill else Visibility.CIRCLE))
    blocks.append(_named_block(prefill.named if prefill else False))
    if follow_ups:
        blocks.append({"type": "divider"})
        blocks.append(block_kit.section("*Your open action items in this circle*"))
        blocks.extend(_follow_up_block(item) for item in follow_ups[:MAX_FOLLOW_UPS])
        hidden_follow_ups += max(0, len(follow_ups) - MAX_FOLLOW_UPS)
    if hidden_follow_ups > 0:
        blocks.append(block_kit.context(f"…and {hidden_follow_ups} more on your App Home."))
    title = _TITLES[kind]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": metadata.encode(),
        "title": block_kit.plain(f"Edit {title.lower()}" if editing else title),
        "submit": block_kit.plain("Save"),
        "close": block_kit.plain("Cancel"),
        "blocks": blocks,
    }


def first_input_block_id(questions: tuple[Question, ...]) -> str:
    """Where an error about the whole form goes (Slack shows errors under input blocks only)."""
    return questions[0].id if questions else VISIBILITY_BLOCK


def _question_blocks(question: Question, answer: Answer | None, peer: str | None) -> list[Block]:
    element: Block
    kind = question.kind
    if kind in ("short_text", "long_text", "action_item"):
        element = {"type": "plain_text_input", "action_id": question.id}
        if kind == "long_text":
            element["multiline"] = True
        if question.max_length is not None:
            element["max_length"] = question.max_length
        if answer is not None and answer.text:
            element["initial_value"] = answer.text
    elif kind == "scale":
        element = _radio(question.id, [(str(n), str(n)) for n in range(SCALE_MIN, SCALE_MAX + 1)])
        if answer is not None and answer.number is not None:
            element["initial_option"] = _option(str(answer.number), str(answer.number))
    elif kind == "choice":
        element = _radio(question.id, [(option, option) for option in question.options])
        if answer is not None and answer.text in question.options:
            element["initial_option"] = _option(answer.text, answer.text)
    elif kind == "date":
        element = {"type": "datepicker", "action_id": question.id}
        if answer is not None and answer.text:
            element["initial_date"] = answer.text
    elif kind == "user":
        element = {"type": "users_select", "action_id": question.id}
        initial = answer.text if answer is not None and answer.text else peer
        if initial:
            element["initial_user"] = initial
    else:
        raise ValueError(f"unknown question kind {kind!r}")
    block: Block = {
        "type": "input",
        "block_id": question.id,
        "label": block_kit.plain(question.label),
        "element": element,
        "optional": not question.required,
    }
    if question.hint:
        block["hint"] = block_kit.plain(question.hint)
    if kind != "action_item":
        return [block]
    due: Block = {"type": "datepicker", "action_id": DUE_ACTION}
    if answer is not None and answer.due_date is not None:
        due["initial_date"] = answer.due_date.isoformat()
    return [
        block,
        {
            "type": "input",
            "block_id": question.id + DUE_SUFFIX,
            "label": block_kit.plain("By when?"),
            "element": due,
            "optional": True,
        },
    ]


def _visibility_block(initial: str) -> Block:
    options = [
        {
            **_option(VISIBILITY_LABELS[v], v),
            "description": block_kit.plain(_VISIBILITY_DESCRIPTIONS[v]),
        }
        for v in Visibility
    ]
    chosen = next((o for o in options if o["value"] == initial), options[1])
    return {
        "type": "input",
        "block_id": VISIBILITY_BLOCK,
        "label": block_kit.plain("Who can read this?"),
        "element": {
            "type": "radio_buttons",
            "action_id": VISIBILITY_ACTION,
            "options": options,
            "initial_option": chosen,
        },
    }


def _named_block(named: bool) -> Block:
    option = {
        **_option("Show my name when this is quoted", NAMED_VALUE),
        "description": block_kit.plain("Otherwise quotes from it are anonymous."),
    }
    element: Block = {"type": "checkboxes", "action_id": NAMED_ACTION, "options": [option]}
    if named:
        element["initial_options"] = [option]
    return {
        "type": "input",
        "block_id": NAMED_BLOCK,
        "label": block_kit.plain("Your name"),
        "element": element,
        "optional": True,
    }


def _follow_up_block(item: FollowUp) -> Block:
    # plain_text: Slack shows it literally, so the person's words need no mrkdwn escaping.
    label = block_kit.clip(f"Did you do it? {' '.join(item.text.split())}", MAX_LABEL_CHARS)
    block: Block = {
        "type": "input",
        "block_id": f"{FOLLOW_UP_PREFIX}{item.item_id}",
        "label": block_kit.plain(label),
        "element": _radio(FOLLOW_UP_ACTION, [(text, value) for value, text in FOLLOW_UP_CHOICES]),
        "optional": True,
    }
    if item.due_date is not None:
        block["hint"] = block_kit.plain(f"You planned it for {_day(item.due_date)}.")
    return block


def _radio(action_id: str, options: list[tuple[str, str]]) -> Block:
    return {
        "type": "radio_buttons",
        "action_id": action_id,
        "options": [_option(text, value) for text, value in options],
    }


def _option(text: str, value: str) -> Block:
    return {"text": block_kit.plain(text), "value": value}


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


# --------------------------------------------------------------------------- parsing


def parse_submission(
    values: Any,
    *,
    questions: tuple[Question, ...],
    follow_up_ids: tuple[int, ...] = (),
    today: date,
    kept_due_dates: dict[str, date] | None = None,
) -> ParseResult:
    """Read and check `view.state.values`; never raises on malformed input.

    `today` is the author's local date: an action item may not be due before it, except for
    a date the reflection already had (`kept_due_dates`, by question id), so editing an old
    reflection does not force a new date.
    """
    values = values if isinstance(values, dict) else {}
    kept = kept_due_dates or {}
    errors: dict[str, str] = {}
    answers: list[Answer] = []
    for question in questions:
        answer = _parse_question(values, question, today, kept.get(question.id), errors)
        if answer is not None:
            answers.append(answer)
    visibility = _selected_value(values, VISIBILITY_BLOCK, VISIBILITY_ACTION)
    if visibility not in VISIBILITY_LABELS:
        errors[VISIBILITY_BLOCK] = PICK_VISIBILITY
    named_options = _element(values, NAMED_BLOCK, NAMED_ACTION).get("selected_options")
    named = isinstance(named_options, list) and any(
        isinstance(o, dict) and o.get("value") == NAMED_VALUE for o in named_options
    )
    follow_ups: dict[int, str] = {}
    allowed = {value for value, _text in FOLLOW_UP_CHOICES}
    for item_id in follow_up_ids:
        block_id = f"{FOLLOW_UP_PREFIX}{item_id}"
        choice = _selected_value(values, block_id, FOLLOW_UP_ACTION)
        if choice is None:
            continue  # optional: not answered this time
        if choice not in allowed:
            errors[block_id] = PICK_FOLLOW_UP
        else:
            follow_ups[item_id] = choice
    if errors or visibility is None:
        return ParseResult(None, errors)
    parsed = ParsedReflection(
        answers=tuple(answers),
        visibility=Visibility(visibility),
        named=named,
        follow_ups=follow_ups,
    )
    return ParseResult(parsed, {})


def _parse_question(
    values: dict[str, Any],
    question: Question,
    today: date,
    kept_due: date | None,
    errors: dict[str, str],
) -> Answer | None:
    """The question's answer (None when empty), recording any error under its block."""
    qid, kind = question.id, question.kind
    element = _element(values, qid, qid)
    if kind in ("short_text", "long_text", "action_item"):
        raw = element.get("value")
        text = raw.strip() if isinstance(raw, str) else ""
        due: date | None = None
        if kind == "action_item":
            due_block = qid + DUE_SUFFIX
            raw_due = _element(values, due_block, DUE_ACTION).get("selected_date")
            if raw_due is not None:
                due = _iso_date(raw_due)
                if due is None:
                    errors[due_block] = PICK_DATE
                elif due < today and due != kept_due:
                    errors[due_block] = DUE_PASSED.format(day=_day(due))
            if due is not None and not text:
                errors[qid] = DATE_WITHOUT_TEXT
                return None
        if not text:
            if question.required:
                errors[qid] = NEEDS_ANSWER
            return None
        if "\x00" in text:  # no client sends it, and PostgreSQL cannot store it in text
            errors[qid] = NO_NUL
            return None
        if question.max_length is not None and len(text) > question.max_length:
            errors[qid] = too_long(len(text), question.max_length)
            return None
        return Answer(qid, kind, text=text, due_date=due)
    if kind == "scale":
        raw = _selected_value(values, qid, qid)
        if raw is None:
            return _missing(question, errors)
        if raw not in _SCALE_VALUES:  # exactly the values we offered ("٣".isdigit() is True)
            errors[qid] = PICK_SCALE
            return None
        return Answer(qid, kind, number=int(raw))
    if kind == "choice":
        raw = _selected_value(values, qid, qid)
        if raw is None:
            return _missing(question, errors)
        if raw not in question.options:
            errors[qid] = PICK_OPTION
            return None
        return Answer(qid, kind, text=raw)
    if kind == "date":
        raw_date = element.get("selected_date")
        if raw_date is None:
            return _missing(question, errors)
        day = _iso_date(raw_date)
        if day is None:
            errors[qid] = PICK_DATE
            return None
        return Answer(qid, kind, text=day.isoformat())
    if kind == "user":
        user = element.get("selected_user")
        if user is None:
            return _missing(question, errors)
        if not (isinstance(user, str) and _SLACK_USER.match(user)):
            errors[qid] = PICK_PERSON
            return None
        return Answer(qid, kind, text=user)
    raise ValueError(f"unknown question kind {kind!r}")


def _missing(question: Question, errors: dict[str, str]) -> Answer | None:
    """No answer: an error if the question is required, else simply nothing."""
    if question.required:
        errors[question.id] = NEEDS_ANSWER
    return None


def _element(values: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    block = values.get(block_id)
    element = block.get(action_id) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


def _selected_value(values: dict[str, Any], block_id: str, action_id: str) -> str | None:
    """A radio button's value: None when nothing was chosen, "" when it is not text."""
    option = _element(values, block_id, action_id).get("selected_option")
    if option is None:
        return None
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else ""


def _iso_date(raw: Any) -> date | None:
    if not isinstance(raw, str) or len(raw) != 10:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
