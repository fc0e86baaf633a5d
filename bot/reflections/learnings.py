"""The learnings library: `/circle learnings <words>` searches the reflections a person may read.

- Who may read what is bot/reflections/visibility.py's `readable_by`, the one rule: the caller's own
  reflections (private ones too) and, in each circle where they are an active member, what
  their role may read of others'. It works from any channel, across all their circles.
- The full-text index is the database's own (migration 0005): SQLite FTS5 ranked by bm25,
  PostgreSQL to_tsvector('circlebot_search', text) ranked by ts_rank; neither stems, both fold
  case and accents. It follows `reflection_answer` through triggers / an expression index, so
  nothing here has to keep it in step.
- What is typed is never query syntax: only words (runs of letters and digits, any script)
  are kept, and each is passed as a bound parameter, quoted for FTS5 and through
  plainto_tsquery for PostgreSQL. `OR`, `NEAR`, `*` and quotes are words or nothing.
- A reflection matches when one of its written answers holds every word; the 10 best
  reflections are shown, each with an excerpt of its best answer around the first word found.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import CTE, ColumnClause, bindparam, column, func, literal_column, table
from sqlmodel import Session, col, select

from bot.circles.rules import Refusal
from bot.reflections.visibility import readable_by
from bot.slack import mrkdwn
from bot.slash.base import Outcome
from storage.models import Circle, Membership, Reflection, ReflectionAnswer, Visibility

if TYPE_CHECKING:
    from bot.slash.base import Deps, Invocation, Outcome
    from bot.slash.parse import Learnings

MAX_RESULTS = 10
MAX_WORDS = 20
MAX_WORD_CHARS = 64
EXCERPT_CHARS = 200  # about this much of the answer around the first word found
# The whole answer stays within one Block Kit section (3000), whatever it is shown in.
MAX_MESSAGE_CHARS = 3000
# Answers people wrote; dates, scales and picked people are not searched.
SEARCHED_KINDS = ("short_text", "long_text", "action_item", "choice")

SQLITE_INDEX = "reflection_answer_fts"  # FTS5 external-content table, rowid = answer id
# The PostgreSQL index ix_reflection_answer_search is on to_tsvector(<this>, text): queries
# use the same expression, verbatim, or the index is not used.
_PG_CONFIG: ColumnClause[Any] = literal_column("'circlebot_search'::regconfig")

EXAMPLE = "`/circle learnings delegation`"
# The person's own mrkdwn markers would pair with our bold marks (or, for `, switch them off),
# so an excerpt shows look-alikes instead.
_NEUTRAL = str.maketrans({"*": "∗", "_": "＿", "~": "∼", "`": "ˋ"})  # noqa: RUF001
_KIND_LABELS = {"checkin": "check-in", "debrief": "debrief"}


# --------------------------------------------------------------------------- the words


def search_words(text: str) -> tuple[str, ...]:
    """The words to look for, in the order typed, each once; refused when there are none
    (or too many) with a message that says what to type instead."""
    if not text.strip():
        raise Refusal(
            "Say what to look for, e.g. "
            f"{EXAMPLE}. I search the reflections you may read, in all your circles."
        )
    text = unicodedata.normalize("NFC", text)
    found = [text[start:end] for start, end in word_spans(text)]
    if not found:
        raise Refusal(
            "There are no words in that search, only symbols: I look for words made of letters "
            f"and digits, e.g. {EXAMPLE}."
        )
    words: dict[str, str] = {}
    for word in found:
        words.setdefault(fold(word), word)
    if len(words) > MAX_WORDS:
        raise Refusal(
            f"That's {len(words)} words; I search with at most {MAX_WORDS}, and fewer words "
            f"find more. Try e.g. {EXAMPLE}."
        )
    longest = max(len(word) for word in words.values())
    if longest > MAX_WORD_CHARS:
        raise Refusal(
            f"One of those words is {longest} characters long; I look for words of at most "
            f"{MAX_WORD_CHARS}. Try e.g. {EXAMPLE}."
        )
    return tuple(words.values())


def word_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where the words of `text` are: runs of letters, digits and the marks that go with them
    (a Devanagari vowel sign is part of its word), in any script. Anything else separates."""
    start: int | None = None
    for index, char in enumerate(text):
        if unicodedata.category(char)[0] in "LNM":
            if start is None:
                start = index
        elif start is not None:
            yield start, index
            start = None
    if start is not None:
        yield start, len(text)


def fold(word: str) -> str:
    """A word as the SQLite index compares it: case and diacritics removed."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fts5_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH string that holds every word, each as a quoted string (implicit AND).

    Inside quotes FTS5 has no operators; a quote in a word is doubled (words never hold one,
    but the quoting must not depend on that).
    """
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def plain_query(words: Sequence[str]) -> str:
    """The text for PostgreSQL's plainto_tsquery, which ANDs words and knows no operators."""
    return " ".join(words)


