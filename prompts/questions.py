"""Question sets for check-ins and debriefs (prompts/questions/<name>.yml).

The schema is documented at the top of prompts/questions/default.yml. A set is validated in
full when it is loaded, so a mistake in a YAML file fails loudly (at start-up or in the tests)
instead of producing a broken modal in front of someone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

QUESTIONS_DIR = Path(__file__).parent / "questions"

SCHEMA_VERSION = 1
KINDS_OF_SET = ("checkin", "debrief")
# Kinds that take free text, so need a max_length. An action item is a text ("one thing I'll
# do next") plus a due date, and becomes an ActionItem that later check-ins follow up.
TEXT_KINDS = frozenset({"short_text", "long_text", "action_item"})
QUESTION_KINDS = TEXT_KINDS | {"scale", "choice", "date", "user"}
SCALE_MIN, SCALE_MAX = 1, 5
MAX_OPTIONS = 10
MAX_OPTION_CHARS = 75
MAX_QUESTIONS = 10
MAX_ID_CHARS = 40
MAX_LABEL_CHARS = 150
MAX_TEXT_LENGTH = 3000  # Slack's plain_text_input max_length

_SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS = frozenset({"id", "label", "kind", "required", "max_length", "hint", "options"})


class QuestionSetError(ValueError):
    """A question set is missing or does not follow the schema."""


@dataclass(frozen=True)
class Question:
    id: str
    label: str
    kind: str  # short_text | long_text | action_item | scale | choice | date | user
    required: bool
    max_length: int | None  # only for the TEXT_KINDS
    hint: str | None = None
    options: tuple[str, ...] = ()  # only for choice: the labels people pick from


@dataclass(frozen=True)
class QuestionSet:
    name: str
    checkin: tuple[Question, ...]
    debrief: tuple[Question, ...]

    def for_kind(self, kind: str) -> tuple[Question, ...]:
        if kind == "checkin":
            return self.checkin
        if kind == "debrief":
            return self.debrief
        raise ValueError(f"no questions for {kind!r}: expected one of {KINDS_OF_SET}")


@cache
def load_question_set(name: str = "default") -> QuestionSet:
    """The validated question set `prompts/questions/<name>.yml` (cached)."""
    if not _SET_NAME.match(name):
        raise QuestionSetError(f"not a question set name: {name!r}")
    path = QUESTIONS_DIR / f"{name}.yml"
    if not path.is_file():
        raise QuestionSetError(f"no question set {name!r} (expected {path})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_question_set(name, data)


def parse_question_set(name: str, data: Any) -> QuestionSet:
    where = f"question set {name!r}"
    if not isinstance(data, dict):
        raise QuestionSetError(f"{where}: expected a mapping at the top level")
    if data.get("version") != SCHEMA_VERSION:
        raise QuestionSetError(f"{where}: version must be {SCHEMA_VERSION}")
    unknown = set(data) - {"version", *KINDS_OF_SET}
    if unknown:
        raise QuestionSetError(f"{where}: unknown keys {sorted(unknown)}")
    lists = {kind: _parse_list(f"{where}, {kind}", data.get(kind)) for kind in KINDS_OF_SET}
    return QuestionSet(name=name, checkin=lists["checkin"], debrief=lists["debrief"])


def _parse_list(where: str, items: Any) -> tuple[Question, ...]:
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUESTIONS:
        raise QuestionSetError(f"{where}: expected a list of 1 to {MAX_QUESTIONS} questions")
    questions = tuple(_parse_question(f"{where} #{i + 1}", item) for i, item in enumerate(items))
    ids = [q.id for q in questions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise QuestionSetError(f"{where}: duplicate ids {duplicates}")
    return questions


def _parse_question(where: str, item: Any) -> Question:
    if not isinstance(item, dict):
        raise QuestionSetError(f"{where}: expected a mapping")
    missing = {"id", "label", "kind", "required", "max_length"} - set(item)
    if missing:
        raise QuestionSetError(f"{where}: missing {sorted(missing)}")
    unknown = set(item) - _KEYS
    if unknown:
        raise QuestionSetError(f"{where}: unknown keys {sorted(unknown)}")
    qid, label, kind = item["id"], item["label"], item["kind"]
    required, max_length, hint = item["required"], item["max_length"], item.get("hint")
    if not (isinstance(qid, str) and len(qid) <= MAX_ID_CHARS and _QUESTION_ID.match(qid)):
        raise QuestionSetError(f"{where}: id must be snake_case, at most {MAX_ID_CHARS} chars")
    if not (isinstance(label, str) and label.strip() and len(label) <= MAX_LABEL_CHARS):
        raise QuestionSetError(f"{where}: label must be text of 1 to {MAX_LABEL_CHARS} chars")
    if kind not in QUESTION_KINDS:
        raise QuestionSetError(f"{where}: kind must be one of {sorted(QUESTION_KINDS)}")
    if not isinstance(required, bool):
        raise QuestionSetError(f"{where}: required must be true or false")
    if kind in TEXT_KINDS:
        if not (
            isinstance(max_length, int)
            and not isinstance(max_length, bool)
            and 1 <= max_length <= MAX_TEXT_LENGTH
        ):
            raise QuestionSetError(f"{where}: max_length must be 1 to {MAX_TEXT_LENGTH}")
    elif max_length is not None:
        raise QuestionSetError(f"{where}: max_length must be null for kind {kind}")
    if hint is not None and not (isinstance(hint, str) and len(hint) <= MAX_LABEL_CHARS):
        raise QuestionSetError(f"{where}: hint must be text of at most {MAX_LABEL_CHARS} chars")
    options = item.get("options")
    if kind == "choice":
        if not (
            isinstance(options, list)
            and 2 <= len(options) <= MAX_OPTIONS
            and all(isinstance(o, str) and o.strip() for o in options)
            and all(len(o) <= MAX_OPTION_CHARS for o in options)
            and len({o.strip() for o in options}) == len(options)
        ):
            raise QuestionSetError(
                f"{where}: options must be a list of 2 to {MAX_OPTIONS} different texts "
                f"of at most {MAX_OPTION_CHARS} chars"
            )
    elif options is not None:
        raise QuestionSetError(f"{where}: options are only for kind choice")
    return Question(
        id=qid,
        label=label.strip(),
        kind=kind,
        required=required,
        max_length=max_length,
        hint=hint.strip() if hint else None,
        options=tuple(o.strip() for o in options or ()) if kind == "choice" else (),
    )
