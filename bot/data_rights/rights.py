"""People's rights over their data: a copy of it, forgetting it, exports and retention.

Rules over a database session first, then the `/circle` subcommands that call Slack:

- `/circle my-data`: everything held about the person, as a JSON file in a DM with them.
- `/circle forget-me`: a confirmation modal (handlers/data_rights.py deletes nothing until it is
  submitted), then `forget_person` deletes their rows in one transaction.
- `/circle export` (a facilitator, in the circle's channel): a CSV file in a DM with them.
- `DATA_RETENTION_DAYS`: `sweep_retention` clears old text people wrote every day (answers,
  action items, demo sign-ups; the labels of finished circles; profiles of people gone).

Where a user id is stored is listed once, in `FORGET_STEPS`; a new table that holds one
(pairings, a search index) adds its step there. tests/bot/test_data_rights.py walks every
table and text column after forget-me, so a place missing here fails it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import (
    ColumnClause,
    TableClause,
    and_,
    column,
    delete,
    func,
    or_,
    table,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from bot.circles.rules import Refusal, circle_here, require_facilitator
from bot.pairing.rounds import person_pairings
from bot.reflections.visibility import readable_for_role, role_in_circle
from bot.slack import block_kit, mrkdwn
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import Export, ForgetMe, MyData
from prompts.questions import QuestionSetError, load_question_set
from storage.db import Database
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
    Role,
)

logger = logging.getLogger(__name__)

# What replaces a forgotten person's id where a row belongs to someone else or to the circle
# (shaped like a user id, so columns and code that expect one keep working).
PLACEHOLDER = "UFORGOTTEN"

FORGET_ME_CALLBACK_ID = "forget_me_confirm"
SEARCH_INDEX = "reflection_answer_fts"  # SQLite only (storage/migrations/versions/0005)


# --------------------------------------------------------------------------- where ids live


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


def _apply(session: Session, step: ForgetStep, team_id: str, user_id: str) -> int:
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


# --------------------------------------------------------------------------- forget


@dataclass(frozen=True)
class PersonSummary:
    """What forget-me would delete, for the confirmation."""

    counts: dict[str, int]
    circle_names: list[str]

    @property
    def is_empty(self) -> bool:
        return not any(self.counts.values())


def person_summary(session: Session, team_id: str, user_id: str) -> PersonSummary:
    names = session.exec(
        select(Circle.name)
        .join(Membership, col(Membership.circle_id) == col(Circle.id))
        .where(Membership.team_id == team_id, Membership.user_id == user_id)
        .order_by(Circle.name)
    ).all()
    return PersonSummary(own_row_counts(session, team_id, user_id), list(names))


def circles_needing_a_facilitator(
    session: Session, team_id: str, user_id: str, *, lock: bool = False
) -> list[Circle]:
    """Live circles the person is the only active facilitator of.

    `lock` locks those circle rows (PostgreSQL) so two facilitators forgetting themselves at
    the same time can't both pass this check; SQLite serialises writers anyway.
    """
    query = (
        select(Circle)
        .join(Membership, col(Membership.circle_id) == col(Circle.id))
        .where(
            Membership.team_id == team_id,
            Membership.user_id == user_id,
            Membership.role == Role.FACILITATOR,
            col(Membership.removed_at).is_(None),
            col(Circle.archived_at).is_(None),
        )
        .order_by(col(Circle.id))
    )
    mine = session.exec(query.with_for_update(of=Circle) if lock else query).all()
    stuck: list[Circle] = []
    for circle in mine:
        others = session.exec(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.circle_id == circle.id,
                Membership.role == Role.FACILITATOR,
                Membership.user_id != user_id,
                col(Membership.removed_at).is_(None),
            )
        ).one()
        if not others:
            stuck.append(circle)
    return stuck


def last_facilitator_refusal(circles: Sequence[Circle]) -> Refusal:
    places = ", ".join(
        f"*{mrkdwn.escape(c.name)}* in {mrkdwn.channel(c.channel_id)}" for c in circles
    )
    return Refusal(
        f"You're the only facilitator of {places}, so nothing was deleted: forgetting you "
        "now would leave nobody able to run it. Hand it over first with "
        "`/circle add @someone as facilitator` in its channel (or end it with "
        "`/circle archive`), then run `/circle forget-me` again."
    )


@dataclass(frozen=True)
class ForgetReport:
    deleted: dict[str, int]  # rows deleted, by table
    replaced: dict[str, int]  # ids replaced by PLACEHOLDER, by "table.column"


def forget_person(session: Session, *, team_id: str, user_id: str) -> ForgetReport:
    """Delete everything that is the person's and anonymise where others' rows name them.

    Runs inside the caller's transaction: all of it happens or nothing does. Refuses (and
    changes nothing) while they are the only facilitator of a live circle.
    """
    stuck = circles_needing_a_facilitator(session, team_id, user_id, lock=True)
    if stuck:
        raise last_facilitator_refusal(stuck)
    _keep_zones_of_circles_they_created(session, team_id, user_id)
    deleted: dict[str, int] = {}
    replaced: dict[str, int] = {}
    for step in FORGET_STEPS:
        count = _apply(session, step, team_id, user_id)
        if isinstance(step, NamedIn):
            replaced[f"{step.table}.{step.column}"] = count
        elif not isinstance(step, Compact):
            deleted[step.table] = deleted.get(step.table, 0) + count
    session.expire_all()  # objects loaded earlier in this session must not write old values
    return ForgetReport(deleted, replaced)


def _keep_zones_of_circles_they_created(session: Session, team_id: str, user_id: str) -> None:
    """A circle without its own zone runs in its creator's; pin it before the creator goes."""
    creator = session.get(Person, (team_id, user_id))
    if creator is None:
        return
    for circle in session.exec(
        select(Circle).where(
            Circle.team_id == team_id, Circle.created_by == user_id, col(Circle.tz).is_(None)
        )
    ).all():
        circle.tz = creator.tz
        session.add(circle)
    session.flush()