# --------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class Match:
    reflection_id: int
    circle_name: str
    circle_archived: bool
    week_start: date
    kind: str
    author_id: str
    named: bool
    visibility: str
    text: str  # the reflection's best-matching answer


def search(
    session: Session,
    *,
    team_id: str,
    reader_id: str,
    words: Sequence[str],
    limit: int = MAX_RESULTS,
) -> list[Match]:
    """The best `limit` reflections `reader_id` may read that match `words`, best first."""
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    ranked = _ranked_reflections(session, dialect, team_id, reader_id, words, limit)
    if not ranked:
        return []
    order = {reflection_id: position for position, reflection_id in enumerate(ranked)}
    hits = _hits(dialect, words)
    rows = session.exec(
        select(Reflection, Circle, ReflectionAnswer.text, hits.c.score)
        .join(Circle, col(Circle.id) == col(Reflection.circle_id))
        .join(ReflectionAnswer, col(ReflectionAnswer.reflection_id) == col(Reflection.id))
        .join(hits, hits.c.answer_id == col(ReflectionAnswer.id))
        .where(
            col(Reflection.id).in_(ranked),
            col(ReflectionAnswer.kind).in_(SEARCHED_KINDS),
            readable_by(team_id, reader_id),  # again: nothing else may slip in
        )
        .order_by(hits.c.score, col(ReflectionAnswer.id))
    ).all()
    best: dict[int, Match] = {}
    for reflection, circle, text, _score in rows:
        assert reflection.id is not None
        if reflection.id in best or text is None:
            continue
        best[reflection.id] = Match(
            reflection_id=reflection.id,
            circle_name=circle.name,
            circle_archived=circle.is_archived,
            week_start=reflection.week_start,
            kind=reflection.kind,
            author_id=reflection.user_id,
            named=reflection.named,
            visibility=reflection.visibility,
            text=text,
        )
    return sorted(best.values(), key=lambda match: order[match.reflection_id])


def _hits(dialect: str, words: Sequence[str]) -> CTE:
    """(answer_id, score) of every answer holding all the words; a lower score is better."""
    if dialect == "sqlite":
        fts = table(SQLITE_INDEX, column("rowid"))
        index: ColumnClause[Any] = literal_column(
            SQLITE_INDEX
        )  # FTS5 takes the table's name for MATCH and bm25
        query = select(fts.c.rowid.label("answer_id"), func.bm25(index).label("score")).where(
            index.op("MATCH")(bindparam("fts_query", fts5_query(words)))
        )
        # Materialised: bm25 works only in the query that runs MATCH, not in the GROUP BY
        # that the planner would otherwise fold it into.
        return query.cte("hits").prefix_with("MATERIALIZED")
    if dialect == "postgresql":
        vector = func.to_tsvector(_PG_CONFIG, col(ReflectionAnswer.text))
        tsquery = func.plainto_tsquery(_PG_CONFIG, bindparam("ts_query", plain_query(words)))
        return (
            select(
                col(ReflectionAnswer.id).label("answer_id"),
                (-func.ts_rank(vector, tsquery)).label("score"),
            )
            .where(vector.op("@@")(tsquery))
            .cte("hits")
        )
    raise NotImplementedError(f"no full-text search for {dialect}")  # pragma: no cover


def _ranked_reflections(
    session: Session,
    dialect: str,
    team_id: str,
    reader_id: str,
    words: Sequence[str],
    limit: int,
) -> list[int]:
    hits = _hits(dialect, words)
    score = func.min(hits.c.score)
    rows = session.exec(
        select(col(ReflectionAnswer.reflection_id), score)
        .join(hits, hits.c.answer_id == col(ReflectionAnswer.id))
        .join(Reflection, col(Reflection.id) == col(ReflectionAnswer.reflection_id))
        .where(col(ReflectionAnswer.kind).in_(SEARCHED_KINDS), readable_by(team_id, reader_id))
        .group_by(col(ReflectionAnswer.reflection_id))
        .order_by(score, col(ReflectionAnswer.reflection_id).desc())
        .limit(limit)
    ).all()
    return [reflection_id for reflection_id, _score in rows]


def has_anything_to_search(session: Session, *, team_id: str, reader_id: str) -> bool:
    """Whether the reader is in a circle or wrote a reflection (else nothing can match)."""
    member = session.exec(
        select(Membership.id).where(
            Membership.team_id == team_id,
            Membership.user_id == reader_id,
            col(Membership.removed_at).is_(None),
        )
    ).first()
    if member is not None:
        return True
    own = session.exec(
        select(Reflection.id).where(Reflection.team_id == team_id, Reflection.user_id == reader_id)
    ).first()
    return own is not None


