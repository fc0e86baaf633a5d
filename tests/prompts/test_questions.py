"""Question sets as data: every kind parses, every mistake names its file and line, PROMPTS_DIR
adds (and replaces) sets, and a broken set stops the real CLI with one line and status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.settings import ConfigError, load_settings
from prompts import questions
from prompts.questions import (
    QUESTION_KINDS,
    QUESTIONS_DIR,
    QuestionSetError,
    configure,
    load_library,
    load_question_set,
    read_question_set,
)

ALL_KINDS = """\
version: 1
description: Every kind of question
checkin:
  - id: short
    label: A short answer
    kind: short_text
    required: true
    max_length: 80
  - id: long
    label: A long answer
    kind: long_text
    required: false
    max_length: 3000
    hint: take your time
  - id: next_step
    label: One thing I'll do next
    kind: action_item
    required: false
    max_length: 300
  - id: energy
    label: Energy (1-5)
    kind: scale
    required: true
    max_length: null
  - id: focus
    label: Where is your focus?
    kind: choice
    required: true
    max_length: null
    options: ["  People ", Process, Product]
  - id: when
    label: When is the next milestone?
    kind: date
    required: false
    max_length: null
  - id: peer
    label: Who helped you?
    kind: user
    required: false
    max_length: null
debrief:
  - id: topic
    label: What did you work on?
    kind: long_text
    required: true
    max_length: 1000
"""


@pytest.fixture(autouse=True)
def shipped_sets_only() -> Iterator[None]:
    """Tests here configure the module's library; leave it as every other test expects."""
    questions.reset()
    yield
    questions.reset()


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- what parses ---------------------------------------------------------------------------------


def test_every_kind_parses(tmp_path: Path) -> None:
    question_set = read_question_set(write(tmp_path, "every-kind.yml", ALL_KINDS))
    assert question_set.name == "every-kind"
    assert question_set.description == "Every kind of question"
    by_id = {q.id: q for q in question_set.checkin}
    assert {q.kind for q in question_set.checkin} == QUESTION_KINDS
    assert by_id["short"].max_length == 80 and by_id["short"].required is True
    assert by_id["long"].hint == "take your time" and by_id["long"].required is False
    assert by_id["next_step"].max_length == 300
    assert by_id["energy"].max_length is None
    assert by_id["focus"].options == ("People", "Process", "Product")
    assert by_id["when"].kind == "date" and by_id["peer"].kind == "user"
    assert [q.id for q in question_set.debrief] == ["topic"]


def test_the_shipped_sets_are_valid_and_one_asks_a_choice() -> None:
    library = load_library(None)
    assert library.names() == sorted(p.stem for p in QUESTIONS_DIR.glob("*.yml"))
    assert {"default", "quick"} <= set(library.names())
    quick = library.get("quick")
    assert 2 <= len(quick.checkin) <= 3 and 2 <= len(quick.debrief) <= 3
    kinds = {q.kind for s in library.sets.values() for q in (*s.checkin, *s.debrief)}
    assert "choice" in kinds
    for question_set in library.sets.values():
        assert question_set.description, question_set.name


# --- what does not, with file and line -----------------------------------------------------------

