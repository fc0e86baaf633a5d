"""The learnings library without Slack (bot/reflections/learnings.py): reading the words of a
search, excerpts and the answer's text, and the full-text index of migration 0005 on SQLite and
PostgreSQL, kept in step by the database whatever writes the answers."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from bot.circles.rules import Refusal
from bot.reflections import learnings
from bot.reflections import rules as reflections
from bot.reflections.learnings import Match, excerpt, fts5_query, results_text, search, search_words
from bot.reflections.modal import Answer, ParsedReflection
from storage.db import Database
from storage.migrate import alembic_config
from storage.models import Delivery, DeliveryStatus, Reflection, ReflectionAnswer, Visibility
from tests.factories import T, add_participant, make_circle

WHEN = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
AUTHOR = "UAUTHOR"
_keys = itertools.count(1)


# --- writing reflections through the real writer (bot/reflections/rules.py) -----------------------


def parsed(
    tried: str,
    *,
    obstacles: str | None = None,
    visibility: Visibility = Visibility.CIRCLE,
    named: bool = False,
    peer: str | None = None,
) -> ParsedReflection:
    answers = [Answer("tried", "long_text", text=tried), Answer("confidence", "scale", number=4)]
    if obstacles is not None:
        answers.append(Answer("obstacles", "long_text", text=obstacles))
    if peer is not None:
        answers.append(Answer("peer", "user", text=peer))
    return ParsedReflection(
        answers=tuple(answers), visibility=visibility, named=named, follow_ups={}
    )


def write_reflection(
    db: Database,
    *,
    team_id: str,
    circle_id: int,
    author: str,
    submission: ParsedReflection,
    when: datetime = WHEN,
) -> int:
    """A check-in DM to `author` and their answer, saved as the modal's submission saves it."""
    key = next(_keys)
    with db.session() as session:
        delivery = Delivery(
            team_id=team_id,
            circle_id=circle_id,
            key=f"checkin:test:{author}:{key}",
            kind="checkin",
            recipient=author,
            due_at=when,
            status=DeliveryStatus.SENT,
            created_at=when,
        )
        session.add(delivery)
        session.flush()
        assert delivery.id is not None
        target = reflections.target_for_delivery(
            session, team_id=team_id, user_id=author, delivery_id=delivery.id
        )
        saved = reflections.save_reflection(
            session, target, submission, user_id=author, view_id=f"V{key}", now=when
        )
    assert saved.outcome == "created"
    return saved.reflection_id


def edit_reflection(
    db: Database, *, team_id: str, reflection_id: int, author: str, submission: ParsedReflection
) -> None:
    """The modal's edit: the same code path as a second submission of the reflection."""
    with db.session() as session:
        target = reflections.target_for_reflection(
            session, team_id=team_id, user_id=author, reflection_id=reflection_id
        )
        saved = reflections.save_reflection(
            session, target, submission, user_id=author, view_id=f"V{next(_keys)}", now=WHEN
        )
    assert saved.outcome == "edited"


# --- the words of a search -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("OR", ("OR",)),
        ("NEAR(", ("NEAR",)),
        ("a* OR b", ("a", "OR", "b")),
        ("'; DROP TABLE reflection; --", ("DROP", "TABLE", "reflection")),
        ('"hiring" AND NOT delegation^2', ("hiring", "AND", "NOT", "delegation", "2")),
        ("text:hiring col:* {a b}", ("text", "hiring", "col", "a", "b")),
        ("Zürich café 日本語 Ελλάδα", ("Zürich", "café", "日本語", "Ελλάδα")),
        ("हिंदी में!", ("हिंदी", "में")),  # vowel signs belong to their word
        ("Cafe\u0301 cafe CAFÉ", ("Café",)),  # NFC; one word whatever its case and accents
        ("snake_case e-mail don't", ("snake", "case", "e", "mail", "don", "t")),
    ],
)
def test_only_words_are_kept_and_syntax_is_not(typed: str, words: tuple[str, ...]) -> None:
    assert search_words(typed) == words


@pytest.mark.parametrize("typed", ["", "   ", '"', "*", "!!! ??? ***", '( ) " * ^ - : {}', "_"])
def test_a_search_without_words_is_refused_with_an_example(typed: str) -> None:
    with pytest.raises(Refusal) as refused:
        search_words(typed)
    assert "e.g. `/circle learnings delegation`" in str(refused.value)


def test_too_many_or_too_long_words_are_refused_with_the_limit() -> None:
    with pytest.raises(Refusal, match="That's 600 words; I search with at most 20"):
        search_words(" ".join(f"w{n}" for n in range(600)))  # 3000-odd characters
    with pytest.raises(Refusal, match="3000 characters long; I look for words of at most 64"):
        search_words("x" * 3000)
    assert len(search_words(" ".join(["same"] * 600))) == 1  # repeats are one word