def forgotten_text(report: ForgetReport) -> str:
    d = report.deleted
    parts = [
        _count(d.get("reflection", 0), "reflection"),
        _count(d.get("action_item", 0), "action item"),
        _count(d.get("demo_signup", 0), "demo sign-up"),
        _count(d.get("membership", 0), "circle membership"),
        _count(
            d.get("delivery", 0),
            "record of a message sent to you",
            "records of messages sent to you",
        ),
    ]
    return (
        "Done: I deleted everything I held about you: "
        + ", ".join(parts)
        + ", and your Slack profile details. Where a circle still needs to say that someone "
        "did something (created a schedule, named a peer), it now says “a forgotten person”. "
        "Messages already sent in Slack were not changed."
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# --------------------------------------------------------------------------- my-data


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Labels:
    """Question labels by (set, kind), read once per export; unknown sets give no labels."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}

    def of(self, prompt_set: str, kind: str) -> dict[str, tuple[int, str]]:
        key = (prompt_set, kind)
        if key not in self._cache:
            try:
                questions = load_question_set(prompt_set).for_kind(kind)
            except (QuestionSetError, ValueError):
                questions = ()
            self._cache[key] = {q.id: (i, q.label) for i, q in enumerate(questions)}
        return self._cache[key]

    def label(self, prompt_set: str, kind: str, question_id: str) -> str:
        return self.of(prompt_set, kind).get(question_id, (0, ""))[1]

    def order(self, prompt_set: str, kind: str, question_id: str) -> tuple[int, str]:
        return (self.of(prompt_set, kind).get(question_id, (99, ""))[0], question_id)


def collect_person_data(
    session: Session, *, team_id: str, user_id: str, now: datetime
) -> dict[str, Any]:
    """Everything held about the person in this workspace, ready for json.dumps."""
    circles = {c.id: c for c in session.exec(select(Circle).where(Circle.team_id == team_id)).all()}

    def circle_name(circle_id: int | None) -> str | None:
        circle = circles.get(circle_id)
        return circle.name if circle is not None else None

    profile = session.get(Person, (team_id, user_id))
    labels = _Labels()
    reflections = session.exec(
        select(Reflection)
        .where(Reflection.team_id == team_id, Reflection.user_id == user_id)
        .order_by(col(Reflection.submitted_at), col(Reflection.id))
    ).all()
    answers: dict[int, list[ReflectionAnswer]] = {}
    if reflections:
        for answer in session.exec(
            select(ReflectionAnswer)
            .where(col(ReflectionAnswer.reflection_id).in_([r.id for r in reflections]))
            .order_by(col(ReflectionAnswer.id))
        ).all():
            answers.setdefault(answer.reflection_id, []).append(answer)
    return {
        "about": (
            "Everything Circlebot holds about you in this workspace. Dates and times are UTC "
            "(ISO 8601)."
        ),
        "generated_at": _iso(now),
        "workspace": team_id,
        "user_id": user_id,
        "profile": None
        if profile is None
        else {
            "name": profile.name,
            "real_name": profile.real_name,
            "display_name": profile.display_name,
            "title": profile.title,
            "time_zone": profile.tz,
            "left_slack": profile.deleted,
            "refreshed_at": _iso(profile.refreshed_at),
        },
        "memberships": [
            {
                "circle": circle_name(m.circle_id),
                "channel_id": circles[m.circle_id].channel_id if m.circle_id in circles else None,
                "role": m.role,
                "added_at": _iso(m.added_at),
                "removed_at": _iso(m.removed_at),
                "away_until": _iso(m.away_until),
                "team": m.team,
                "left_out_of_pairing": m.pairing_opt_out,
            }
            for m in session.exec(
                select(Membership)
                .where(Membership.team_id == team_id, Membership.user_id == user_id)
                .order_by(col(Membership.added_at), col(Membership.id))
            ).all()
        ],
        "pairings": person_pairings(
            session,
            team_id=team_id,
            user_id=user_id,
            circle_names={cid: c.name for cid, c in circles.items()},
        ),
        "reflections": [
            {
                "id": r.id,
                "circle": circle_name(r.circle_id),
                "kind": r.kind,
                "week_start": _iso(r.week_start),
                "submitted_at": _iso(r.submitted_at),
                "edited_at": _iso(r.edited_at),
                "visibility": r.visibility,
                "show_my_name_when_quoted": r.named,
                "peer_user_id": r.peer_user_id,
                "question_set": r.prompt_set,
                "answers": [
                    {
                        "question_id": a.question_id,
                        "question": labels.label(r.prompt_set, r.kind, a.question_id),
                        "kind": a.kind,
                        "text": a.text,
                        "number": a.number,
                    }
                    for a in sorted(
                        answers.get(r.id or 0, []),
                        key=lambda a, r=r: labels.order(r.prompt_set, r.kind, a.question_id),  # type: ignore[misc]
                    )
                ],
            }
            for r in reflections
        ],
        "action_items": [
            {
                "id": item.id,
                "circle": circle_name(item.circle_id),
                "text": item.text,
                "status": item.status,
                "due_date": _iso(item.due_date),
                "created_at": _iso(item.created_at),
                "done_at": _iso(item.done_at),
                "dropped_at": _iso(item.dropped_at),
                "not_yet_count": item.not_yet_count,
                "reflection_id": item.reflection_id,
            }
            for item in session.exec(
                select(ActionItem)
                .where(ActionItem.team_id == team_id, ActionItem.user_id == user_id)
                .order_by(col(ActionItem.created_at), col(ActionItem.id))
            ).all()
        ],
        "demo_signups": [
            {
                "circle": circle_name(demo.circle_id),
                "demo_day": demo.title,
                "starts_at": _iso(demo.starts_at),
                "title": signup.title,
                "what_i_tried": signup.what_tried,
                "created_at": _iso(signup.created_at),
                "updated_at": _iso(signup.updated_at),
            }
            for signup, demo in session.exec(
                select(DemoSignup, DemoDay)
                .join(DemoDay, col(DemoDay.id) == col(DemoSignup.demo_day_id))
                .where(DemoSignup.team_id == team_id, DemoSignup.user_id == user_id)
                .order_by(col(DemoDay.starts_at), col(DemoSignup.id))
            ).all()
        ],
        "messages_sent_to_you": [
            {
                "circle": circle_name(d.circle_id),
                "kind": d.kind,
                "due_at": _iso(d.due_at),
                "status": d.status,
                "sent_at": _iso(d.sent_at),
                "answered_at": _iso(d.answered_at),
                "skipped_at": _iso(d.skipped_at),
            }
            for d in session.exec(
                select(Delivery)
                .where(Delivery.team_id == team_id, Delivery.recipient == user_id)
                .order_by(col(Delivery.due_at), col(Delivery.id))
            ).all()
        ],
    }


def person_data_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- export

EXPORT_COLUMNS = (
    "circle",
    "reflection_id",
    "kind",
    "week_start",
    "submitted_at",
    "visibility",
    "author_id",
    "author_name",
    "question_id",
    "question",
    "answer",
    "action_item_status",
    "action_item_due",
)
PRIVATE_ROW = "(private: only its author can read it)"
# A cell a spreadsheet would run as a formula (or as DDE) starts with one of these.
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def csv_cell(value: object) -> object:
    """A value safe for a spreadsheet: text that would start a formula gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, str) and _FORMULA_START.match(value):
        return "'" + value
    return value


