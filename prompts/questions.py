"""Question sets for check-ins and debriefs, as data.

The shipped sets are prompts/questions/<name>.yml; a directory named by PROMPTS_DIR adds
more, and a set there with the same name as a shipped one replaces it (so an organisation can
change `default` for every circle without code). The schema is documented at the top of
prompts/questions/default.yml.

Every set is read and validated once, by `configure()` at start-up, so a mistake in a YAML
file stops the bot with the file and the line of the offending entry (e.g.
`prompts/acme.yml line 14: checkin question 2 (id "stuck"): kind must be one of …`) instead of
producing a broken modal in front of someone. `load_question_set(name)` then reads from that
library; without `configure()` (scripts, unit tests) it uses the shipped sets.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

QUESTIONS_DIR = Path(__file__).parent / "questions"
SET_SUFFIX = ".yml"

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
_SET_KEYS = ("version", "description", *KINDS_OF_SET)
_REQUIRED_KEYS = ("id", "label", "kind", "required", "max_length")
_KEYS = (*_REQUIRED_KEYS, "hint", "options")

# Where an entry is inside a set: ("checkin", 1, "kind") is the kind of the second check-in
# question. Mapping keys are the text written in the file, list positions count from 0.
YamlPath = tuple[str | int, ...]


class QuestionSetError(ValueError):
    """A question set is missing or does not follow the schema (the message names file and line)."""


class _Problem(Exception):
    """A schema problem at a place in the set; turned into a QuestionSetError with its line."""

    def __init__(self, at: YamlPath, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


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
    description: str | None = None  # one line for `/circle set prompts`

    def for_kind(self, kind: str) -> tuple[Question, ...]:
        if kind == "checkin":
            return self.checkin
        if kind == "debrief":
            return self.debrief
        raise ValueError(f"no questions for {kind!r}: expected one of {KINDS_OF_SET}")


# --- the library: every set, read once ---------------------------------------------------------


@dataclass(frozen=True)
class QuestionLibrary:
    """The validated question sets by name, and the file each came from."""

    sets: Mapping[str, QuestionSet]
    sources: Mapping[str, Path]

    def names(self) -> list[str]:
        return sorted(self.sets)

    def __contains__(self, name: object) -> bool:
        return name in self.sets

    def get(self, name: str) -> QuestionSet:
        if not (isinstance(name, str) and _SET_NAME.match(name)):
            raise QuestionSetError(f"not a question set name: {name!r}")
        if name not in self.sets:
            raise QuestionSetError(
                f"no question set {name!r}; the sets are {', '.join(self.names())}"
            )
        return self.sets[name]


def load_library(prompts_dir: Path | None = None) -> QuestionLibrary:
    """Read and validate the shipped sets and those in `prompts_dir` (which win on a clash).

    Raises QuestionSetError for the first broken file (files in name order, shipped first).
    """
    sets: dict[str, QuestionSet] = {}
    sources: dict[str, Path] = {}
    directories = [QUESTIONS_DIR] if prompts_dir is None else [QUESTIONS_DIR, prompts_dir]
    for directory in directories:
        for path in _set_files(directory):
            question_set = read_question_set(path)
            if question_set.name in sources:
                logger.info(
                    "question set %r from %s replaces the shipped one", question_set.name, path
                )
            sets[question_set.name] = question_set
            sources[question_set.name] = path
    if "default" not in sets:  # pragma: no cover - the package ships it
        raise QuestionSetError(f"{QUESTIONS_DIR / 'default.yml'}: the default set is missing")
    return QuestionLibrary(sets=sets, sources=sources)


def _set_files(directory: Path) -> list[Path]:
    """The *.yml files of a directory; a look-alike that would be ignored is refused instead."""
    try:
        entries = sorted(directory.iterdir())
    except OSError as error:
        raise QuestionSetError(
            f"{directory}: cannot list the question sets ({error.strerror})"
        ) from None
    files = []
    for path in entries:
        if path.name.startswith(".") or not path.is_file():
            continue  # editor and version-control leftovers
        if path.suffix.lower() in (".yaml", ".yml") and path.suffix != SET_SUFFIX:
            raise QuestionSetError(
                f"{path}: question sets are read from *{SET_SUFFIX} files; "
                f"rename it to {path.stem}{SET_SUFFIX}"
            )
        if path.suffix != SET_SUFFIX:
            continue
        if not _SET_NAME.match(path.stem):
            raise QuestionSetError(
                f"{path}: the file name is the set's name, so it must be lower-case letters, "
                "digits, - or _ (at most 40, starting with a letter or digit), e.g. acme.yml"
            )
        files.append(path)
    return files


_library: QuestionLibrary | None = None
_library_lock = threading.Lock()


def configure(prompts_dir: Path | None) -> QuestionLibrary:
    """Read and validate every set (shipped, plus `prompts_dir`); used from now on.

    Called at start-up (bootstrap, `circlebot migrate`) so one broken set refuses start-up.
    On error the previous library stays in use.
    """
    global _library
    loaded = load_library(prompts_dir)
    with _library_lock:
        _library = loaded
    added = [name for name, path in loaded.sources.items() if path.parent != QUESTIONS_DIR]
    logger.debug(
        "question sets: %s (from PROMPTS_DIR: %s)",
        ", ".join(loaded.names()),
        ", ".join(sorted(added)) or "none",
    )
    return loaded


def library() -> QuestionLibrary:
    """The configured library, or the shipped sets when `configure()` was never called."""
    global _library
    with _library_lock:
        if _library is None:
            _library = load_library(None)
        return _library


def reset() -> None:
    """Forget the configured library (tests): the next use reads the shipped sets again."""
    global _library
    with _library_lock:
        _library = None


def load_question_set(name: str = "default") -> QuestionSet:
    """The validated question set called `name`, from the library."""
    return library().get(name)


def question_set_or_default(name: str) -> QuestionSet:
    """The set called `name`, or `default` when it is gone (PROMPTS_DIR changed since a
    facilitator chose it): a check-in still goes out and can be answered, and the log says why.
    """
    try:
        return load_question_set(name)
    except QuestionSetError:
        logger.warning("question set %r is not available; using 'default'", name)
        return load_question_set("default")


# --- reading one file --------------------------------------------------------------------------


def read_question_set(path: Path) -> QuestionSet:
    """Read and validate `path`; the set's name is the file name without `.yml`."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise QuestionSetError(f"{source}: cannot read it ({error.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise QuestionSetError(f"{source} line {line}: not UTF-8 text") from None
    data, lines = _compose(text, source)
    return parse_question_set(path.stem, data, source=source, lines=lines)


