"""Where a person's id and words live: every table and column forget-me touches, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnClause,
    TableClause,
    column,
    delete,
    func,
    table,
    text,
    update,
)
from sqlmodel import Session, select

# What replaces a forgotten person's id where a row belongs to someone else or to the circle
# (shaped like a user id, so columns and code that expect one keep working).
PLACEHOLDER = "UFORGOTTEN"


SEARCH_INDEX = "reflection_answer_fts"  # SQLite only (storage/migrations/versions/0005)


@dataclass(frozen=True)
class OwnRows:
    """Rows that are the person's: `column` holds their user id and the rows are deleted."""

    table: str
    column: str


@dataclass(frozen=True)
class RowsOf:
    """Rows that exist only because of the person's rows in `parent` (e.g. the answers of
    their reflections): deleted with them. `column` references `parent.id`."""

    table: str
    column: str
    parent: OwnRows


@dataclass(frozen=True)
class NamedIn:
    """Someone else's row, or the circle's, that names the person in `column` (its author,
    a peer): the row stays and the id becomes PLACEHOLDER."""

    table: str
    column: str


@dataclass(frozen=True)
class Compact:
    """A full-text index that keeps a deleted row's words in its pages until they are merged
    (SQLite FTS5 records a deletion as a tombstone): merge it, so the words are really gone.
    Nothing to do where the table does not exist (PostgreSQL keeps its index elsewhere)."""

    table: str


ForgetStep = OwnRows | RowsOf | NamedIn | Compact


_REFLECTIONS = OwnRows("reflection", "user_id")


# Every place a user id is stored, in the order forget-me clears them (children before the
# rows they reference). Rows are matched within the person's workspace (`team_id`).
FORGET_STEPS: tuple[ForgetStep, ...] = (
    RowsOf("reflection_answer", "reflection_id", _REFLECTIONS),
    RowsOf("action_item", "reflection_id", _REFLECTIONS),
    OwnRows("action_item", "user_id"),
    _REFLECTIONS,
    OwnRows("demo_signup", "user_id"),
    OwnRows("delivery", "recipient"),  # after reflections, which reference their delivery
    OwnRows("membership", "user_id"),
    OwnRows("person", "user_id"),
    # Other people's debriefs naming the person as their peer: the debrief is theirs.
    NamedIn("reflection", "peer_user_id"),
    NamedIn("reflection_answer", "text"),  # a `user` answer (the peer) holds a user id
    # Pairing rounds are the circle's history: the person's place in a pair or trio becomes
    # the placeholder (their partners' groups keep their size; nobody is paired with it).
    NamedIn("pairing_member", "user_id"),
    NamedIn("pairing_round", "created_by"),
    # What the person did for a circle stays the circle's: who added whom, who created the
    # circle, a schedule, a skipped day or a demo day, who cancelled a demo day.
    NamedIn("membership", "added_by"),
    NamedIn("circle", "created_by"),
    NamedIn("schedule", "created_by"),
    NamedIn("skip_day", "created_by"),
    NamedIn("demo_day", "created_by"),
    NamedIn("demo_day", "cancelled_by"),
    # The learnings search index follows reflection_answer through triggers (migration 0005).
    Compact(SEARCH_INDEX),
)


OWN_ROWS: tuple[OwnRows, ...] = tuple(step for step in FORGET_STEPS if isinstance(step, OwnRows))


def _table(name: str, *columns: str) -> tuple[TableClause, dict[str, ColumnClause[Any]]]:
    """A lightweight table (works for tables outside the models too, e.g. a search index)."""
    cols: dict[str, ColumnClause[Any]] = {
        name_: column(name_) for name_ in dict.fromkeys(("team_id", *columns))
    }
    return table(name, *cols.values()), cols


def _own_ids(step: OwnRows, team_id: str, user_id: str) -> Any:
    parent, cols = _table(step.table, "id", step.column)
    return (
        select(cols["id"])
        .select_from(parent)
        .where(cols["team_id"] == team_id, cols[step.column] == user_id)
    )


def own_row_counts(session: Session, team_id: str, user_id: str) -> dict[str, int]:
    """How many rows of each table are the person's."""
    counts: dict[str, int] = {}
    for step in OWN_ROWS:
        target, cols = _table(step.table, step.column)
        counted = session.exec(
            select(func.count())
            .select_from(target)
            .where(cols["team_id"] == team_id, cols[step.column] == user_id)
        ).one()
        counts[step.table] = int(counted)
    return counts


def compact(session: Session, step: Compact) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    exists = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": step.table},
    ).first()
    if exists is not None:
        # FTS5's own command syntax; the name is a constant of this module, not input.
        session.execute(text(f"INSERT INTO {step.table}({step.table}) VALUES ('optimize')"))  # noqa: S608


def apply_step(session: Session, step: ForgetStep, team_id: str, user_id: str) -> int:
    if isinstance(step, Compact):
        compact(session, step)
        return 0
    if isinstance(step, RowsOf):
        target, cols = _table(step.table, step.column)
        statement: Any = delete(target).where(
            cols["team_id"] == team_id,
            cols[step.column].in_(_own_ids(step.parent, team_id, user_id)),
        )
    elif isinstance(step, OwnRows):
        target, cols = _table(step.table, step.column)
        statement = delete(target).where(cols["team_id"] == team_id, cols[step.column] == user_id)
    else:
        target, cols = _table(step.table, step.column)
        statement = (
            update(target)
            .where(cols["team_id"] == team_id, cols[step.column] == user_id)
            .values({step.column: PLACEHOLDER})
        )
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