@dataclass
class ExportFile:
    content: bytes
    reflections: int = 0
    private: int = 0  # reflections shown only as a row without text
    rows: int = 0


def export_circle_csv(session: Session, circle: Circle, *, reader_id: str) -> ExportFile:
    """The circle's reflections as the reader's role may read them, one row per answer.

    Text is included when its visibility is one `reader_id`'s role in the circle may read
    (bot/visibility.py) — the file is for the role, so the reader's own `private`
    reflections get no text here either (`/circle my-data` has them). A reflection whose
    text may not be read is one row without author, question or answer: it is counted, not
    quoted. The author is named only where they chose to be named when quoted.
    """
    role = role_in_circle(
        session, team_id=circle.team_id, circle_id=circle.id or 0, user_id=reader_id
    )
    readable = readable_for_role(role)
    reflections = session.exec(
        select(Reflection)
        .where(Reflection.team_id == circle.team_id, Reflection.circle_id == circle.id)
        .order_by(col(Reflection.week_start), col(Reflection.submitted_at), col(Reflection.id))
    ).all()
    readable_ids = [r.id for r in reflections if r.visibility in readable]
    answers: dict[int, list[ReflectionAnswer]] = {}
    items: dict[tuple[int, str], ActionItem] = {}
    if readable_ids:
        for row in session.exec(
            select(ReflectionAnswer).where(col(ReflectionAnswer.reflection_id).in_(readable_ids))
        ).all():
            answers.setdefault(row.reflection_id, []).append(row)
        for action in session.exec(
            select(ActionItem).where(col(ActionItem.reflection_id).in_(readable_ids))
        ).all():
            items[(action.reflection_id or 0, action.question_id)] = action
    people = _people_named(session, circle.team_id, reflections, answers)
    labels = _Labels()
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    export = ExportFile(content=b"")
    for r in reflections:
        export.reflections += 1
        common = [
            circle.name,
            r.id,
            r.kind,
            _iso(r.week_start),
            _iso(r.submitted_at),
            r.visibility,
        ]
        if r.visibility not in readable:
            export.private += 1
            writer.writerow([csv_cell(v) for v in [*common, "", "", "", "", PRIVATE_ROW, "", ""]])
            export.rows += 1
            continue
        author = [r.user_id, people.get(r.user_id, "")] if r.named else ["", ""]
        for a in sorted(
            answers.get(r.id or 0, []),
            key=lambda a, r=r: labels.order(r.prompt_set, r.kind, a.question_id),  # type: ignore[misc]
        ):
            item = items.get((r.id or 0, a.question_id))
            answer: object = a.number if a.number is not None else (a.text or "")
            if a.kind == "user" and a.text:
                answer = people.get(a.text, a.text)
            cells = [
                *common,
                *author,
                a.question_id,
                labels.label(r.prompt_set, r.kind, a.question_id),
                answer,
                item.status if item else "",
                _iso(item.due_date) if item else "",
            ]
            writer.writerow([csv_cell(v) for v in cells])
            export.rows += 1
    # UTF-8 with a byte-order mark, so spreadsheets read accents right.
    export.content = out.getvalue().encode("utf-8-sig")
    return export