def _compose(text: str, source: str) -> tuple[Any, dict[YamlPath, int]]:
    """The YAML document as Python values, and the line of every key and list item."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = error.problem or error.context or "syntax error"
        raise QuestionSetError(f"{source} line {line}: not valid YAML: {problem}") from None
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        raise QuestionSetError(f"{source} line {line}: not valid YAML: {error.reason}") from None
    lines: dict[YamlPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines, source)
    return data, lines


_MAX_DEPTH = 8  # the schema nests 4 deep; anchors could otherwise make the walk recurse


def _record_lines(node: yaml.Node, at: YamlPath, lines: dict[YamlPath, int], source: str) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if len(at) >= _MAX_DEPTH:
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            if key in seen and key != "<<":
                # PyYAML would silently keep the last one; say so instead.
                raise QuestionSetError(
                    f"{source} line {key_node.start_mark.line + 1}: "
                    f"{_describe((*at, key))}the key {key!r} appears twice"
                )
            seen.add(key)
            lines[(*at, key)] = key_node.start_mark.line + 1
            _record_lines(value_node, (*at, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*at, index), lines, source)


def _line_of(at: YamlPath, lines: Mapping[YamlPath, int]) -> int | None:
    """The line of the entry at `at`, or of the closest enclosing entry the file has."""
    for end in range(len(at), -1, -1):
        prefix = tuple(p if isinstance(p, int) else str(p) for p in at[:end])
        if prefix in lines:
            return lines[prefix]
    return None


def _describe(at: YamlPath, data: Any = None) -> str:
    """'checkin question 2 (id "stuck"): ' for a place inside a question, '' at the top."""
    if not at or at[0] not in KINDS_OF_SET:
        return ""
    if len(at) == 1 or not isinstance(at[1], int):
        return f"{at[0]}: "
    question: Any = None
    if isinstance(data, dict) and isinstance(data.get(at[0]), list):
        question = data[at[0]][at[1]]
    qid = question.get("id") if isinstance(question, dict) else None
    named = f' (id "{qid}")' if isinstance(qid, str) and _QUESTION_ID.match(qid) else ""
    return f"{at[0]} question {at[1] + 1}{named}: "


# --- the schema --------------------------------------------------------------------------------


def parse_question_set(
    name: str,
    data: Any,
    *,
    source: str | None = None,
    lines: Mapping[YamlPath, int] | None = None,
) -> QuestionSet:
    """Validate a set read from YAML. `source` and `lines` (from the file) locate errors."""
    try:
        return _parse_set(name, data)
    except _Problem as problem:
        # An empty file has no lines to point at: its first line is where the set should be.
        line = _line_of(problem.at, lines or {}) or 1
        place = f"question set {name!r}" if source is None else f"{source} line {line}"
        raise QuestionSetError(f"{place}: {_describe(problem.at, data)}{problem.message}") from None


def _parse_set(name: str, data: Any) -> QuestionSet:
    if not isinstance(data, dict):
        raise _Problem((), "expected a mapping with version, checkin and debrief at the top level")
    unknown = [key for key in data if key not in _SET_KEYS]
    if unknown:
        raise _Problem(
            (unknown[0],),
            f"unknown keys {sorted(map(str, unknown))}: a set has {', '.join(_SET_KEYS)}",
        )
    if data.get("version") != SCHEMA_VERSION:
        at: YamlPath = ("version",) if "version" in data else ()
        raise _Problem(at, f"version must be {SCHEMA_VERSION}")
    description = data.get("description")
    if description is not None and not (
        isinstance(description, str) and description.strip() and len(description) <= MAX_LABEL_CHARS
    ):
        raise _Problem(
            ("description",), f"description must be text of 1 to {MAX_LABEL_CHARS} characters"
        )
    lists = {kind: _parse_list(kind, data.get(kind)) for kind in KINDS_OF_SET}
    return QuestionSet(
        name=name,
        checkin=lists["checkin"],
        debrief=lists["debrief"],
        description=description.strip() if description else None,
    )


def _parse_list(kind: str, items: Any) -> tuple[Question, ...]:
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUESTIONS:
        raise _Problem((kind,), f"expected a list of 1 to {MAX_QUESTIONS} questions")
    questions = tuple(_parse_question((kind, index), item) for index, item in enumerate(items))
    first_with: dict[str, int] = {}
    for index, question in enumerate(questions):
        if question.id in first_with:
            raise _Problem(
                (kind, index, "id"),
                f'duplicate id "{question.id}" (question {first_with[question.id] + 1} has it '
                "too): ids must be unique within a list",
            )
        first_with[question.id] = index
    return questions


def _parse_question(at: YamlPath, item: Any) -> Question:
    if not isinstance(item, dict):
        raise _Problem(at, f"expected a mapping with {', '.join(_REQUIRED_KEYS)}")
    unknown = [key for key in item if key not in _KEYS]
    if unknown:
        raise _Problem(
            (*at, unknown[0]),
            f"unknown keys {sorted(map(str, unknown))}: a question has {', '.join(_KEYS)}",
        )
    missing = [key for key in _REQUIRED_KEYS if key not in item]
    if missing:
        raise _Problem(at, f"missing {missing} (max_length is null for kinds without text)")
    qid, label, kind = item["id"], item["label"], item["kind"]
    required, max_length, hint = item["required"], item["max_length"], item.get("hint")
    if not (isinstance(qid, str) and len(qid) <= MAX_ID_CHARS and _QUESTION_ID.match(qid)):
        raise _Problem(
            (*at, "id"), f"id must be snake_case, at most {MAX_ID_CHARS} chars, got {qid!r}"
        )
    if not (isinstance(label, str) and label.strip() and len(label) <= MAX_LABEL_CHARS):
        raise _Problem((*at, "label"), f"label must be text of 1 to {MAX_LABEL_CHARS} chars")
    if not (isinstance(kind, str) and kind in QUESTION_KINDS):
        raise _Problem(
            (*at, "kind"),
            f"kind must be one of {', '.join(sorted(QUESTION_KINDS))}, got {kind!r}",
        )
    if not isinstance(required, bool):
        raise _Problem((*at, "required"), f"required must be true or false, got {required!r}")
    if kind in TEXT_KINDS:
        if not (
            isinstance(max_length, int)
            and not isinstance(max_length, bool)
            and 1 <= max_length <= MAX_TEXT_LENGTH
        ):
            raise _Problem(
                (*at, "max_length"),
                f"max_length must be 1 to {MAX_TEXT_LENGTH} for kind {kind}, got {max_length!r}",
            )
    elif max_length is not None:
        raise _Problem((*at, "max_length"), f"max_length must be null for kind {kind}")
    if hint is not None and not (isinstance(hint, str) and len(hint) <= MAX_LABEL_CHARS):
        raise _Problem((*at, "hint"), f"hint must be text of at most {MAX_LABEL_CHARS} chars")
    options = item.get("options")
    if kind == "choice":
        _check_options((*at, "options"), options)
    elif options is not None:
        raise _Problem((*at, "options"), "options are only for kind choice")
    return Question(
        id=qid,
        label=label.strip(),
        kind=kind,
        required=required,
        max_length=max_length,
        hint=hint.strip() if hint else None,
        options=tuple(o.strip() for o in options or ()) if kind == "choice" else (),
    )


def _check_options(at: YamlPath, options: Any) -> None:
    if not (isinstance(options, list) and 2 <= len(options) <= MAX_OPTIONS):
        raise _Problem(
            at,
            f"options must be a list of 2 to {MAX_OPTIONS} different texts "
            f"of at most {MAX_OPTION_CHARS} chars",
        )
    seen: set[str] = set()
    for index, option in enumerate(options):
        if not (isinstance(option, str) and option.strip() and len(option) <= MAX_OPTION_CHARS):
            raise _Problem(
                (*at, index),
                f"option {index + 1} must be text of 1 to {MAX_OPTION_CHARS} chars, got {option!r}",
            )
        if option.strip() in seen:
            raise _Problem((*at, index), f"options must differ: {option.strip()!r} appears twice")
        seen.add(option.strip())