def test_fts5_gets_every_word_quoted_with_inner_quotes_doubled() -> None:
    assert fts5_query(["OR", "NEAR", 'a"b']) == '"OR" "NEAR" "a""b"'


# --- excerpts ----------------------------------------------------------------------------------


def test_an_excerpt_escapes_the_text_before_marking_the_words() -> None:
    shown = excerpt(
        "Ask <!channel> & <@U1|x> about *hiring* _now_, `hiring` ~hiring~ R&D <b>",
        ["hiring", "amp", "lt", "b"],
    )
    assert shown == (
        "Ask &lt;!channel&gt; &amp; &lt;@U1|x&gt; about *∗hiring∗* ＿now＿, *ˋhiringˋ* "  # noqa: RUF001
        "*∼hiring∼* R&amp;D *&lt;b&gt;*"  # noqa: RUF001
    )
    # Look-alikes stand for the person's own markers, so ours are the only formatting left,
    # each one between spaces (or the ends), where Slack always reads it as bold.
    assert re.sub(r"(?:^| )\*[^ *]+\*(?= |$)", "", shown).count("*") == 0


def test_an_excerpt_finds_words_whatever_their_case_or_accents() -> None:
    assert excerpt("Café, CAFE cafe-bar cafés", ["cafe"]) == "*Café,* *CAFE* *cafe-bar* cafés"


def test_a_long_answer_is_cut_between_words_around_the_first_word_found() -> None:
    before = " ".join(f"filler{n}" for n in range(60))
    after = " ".join(f"tail{n}" for n in range(60))
    shown = excerpt(f"{before} the needle is here {after} needle", ["needle"], width=120)
    assert shown.startswith("… filler") and shown.endswith("tail12 …")
    assert "the *needle* is here" in shown
    assert len(shown) <= 120 + 4 + 2  # the width, two ellipses with their spaces, two marks
    words = shown.strip("… ").split(" ")
    assert all(re.fullmatch(r"filler\d+|tail\d+|the|\*needle\*|is|here", w) for w in words)


def test_an_answer_without_a_word_found_shows_its_beginning() -> None:
    # The database may match where the excerpt's simpler rule does not (e.g. 1.5 on PostgreSQL).
    assert excerpt("Line one\n\nline   two", ["absent"]) == "Line one line two"


# --- the answer ----------------------------------------------------------------------------


def match(**fields: Any) -> Match:
    values: dict[str, Any] = {
        "reflection_id": 1,
        "circle_name": "Leads",
        "circle_archived": False,
        "week_start": date(2026, 11, 16),
        "kind": "checkin",
        "author_id": "UANA",
        "named": False,
        "visibility": Visibility.CIRCLE,
        "text": "We talked about hiring.",
    }
    values.update(fields)
    return Match(**values)


def test_the_author_is_named_only_where_they_chose_to_be() -> None:
    text = results_text(
        [
            match(reflection_id=1, author_id="UANA", named=True),
            match(reflection_id=2, author_id="UBEN", named=False, kind="debrief"),
            match(reflection_id=3, author_id="UME", visibility=Visibility.PRIVATE),
            match(reflection_id=4, author_id="UME", circle_name="Old *one*", circle_archived=True),
        ],
        ["hiring"],
        reader_id="UME",
    )
    lead, *entries = text.split("\n\n")
    assert lead == "4 reflections you can read mention “hiring”, best match first:"
    assert entries == [
        "*Leads* · week of 16 Nov 2026 · check-in · by <@UANA>\n>We talked about *hiring.*",
        "*Leads* · week of 16 Nov 2026 · debrief · name not shared\n>We talked about *hiring.*",
        "*Leads* · week of 16 Nov 2026 · check-in · by you, private\n>We talked about *hiring.*",
        "*Old ∗one∗* (archived) · week of 16 Nov 2026 · check-in · by you\n"  # noqa: RUF001
        ">We talked about *hiring.*",
    ]
    assert "UBEN" not in text


def test_ten_long_matches_fit_in_one_section() -> None:
    worst = match(circle_name="&" * 80, text=("hiring " + "& " * 1500).strip())
    text = results_text([worst] * 10, ["hiring"], reader_id="UME")
    assert len(text) <= learnings.MAX_MESSAGE_CHARS
    assert text.startswith("The 10 best reflections you can read mention “hiring”")
    assert text.count("*hiring*") == text.count(">")  # every entry shown has its excerpt


def test_nothing_found_says_so_and_suggests_fewer_words() -> None:
    assert results_text([], ["hiring", "plan"], reader_id="U") == (
        "No reflection you can read mentions all of “hiring plan”. "
        "Try fewer words, e.g. `/circle learnings hiring`."
    )
    assert results_text([], ["hiring"], reader_id="U") == (
        "No reflection you can read mentions “hiring”. Try another word."
    )


# --- the index on both databases --------------------------------------------------------------


@pytest.fixture
def db(db_url: str):  # type: ignore[no-untyped-def]
    database = Database(db_url)
    yield database
    database.dispose()


