"""A facilitator's export of their circle (`/circle export`): CSV of what they may read."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.data_rights.my_data import QuestionLabels, iso_text
from bot.data_rights.rows import PLACEHOLDER
from bot.reflections.visibility import readable_for_role, role_in_circle
from storage.models import (
    ActionItem,
    Circle,
    Person,
    Reflection,
    ReflectionAnswer,
)

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
    (bot/reflections/visibility.py) — the file is for the role, so the reader's own `private`
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
    labels = QuestionLabels()
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
            iso_text(r.week_start),
            iso_text(r.submitted_at),
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
                iso_text(item.due_date) if item else "",
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