def _people_named(
    session: Session,
    team_id: str,
    reflections: Iterable[Reflection],
    answers: dict[int, list[ReflectionAnswer]],
) -> dict[str, str]:
    """Names for the authors and `user` answers of an export ("… (left Slack)" if gone)."""
    ids = {r.user_id for r in reflections if r.named}
    ids |= {a.text for rows in answers.values() for a in rows if a.kind == "user" and a.text}
    names = {PLACEHOLDER: "a forgotten person"}
    if ids:
        for person in session.exec(
            select(Person).where(Person.team_id == team_id, col(Person.user_id).in_(sorted(ids)))
        ).all():
            names[person.user_id] = person.label + (" (left Slack)" if person.deleted else "")
    return names


# --------------------------------------------------------------------------- retention

# What an archived circle and a past demo day are called once retention has cleared the names
# a facilitator gave them (code that shows a name keeps reading well).
ARCHIVED_CIRCLE_NAME = "Archived circle"
PAST_DEMO_DAY_TITLE = "Demo day"

# Every column of the schema that holds text, and what retention does with it.
# tests/bot/test_data_rights.py compares this with the database's own catalogue, so a new
# text column fails it until it is decided here (and, if people write it, cleared below).
RETENTION_COLUMNS: dict[str, tuple[str, ...]] = {
    # Words people wrote: cleared once old (see sweep_retention).
    "cleared": (
        "reflection_answer.text",
        "action_item.text",
        "demo_signup.title",
        "demo_signup.what_tried",
    ),
    # Labels a facilitator wrote to run a live circle: replaced once that circle, demo day or
    # membership is over.
    "labels": ("circle.name", "demo_day.title", "membership.team"),
    # Copied from the person's Slack profile (users.info): cleared once they are in no live
    # circle; a later look-up fills it again.
    "profile": ("person.name", "person.real_name", "person.display_name", "person.title"),
    # Slack ids, keys built from ids and dates, and request signatures (HMACs, no body):
    # who and where, kept for the metrics.
    "ids": (
        "person.team_id",
        "person.user_id",
        "circle.team_id",
        "circle.channel_id",
        "circle.created_by",
        "membership.team_id",
        "membership.user_id",
        "membership.added_by",
        "schedule.team_id",
        "schedule.created_by",
        "skip_day.team_id",
        "skip_day.created_by",
        "demo_day.team_id",
        "demo_day.created_by",
        "demo_day.cancelled_by",
        "demo_signup.team_id",
        "demo_signup.user_id",
        "delivery.team_id",
        "delivery.key",
        "delivery.recipient",
        "delivery.channel_id",
        "delivery.message_ts",
        "reflection.team_id",
        "reflection.user_id",
        "reflection.peer_user_id",
        "reflection.view_id",
        "reflection_answer.team_id",
        "action_item.team_id",
        "action_item.user_id",
        "pairing_round.team_id",
        "pairing_round.key",
        "pairing_round.created_by",
        "pairing_member.team_id",
        "pairing_member.user_id",
        "seen_request.signature",
    ),
    # Values chosen by code: statuses, kinds, question ids, Slack error codes, offsets.
    "codes": (
        "circle.status",
        "membership.role",
        "schedule.kind",
        "demo_day.reminder_offsets",
        "delivery.kind",
        "delivery.status",
        "delivery.error",
        "reflection.kind",
        "reflection.visibility",
        "reflection_answer.question_id",
        "reflection_answer.kind",
        "action_item.question_id",
        "action_item.status",
        "pairing_member.skip_reason",
        "alembic_version.version_num",
    ),
    # Settings: time zones and question-set names.
    "settings": (
        "person.tz",
        "circle.tz",
        "circle.prompt_set",
        "schedule.pinned_tz",
        "reflection.prompt_set",
    ),
}