def circle_with_author(db: Database) -> int:
    with db.session() as session:
        circle = make_circle(session)
        add_participant(session, circle, AUTHOR, "Europe/Paris")
        assert circle.id is not None
        return circle.id


def found(db: Database, words: str, reader: str = AUTHOR) -> list[int]:
    with db.read_session() as session:
        return [
            m.reflection_id
            for m in search(session, team_id=T, reader_id=reader, words=search_words(words))
        ]


def assert_index_consistent(db: Database) -> None:
    """SQLite checks its FTS5 index against reflection_answer (PostgreSQL's is an index)."""
    if db.is_sqlite:
        with db.engine.connect() as connection:
            connection.exec_driver_sql(
                "INSERT INTO reflection_answer_fts(reflection_answer_fts, rank) "
                "VALUES ('integrity-check', 1)"
            )


def sql(db: Database, statement: str, **params: Any) -> None:
    with db.session() as session:
        session.exec(text(statement).bindparams(**params))  # type: ignore[call-overload]


def test_the_index_follows_edits_deletions_and_cleared_text(db: Database) -> None:
    circle_id = circle_with_author(db)
    first = write_reflection(
        db,
        team_id=T,
        circle_id=circle_id,
        author=AUTHOR,
        submission=parsed("Alpha plans", obstacles="beta blockers"),
    )
    assert found(db, "alpha") == [first] and found(db, "beta") == [first]

    # Edited in the modal: its answers are replaced, the old words go, the new ones come.
    edit_reflection(
        db,
        team_id=T,
        reflection_id=first,
        author=AUTHOR,
        submission=parsed("Gamma rays", obstacles="beta again"),
    )
    assert found(db, "alpha") == [] and found(db, "gamma") == [first]
    assert found(db, "beta") == [first]

    # Changed in place by some other writer.
    sql(db, "UPDATE reflection_answer SET text = 'delta force' WHERE question_id = 'tried'")
    assert found(db, "gamma") == [] and found(db, "delta") == [first]

    # Retention clears the text and keeps the row.
    sql(db, "UPDATE reflection_answer SET text = NULL WHERE reflection_id = :r", r=first)
    assert found(db, "delta") == [] and found(db, "beta") == []
    assert_index_consistent(db)

    # Forget-me deletes the rows.
    second = write_reflection(
        db, team_id=T, circle_id=circle_id, author=AUTHOR, submission=parsed("omega point")
    )
    assert found(db, "omega") == [second]
    sql(db, "DELETE FROM action_item WHERE reflection_id = :r", r=second)
    sql(db, "DELETE FROM reflection_answer WHERE reflection_id = :r", r=second)
    sql(db, "DELETE FROM reflection WHERE id = :r", r=second)
    assert found(db, "omega") == []
    assert_index_consistent(db)


def test_best_reflections_first_ten_at_most_each_once(db: Database) -> None:
    circle_id = circle_with_author(db)

    def write(tried: str, **kwargs: Any) -> int:
        return write_reflection(
            db, team_id=T, circle_id=circle_id, author=AUTHOR, submission=parsed(tried, **kwargs)
        )

    padding = " ".join(f"word{n}" for n in range(40))
    weak = [write(f"hiring once among {padding}") for _ in range(10)]
    strong = write("hiring hiring hiring", obstacles="hiring is hard")  # two answers match
    found_ids = found(db, "HIRING")
    assert found_ids[0] == strong and len(found_ids) == 10  # once, first, and 10 at most
    assert set(found_ids[1:]) <= set(weak)
    # Every word in one answer; an answer of another kind (a peer's user id) is not searched.
    peer = write("plan for the offsite", obstacles="budget", peer="UPEERID")
    assert found(db, "offsite plan") == [peer]
    assert found(db, "offsite budget") == []
    assert found(db, "UPEERID") == []


def test_answers_written_before_the_migration_are_indexed(db: Database) -> None:
    config = alembic_config(db.engine)
    circle_id = circle_with_author(db)  # at head: later migrations add membership columns
    command.downgrade(config, "0004")
    with db.session() as session:
        _old_answer(session, circle_id)
    command.upgrade(config, "head")
    assert len(found(db, "legacy")) == 1
    assert_index_consistent(db)


def _old_answer(session: Session, circle_id: int) -> None:
    """Rows as 0004 held them (no later migration adds a column to these tables)."""
    reflection = Reflection(
        team_id=T,
        circle_id=circle_id,
        user_id=AUTHOR,
        kind="checkin",
        prompt_set="default",
        week_start=date(2026, 11, 16),
        submitted_at=WHEN,
    )
    session.add(reflection)
    session.flush()
    assert reflection.id is not None
    session.add(
        ReflectionAnswer(
            team_id=T,
            reflection_id=reflection.id,
            question_id="tried",
            kind="long_text",
            text="a legacy answer",
        )
    )