# Each case marks the line the error must name with `# <-`.
BROKEN = {
    "bad kind": (
        """\
version: 1
checkin:
  - id: tried
    label: What did you try?
    kind: long_text
    required: true
    max_length: 100
  - id: stuck
    label: Where are you stuck?
    kind: essay  # <-
    required: true
    max_length: 100
debrief: &same
  - id: topic
    label: Topic
    kind: short_text
    required: true
    max_length: 100
""",
        'checkin question 2 (id "stuck"): kind must be one of action_item, choice, date, '
        "long_text, scale, short_text, user, got 'essay'",
    ),
    "missing key": (
        """\
version: 1
checkin:
  - id: tried  # <-
    label: What did you try?
    kind: long_text
    required: true
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin question 1 (id \"tried\"): missing ['max_length']",
    ),
    "unknown question key": (
        """\
version: 1
checkin:
  - id: tried
    label: What did you try?
    kind: long_text
    required: true
    max_length: 100
    colour: blue  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin question 1 (id \"tried\"): unknown keys ['colour']",
    ),
    "unknown top-level key": (
        """\
version: 1
checkin: [{id: a, label: A, kind: date, required: true, max_length: null}]
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
debriefs: []  # <-
""",
        "unknown keys ['debriefs']",
    ),
    "wrong version": (
        """\
# a comment first
version: 2  # <-
checkin: [{id: a, label: A, kind: date, required: true, max_length: null}]
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "version must be 1",
    ),
    "no version": (
        """\
# a comment first

checkin: [{id: a, label: A, kind: date, required: true, max_length: null}]  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "version must be 1",
    ),
    "empty list": (
        """\
version: 1
checkin: []  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin: expected a list of 1 to 10 questions",
    ),
    "duplicate id": (
        """\
version: 1
checkin: [{id: a, label: A, kind: date, required: true, max_length: null}]
debrief:
  - {id: topic, label: Topic, kind: short_text, required: true, max_length: 9}
  - {id: peer, label: Peer, kind: user, required: true, max_length: null}
  - id: topic  # <-
    label: Again
    kind: short_text
    required: true
    max_length: 9
""",
        'debrief question 3 (id "topic"): duplicate id "topic" (question 1 has it too)',
    ),
    "max_length on a scale": (
        """\
version: 1
checkin:
  - id: confidence
    label: Confidence
    kind: scale
    required: true
    max_length: 5  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        'checkin question 1 (id "confidence"): max_length must be null for kind scale',
    ),
    "text longer than Slack allows": (
        """\
version: 1
checkin:
  - id: essay
    label: Essay
    kind: long_text
    required: true
    max_length: 5000  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        'checkin question 1 (id "essay"): max_length must be 1 to 3000 for kind long_text, '
        "got 5000",
    ),
    "required is not a boolean": (
        """\
version: 1
checkin:
  - id: essay
    label: Essay
    kind: long_text
    required: "yes"  # <-
    max_length: 50
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin question 1 (id \"essay\"): required must be true or false, got 'yes'",
    ),
    "id not snake_case": (
        """\
version: 1
checkin:
  - id: Next-Step  # <-
    label: Next
    kind: action_item
    required: true
    max_length: 50
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin question 1: id must be snake_case",
    ),
    "label too long": (
        f"""\
version: 1
checkin:
  - id: a
    label: {"x" * 151}  # <-
    kind: date
    required: true
    max_length: null
debrief: [{{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}}]
""",
        'checkin question 1 (id "a"): label must be text of 1 to 150 chars',
    ),
    "hint too long": (
        f"""\
version: 1
checkin:
  - id: a
    label: A
    kind: date
    required: true
    max_length: null
    hint: {"x" * 151}  # <-
debrief: [{{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}}]
""",
        'checkin question 1 (id "a"): hint must be text of at most 150 chars',
    ),
    "choice with one option": (
        """\
version: 1
checkin:
  - id: focus
    label: Focus
    kind: choice
    required: true
    max_length: null
    options: [People]  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        'checkin question 1 (id "focus"): options must be a list of 2 to 10 different texts',
    ),
    "choice with an option twice": (
        """\
version: 1
checkin:
  - id: focus
    label: Focus
    kind: choice
    required: true
    max_length: null
    options:
      - People
      - Process
      - People  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin question 1 (id \"focus\"): options must differ: 'People' appears twice",
    ),
    "an option that is not text": (
        """\
version: 1
checkin:
  - id: focus
    label: Focus
    kind: choice
    required: true
    max_length: null
    options:
      - People
      - [Process]  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        'checkin question 1 (id "focus"): option 2 must be text of 1 to 75 chars, '
        "got ['Process']",
    ),
    "options on a text question": (
        """\
version: 1
checkin:
  - id: a
    label: A
    kind: short_text
    required: true
    max_length: 10
    options: [x, y]  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        'checkin question 1 (id "a"): options are only for kind choice',
    ),
    "a question that is not a mapping": (
        """\
version: 1
checkin:
  - What did you try?  # <-
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin question 1: expected a mapping",
    ),
    "description too long": (
        f"""\
version: 1
description: {"x" * 151}  # <-
checkin: [{{id: a, label: A, kind: date, required: true, max_length: null}}]
debrief: [{{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}}]
""",
        "description must be text of 1 to 150 characters",
    ),
    "a key written twice": (
        """\
version: 1
checkin:
  - id: a
    label: A
    kind: date
    required: true
    kind: short_text  # <-
    max_length: null
debrief: [{id: topic, label: Topic, kind: short_text, required: true, max_length: 9}]
""",
        "checkin question 1: the key 'kind' appears twice",
    ),
    "YAML syntax": (
        """\
version: 1
checkin:
  - id: a
    label: [A, B
    kind: date  # <-
debrief: []
""",
        "not valid YAML: expected ',' or ']', but got ':'",
    ),
    "YAML with a control character": (
        "version: 1\ncheckin: []\ndebrief: \x07  # <-\n",
        "not valid YAML: special characters are not allowed",
    ),
    "a list instead of a mapping": (
        "- version: 1  # <-\n",
        "expected a mapping with version, checkin and debrief at the top level",
    ),
    "an empty file": ("", "expected a mapping with version, checkin and debrief"),
}


def marked_line(text: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if "# <-" in line]
    return lines[0] if lines else 1


@pytest.mark.parametrize(("text", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_every_schema_error_names_the_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "acme.yml", text)
    with pytest.raises(QuestionSetError) as refused:
        read_question_set(path)
    assert str(refused.value).startswith(f"{path} line {marked_line(text)}: {message}")
    assert "\n" not in str(refused.value)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "acme.yml", b"version: 1\ncheckin:\n  - id: caf\xe9\n")
    with pytest.raises(QuestionSetError, match=r"acme\.yml line 3: not UTF-8 text$"):
        read_question_set(path)


@pytest.mark.parametrize(
    ("file_name", "message"),
    [
        ("Acme.yml", "the file name is the set's name, so it must be lower-case"),
        ("acme corp.yml", "the file name is the set's name"),
        ("acme.yaml", "question sets are read from *.yml files; rename it to acme.yml"),
    ],
)
def test_a_set_file_that_would_be_ignored_is_refused(
    tmp_path: Path, file_name: str, message: str
) -> None:
    write(tmp_path, file_name, ALL_KINDS)
    with pytest.raises(QuestionSetError) as refused:
        load_library(tmp_path)
    assert str(refused.value).startswith(f"{tmp_path / file_name}: {message}")


def test_other_files_in_prompts_dir_are_left_alone(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# our question sets")
    write(tmp_path, ".acme.yml", "not: [valid")  # an editor's or a sync tool's leftover
    write(tmp_path, "acme.yml.orig", "not: [valid")
    (tmp_path / "drafts.yml").mkdir()
    write(tmp_path, "acme.yml", ALL_KINDS)
    assert load_library(tmp_path).names() == sorted({*load_library(None).names(), "acme"})


# --- the library: shipped sets plus PROMPTS_DIR --------------------------------------------------


def test_prompts_dir_adds_sets_and_replaces_a_shipped_one_of_the_same_name(tmp_path: Path) -> None:
    write(tmp_path, "acme.yml", ALL_KINDS)
    write(tmp_path, "default.yml", ALL_KINDS.replace("Every kind", "Acme's default"))
    library = load_library(tmp_path)
    assert "acme" in library and "quick" in library
    assert library.get("default").description == "Acme's default of question"
    assert library.sources["default"] == tmp_path / "default.yml"
    assert library.sources["quick"] == QUESTIONS_DIR / "quick.yml"


def test_load_question_set_reads_the_configured_library(tmp_path: Path) -> None:
    shipped_default = load_question_set("default")
    with pytest.raises(QuestionSetError, match="no question set 'acme'; the sets are default"):
        load_question_set("acme")
    write(tmp_path, "acme.yml", ALL_KINDS)
    write(tmp_path, "default.yml", ALL_KINDS)
    configure(tmp_path)
    assert load_question_set("acme").name == "acme"
    assert load_question_set("default") != shipped_default
    questions.reset()
    assert load_question_set("default") == shipped_default


def test_a_broken_set_leaves_the_previous_library_in_use(tmp_path: Path) -> None:
    good, broken = tmp_path / "good", tmp_path / "broken"
    good.mkdir()
    broken.mkdir()
    write(good, "acme.yml", ALL_KINDS)
    write(broken, "acme.yml", ALL_KINDS.replace("kind: date", "kind: datum"))
    configure(good)
    with pytest.raises(QuestionSetError, match=r'question 6 \(id "when"\): kind must be'):
        configure(broken)
    assert load_question_set("acme").name == "acme"


@pytest.mark.parametrize("name", ["../default", "Default", "", "a" * 41])
def test_names_that_cannot_be_sets_are_refused(name: str) -> None:
    with pytest.raises(QuestionSetError, match="not a question set name"):
        load_question_set(name)


def test_prompts_dir_must_be_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == (
        "PROMPTS_DIR: expected an existing directory of question sets (<name>.yml files), "
        f"got '{tmp_path / 'missing'}'"
    )
    monkeypatch.setenv("PROMPTS_DIR", " ")
    assert load_settings().prompts_dir is None
    monkeypatch.setenv("PROMPTS_DIR", str(tmp_path))
    assert load_settings().prompts_dir == tmp_path


# --- start-up refuses a broken set: the real CLI ------------------------------------------------

GOOD_SLACK = {
    "SLACK_BOT_TOKEN": "xoxb-1-fake",
    "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
    # Nothing listens here: the process must stop before it would call Slack.
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
}


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SLACK_") and k not in ("DATABASE_URL", "PROMPTS_DIR", "PORT")
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", [["migrate"], ["tick"], ["serve", "--port", "3999"]])
def test_a_broken_set_stops_start_up_with_its_file_and_line(
    tmp_path: Path, command: list[str]
) -> None:
    prompts_dir = tmp_path / "prompts"
    prompts_dir.mkdir()
    write(prompts_dir, "acme.yml", ALL_KINDS.replace("kind: choice", "kind: multiple_choice"))
    database = tmp_path / "circlebot.db"
    env = {**GOOD_SLACK, "PROMPTS_DIR": str(prompts_dir), "DATABASE_URL": f"sqlite:///{database}"}
    result = run_cli(*command, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = ALL_KINDS.splitlines().index("    kind: choice") + 1
    assert result.stderr.splitlines() == [
        f'circlebot: {prompts_dir / "acme.yml"} line {line}: checkin question 5 (id "focus"): '
        "kind must be one of action_item, choice, date, long_text, scale, short_text, user, "
        "got 'multiple_choice'"
    ]
    assert "Traceback" not in result.stdout
    assert not database.exists()  # refused before anything was touched


@pytest.mark.slow
def test_a_good_prompts_dir_starts(tmp_path: Path) -> None:
    prompts_dir = tmp_path / "prompts"
    prompts_dir.mkdir()
    write(prompts_dir, "acme.yml", ALL_KINDS)
    database = tmp_path / "circlebot.db"
    env = {"PROMPTS_DIR": str(prompts_dir), "DATABASE_URL": f"sqlite:///{database}"}
    result = run_cli("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is at revision" in result.stdout
    assert database.exists()