@dataclass
class RetentionReport:
    answers_cleared: int = 0
    action_items_cleared: int = 0
    signups_cleared: int = 0
    circle_names_cleared: int = 0
    demo_titles_cleared: int = 0
    team_labels_cleared: int = 0
    profiles_cleared: int = 0

    def line(self) -> str:
        return (
            f"retention: cleared the text of {self.answers_cleared} answers, "
            f"{self.action_items_cleared} action items and {self.signups_cleared} demo "
            f"sign-ups, {self.circle_names_cleared} circle names, {self.demo_titles_cleared} "
            f"demo-day titles, {self.team_labels_cleared} team labels and "
            f"{self.profiles_cleared} profiles"
        )


@dataclass(frozen=True)
class _Clearing:
    """One kind of old text: rows of `model` matching `where` get `values`.

    `where` must be false once the values are set, so a second run finds nothing.
    """

    report_field: str
    model: Any
    where: Any
    values: dict[str, Any]
    join: Any = None  # (model, on) when `where` reads another table


def _over_before(circle_id: Any, cutoff: datetime) -> Any:
    """The circle was archived before the cut-off."""
    return (
        select(col(Circle.id))
        .where(col(Circle.id) == circle_id, col(Circle.archived_at) < cutoff)
        .exists()
    )