# --------------------------------------------------------------------------- the answer


def excerpt(text: str, words: Iterable[str], width: int = EXCERPT_CHARS) -> str:
    """About `width` characters of `text` on one line, around the first of `words`, escaped
    for mrkdwn, with each space-separated piece that holds one of `words` in bold.

    Every piece of the person's text is escaped (and its own *, _, ~, ` shown as look-alikes)
    before the bold marks go around it, so a mark never lands inside an entity nor pairs with
    a character the person typed; marks sit between spaces, where Slack always honours them.
    """
    line = " ".join(text.split())
    wanted = {fold(word) for word in words}
    first = next((s for s in word_spans(line) if fold(line[s[0] : s[1]]) in wanted), (0, 0))
    start, end = _window(line, first, width)
    pieces = []
    for piece in line[start:end].split(" "):
        shown = _shown(piece)
        if any(fold(piece[start:end]) in wanted for start, end in word_spans(piece)):
            shown = f"*{shown}*"
        pieces.append(shown)
    return ("… " if start > 0 else "") + " ".join(pieces) + (" …" if end < len(line) else "")


def _window(line: str, first: tuple[int, int], width: int) -> tuple[int, int]:
    """Bounds of about `width` characters holding `first`, cut between words where possible."""
    if len(line) <= width:
        return 0, len(line)
    start = max(0, min(first[0] - width // 4, len(line) - width))
    if start > 0:
        space = line.find(" ", start - 1, first[0])
        start = space + 1 if space >= 0 else start
    end = max(min(len(line), start + width), first[1])
    if end < len(line):
        space = line.rfind(" ", first[1], end + 1)
        end = space if space >= 0 else end
    return start, end


def _shown(piece: str) -> str:
    return mrkdwn.escape(piece.translate(_NEUTRAL))


def _heading(match: Match, reader_id: str) -> str:
    circle = f"*{_shown(match.circle_name)}*" + (" (archived)" if match.circle_archived else "")
    week = f"week of {match.week_start.day} {match.week_start:%b %Y}"
    kind = _KIND_LABELS.get(match.kind, match.kind)
    if match.author_id == reader_id:
        author = "by you" + (", private" if match.visibility == Visibility.PRIVATE else "")
    elif match.named:
        author = f"by {mrkdwn.user(match.author_id)}"
    else:
        author = "name not shared"
    return f"{circle} · {week} · {kind} · {author}"


def results_text(matches: Sequence[Match], words: Sequence[str], *, reader_id: str) -> str:
    """The answer to a search: one entry per match, within MAX_MESSAGE_CHARS."""
    searched = mrkdwn.escape(" ".join(words))
    if not matches and len(words) == 1:
        return f"No reflection you can read mentions “{searched}”. Try another word."
    if not matches:
        return (
            f"No reflection you can read mentions all of “{searched}”. "
            f"Try fewer words, e.g. `/circle learnings {mrkdwn.escape(words[0])}`."
        )
    for width in (EXCERPT_CHARS, 140, 90, 50):
        entries = [f"{_heading(m, reader_id)}\n>{excerpt(m.text, words, width)}" for m in matches]
        text = _assemble(entries, searched, len(matches))
        if len(text) <= MAX_MESSAGE_CHARS:
            return text
    while entries and len(text) > MAX_MESSAGE_CHARS:  # very long circle names: show fewer
        entries.pop()
        text = _assemble(entries, searched, len(matches))
    return text


def _assemble(entries: list[str], searched: str, total: int) -> str:
    count = f"{total} reflection{'s' if total != 1 else ''}"
    if total >= MAX_RESULTS:
        count = f"The {MAX_RESULTS} best reflections"
    verb = "mentions" if total == 1 else "mention"
    lead = f"{count} you can read {verb} “{searched}”, best match first"
    if len(entries) < total:
        lead += f" (the first {len(entries)} fit here)"
    return "\n\n".join([lead + ":", *entries])


# --------------------------------------------------------------------------- the command


def search_command(command: Learnings, inv: Invocation, deps: Deps) -> Outcome:

    words = search_words(command.text)
    with deps.db.read_session() as session:
        if not has_anything_to_search(session, team_id=inv.team_id, reader_id=inv.user_id):
            raise Refusal(
                "You're not in any circle yet, so there are no reflections for you to search. "
                "A circle's facilitator can add you with `/circle add`."
            )
        matches = search(session, team_id=inv.team_id, reader_id=inv.user_id, words=words)
    return Outcome(results_text(matches, words, reader_id=inv.user_id))