def _clearings(cutoff: datetime) -> tuple[_Clearing, ...]:
    active_owner = (
        select(col(Membership.id))
        .where(
            col(Membership.circle_id) == col(ActionItem.circle_id),
            col(Membership.user_id) == col(ActionItem.user_id),
            col(Membership.removed_at).is_(None),
        )
        .exists()
    )
    archived = (
        select(col(Circle.id))
        .where(col(Circle.id) == col(ActionItem.circle_id), col(Circle.archived_at).is_not(None))
        .exists()
    )
    demo_day_over = or_(
        col(DemoDay.starts_at) < cutoff,
        col(DemoDay.cancelled_at) < cutoff,
        _over_before(col(DemoDay.circle_id), cutoff),
    )
    in_a_live_circle = (
        select(col(Membership.id))
        .join(Circle, col(Circle.id) == col(Membership.circle_id))
        .where(
            col(Membership.team_id) == col(Person.team_id),
            col(Membership.user_id) == col(Person.user_id),
            col(Membership.removed_at).is_(None),
            col(Circle.archived_at).is_(None),
        )
        .exists()
    )
    profile = (Person.name, Person.real_name, Person.display_name, Person.title)
    return (
        _Clearing(
            "answers_cleared",
            ReflectionAnswer,
            and_(col(Reflection.submitted_at) < cutoff, col(ReflectionAnswer.text).is_not(None)),
            {"text": None},
            join=(Reflection, col(Reflection.id) == col(ReflectionAnswer.reflection_id)),
        ),
        _Clearing(
            "action_items_cleared",
            ActionItem,
            and_(
                col(ActionItem.created_at) < cutoff,
                col(ActionItem.text) != "",
                or_(col(ActionItem.status) != ActionItemStatus.OPEN, archived, ~active_owner),
            ),
            {"text": ""},
        ),
        _Clearing(
            "signups_cleared",
            DemoSignup,
            and_(or_(col(DemoSignup.title) != "", col(DemoSignup.what_tried) != ""), demo_day_over),
            {"title": "", "what_tried": ""},
            join=(DemoDay, col(DemoDay.id) == col(DemoSignup.demo_day_id)),
        ),
        _Clearing(
            "demo_titles_cleared",
            DemoDay,
            and_(col(DemoDay.title) != PAST_DEMO_DAY_TITLE, demo_day_over),
            {"title": PAST_DEMO_DAY_TITLE},
        ),
        _Clearing(
            "team_labels_cleared",
            Membership,
            and_(
                col(Membership.team).is_not(None),
                or_(
                    col(Membership.removed_at) < cutoff,
                    _over_before(col(Membership.circle_id), cutoff),
                ),
            ),
            {"team": None},
        ),
        _Clearing(
            "circle_names_cleared",
            Circle,
            and_(col(Circle.archived_at) < cutoff, col(Circle.name) != ARCHIVED_CIRCLE_NAME),
            {"name": ARCHIVED_CIRCLE_NAME},
        ),
        _Clearing(
            "profiles_cleared",
            Person,
            and_(
                col(Person.refreshed_at) < cutoff,
                or_(*(col(field) != "" for field in profile)),
                ~in_a_live_circle,
            ),
            {"name": "", "real_name": "", "display_name": "", "title": ""},
        ),
    )


def _keys(model: Any) -> tuple[Any, ...]:
    return tuple(col(c) for c in model.__table__.primary_key.columns)


def _clear(db: Database, clearing: _Clearing, batch_size: int) -> int:
    """Apply one clearing in batches of `batch_size`, each its own short transaction."""
    keys = _keys(clearing.model)
    found = select(*keys)
    if clearing.join is not None:
        found = found.join(*clearing.join)
    found = found.where(clearing.where).order_by(*keys).limit(batch_size)
    cleared = 0
    while True:
        with db.session() as session:
            rows = [tuple(row) for row in session.execute(found).all()]
            if rows:
                if len(keys) == 1:
                    matched = keys[0].in_([row[0] for row in rows])
                else:
                    matched = tuple_(*keys).in_(rows)
                session.execute(
                    update(clearing.model)
                    .where(matched)
                    .values(clearing.values)
                    .execution_options(synchronize_session=False)
                )
        cleared += len(rows)
        if len(rows) < batch_size:
            return cleared


def sweep_retention(
    db: Database, *, now: datetime, days: int, batch_size: int = 500
) -> RetentionReport:
    """Clear the text people wrote more than `days` days ago; keep every row and number.

    What a person wrote reaches only the readers they chose; after the retention period it
    reaches nobody. Each kind of text is cleared where nothing will ask for it again; rows,
    counts, 1-5 scales, statuses and dates stay, so the metrics and the 8-week trend survive.
    Column by column (RETENTION_COLUMNS lists every text column of the schema):

    - reflection_answer.text: NULL when the reflection was submitted before the cut-off
      (1-5 scales keep their `number`; a `user` answer, a peer's id, goes too).
    - action_item.text: "" when created before the cut-off and closed (done, dropped), or
      still open but followed up by nobody: its circle is archived, or its owner is no longer
      an active member of that circle (removed, or no membership). An open item of an active
      member keeps its text while check-ins still ask about it; once it closes (or they
      leave) the next sweep clears it. A cleared item is no longer followed up
      (bot/action_items.open_items), should its owner be added back.
    - demo_signup.title, what_tried: "" once the demo day took place or was cancelled before
      the cut-off, or its circle was archived before the cut-off.
    - Facilitators' labels, needed to run a live circle and kept while it runs: circle.name
      becomes ARCHIVED_CIRCLE_NAME once the circle was archived before the cut-off (a name
      can say a lot: "Layoff survivors"); demo_day.title becomes PAST_DEMO_DAY_TITLE once
      the demo day is over as above (its sign-ups stay counted); membership.team (`/circle
      team`) becomes NULL once the membership ended (removed, or its circle archived) before
      the cut-off.
    - person.name, real_name, display_name, title (a copy of the Slack profile, which its
      owner wrote): "" when refreshed before the cut-off and the person is an active member of
      no live circle. It is a cache: the next users.info look-up fills it again. `tz` stays
      (a circle without its own zone runs in its creator's).
    - Kept: Slack ids and keys built from them, values chosen by code (statuses, kinds,
      question ids, Slack error codes) and settings (zones, question-set names).

    The learnings search index (migration 0005) follows reflection_answer.text through
    triggers; on SQLite every sweep then merges it (FTS5 keeps a changed row's words in its
    pages until merged; merging an index already merged writes nothing), so no cleared word,
    nor one left by an edit or an interrupted sweep, stays in it. On PostgreSQL the tables
    the sweep changed are vacuumed, which removes the old row versions and their entries in
    the search index now rather than whenever autovacuum gets to them.

    Batches of `batch_size`, each its own short transaction; running it again finds nothing.
    """
    cutoff = now - timedelta(days=days)
    report = RetentionReport()
    changed: list[str] = []
    for clearing in _clearings(cutoff):
        count = _clear(db, clearing, batch_size)
        setattr(report, clearing.report_field, count)
        if count:
            changed.append(clearing.model.__tablename__)
    if db.is_sqlite:
        with db.session() as session:
            compact(session, Compact(SEARCH_INDEX))
    elif changed:
        _vacuum(db, changed)
    return report


def retention_job(db: Database, days: int) -> Callable[[datetime], str]:
    """The scheduler's daily job for DATA_RETENTION_DAYS: sweep, and say what was cleared."""

    def sweep(now: datetime) -> str:
        return f"{sweep_retention(db, now=now, days=days).line()} (older than {days} days)"

    return sweep


def _vacuum(db: Database, tables: Sequence[str]) -> None:
    """PostgreSQL: drop the old versions of the rows just changed (VACUUM runs outside a
    transaction). Without the privilege the server skips it with a warning; autovacuum
    does it later anyway, so a failure is only logged."""
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for name in dict.fromkeys(tables):
                # Table names come from the models, not from input.
                connection.exec_driver_sql(f'VACUUM "{name}"')
    except DBAPIError as exc:
        logger.warning(
            "retention: could not vacuum the cleared tables (%s)", type(exc.orig).__name__
        )


# --------------------------------------------------------------------------- Slack side


def send_file_by_dm(
    client: WebClient, user_id: str, *, filename: str, content: bytes, title: str, comment: str
) -> str | None:
    """Upload a file into the person's DM with the bot; None when done, else Slack's error.

    files.completeUploadExternal takes a conversation id, not a user id, so the DM is
    opened first.
    """
    try:
        opened = client.conversations_open(users=user_id)
        client.files_upload_v2(
            channel=str(opened["channel"]["id"]),
            filename=filename,
            content=content,
            title=title,
            initial_comment=comment,
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        logger.warning("could not send %s to %s: %s", filename, user_id, error)
        return error
    except (SlackClientError, OSError) as exc:
        logger.warning("could not send %s to %s", filename, user_id, exc_info=True)
        return type(exc).__name__
    return None


MAX_CIRCLES_NAMED = 10


def forget_me_modal(summary: PersonSummary) -> dict[str, Any]:
    """The confirmation: what goes, what stays, and that it can't be undone."""
    c = summary.counts
    names = summary.circle_names
    shown = ", ".join(f"*{mrkdwn.escape(n)}*" for n in names[:MAX_CIRCLES_NAMED])
    if len(names) > MAX_CIRCLES_NAMED:
        shown += f" and {len(names) - MAX_CIRCLES_NAMED} more"
    goes = [
        f"• {_count(c.get('reflection', 0), 'reflection')} with all their answers",
        f"• {_count(c.get('action_item', 0), 'action item')}",
        f"• {_count(c.get('demo_signup', 0), 'demo sign-up')}",
        f"• your membership of {_count(len(names), 'circle')}" + (f": {shown}" if names else ""),
        f"• {_count(c.get('delivery', 0), 'record')} of check-ins and messages sent to you",
        "• your Slack profile details (name, title, time zone)",
    ]
    return {
        "type": "modal",
        "callback_id": FORGET_ME_CALLBACK_ID,
        "title": block_kit.plain("Forget me"),
        "submit": block_kit.plain("Delete my data"),
        "close": block_kit.plain("Cancel"),
        "blocks": [
            block_kit.section(
                "*This deletes everything Circlebot holds about you:*\n" + "\n".join(goes)
            ),
            block_kit.section(
                "Where a circle needs to remember that someone did something (created a "
                "schedule, cancelled a demo day, was named as a peer in someone else's "
                "debrief, was paired with someone), it will say “a forgotten person” instead "
                "of you. Messages already sent in Slack, such as digests, are not changed."
            ),
            block_kit.section(
                "*This can't be undone.* Want a copy first? Cancel and run `/circle my-data`."
            ),
        ],
    }


NOTHING_HELD = (
    "I don't hold any data about you: you're not in any circle and haven't written anything "
    "here, so there is nothing to send or delete."
)


def my_data(command: MyData, inv: Invocation, deps: Deps) -> Outcome:
    return _my_data(inv, deps)


def forget_me(command: ForgetMe, inv: Invocation, deps: Deps) -> Outcome:
    return _forget_me(inv, deps)


def export(command: Export, inv: Invocation, deps: Deps) -> Outcome:
    return _export(inv, deps)


def _my_data(inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.read_session() as session:
        if not any(own_row_counts(session, inv.team_id, inv.user_id).values()):
            return Outcome(NOTHING_HELD)

    def follow_up() -> str:
        now = deps.clock()
        with deps.db.read_session() as session:
            data = collect_person_data(session, team_id=inv.team_id, user_id=inv.user_id, now=now)
        error = send_file_by_dm(
            deps.client,
            inv.user_id,
            filename=f"circlebot-my-data-{now:%Y-%m-%d}.json",
            content=person_data_json(data),
            title="Your Circlebot data",
            comment="Here is everything Circlebot holds about you (JSON, UTF-8).",
        )
        if error:
            return (
                f"I couldn't send your data just now (Slack said `{mrkdwn.escape(error)}`). "
                "Please try `/circle my-data` again in a minute."
            )
        return "Sent: your data is a JSON file in your direct messages with me."

    return Outcome(
        "Preparing your data… I'll send it to you as a file in a direct message.", follow_up
    )


def _forget_me(inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.read_session() as session:
        summary = person_summary(session, inv.team_id, inv.user_id)
        if summary.is_empty:
            return Outcome(NOTHING_HELD)
        stuck = circles_needing_a_facilitator(session, inv.team_id, inv.user_id)
        if stuck:
            raise last_facilitator_refusal(stuck)
    view = forget_me_modal(summary)

    def follow_up() -> str | None:
        try:
            deps.client.views_open(trigger_id=inv.trigger_id, view=view)
        except (SlackClientError, OSError):
            logger.warning("could not open the forget-me confirmation", exc_info=True)
            return (
                "I couldn't open the confirmation just now, so nothing was deleted. "
                "Please run `/circle forget-me` again."
            )
        return None

    return Outcome("Check the form that opened: nothing is deleted until you confirm.", follow_up)


def _export(inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.read_session() as session:
        circle = circle_here(session, inv, subcommand="export")
        require_facilitator(session, circle, inv.user_id, "export its data")
        circle_id, name = circle.id, circle.name

    def follow_up() -> str:
        now = deps.clock()
        with deps.db.read_session() as session:
            found = session.get(Circle, circle_id)
            if found is None:
                return "This circle no longer exists, so there is nothing to export."
            require_facilitator(session, found, inv.user_id, "export its data")
            export = export_circle_csv(session, found, reader_id=inv.user_id)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "circle"
        error = send_file_by_dm(
            deps.client,
            inv.user_id,
            filename=f"circlebot-{slug}-{now:%Y-%m-%d}.csv",
            content=export.content,
            title=f"{name}: reflections",
            comment=(
                f"The reflections of {mrkdwn.escape(name)} you may read, one row per answer "
                f"({_count(export.reflections, 'reflection')}; private ones are counted "
                "without their text)."
            ),
        )
        if error:
            return (
                f"I couldn't send the export just now (Slack said `{mrkdwn.escape(error)}`). "
                "Please try `/circle export` again in a minute."
            )
        return (
            f"Sent: the export of *{mrkdwn.escape(name)}* "
            f"({_count(export.reflections, 'reflection')}, {export.private} private without text) "
            "is a CSV file in your direct messages with me."
        )

    return Outcome(
        f"Preparing the export of *{mrkdwn.escape(name)}*… I'll send it to you in a direct "
        "message, not in this channel.",
        follow_up,
    )
