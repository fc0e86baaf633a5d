"""DATA_RETENTION_DAYS: old text people wrote is cleared every day; counts, scales and dates
stay for the metrics. `RETENTION_COLUMNS` decides every text column of the schema."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    or_,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from bot.data_rights.rows import SEARCH_INDEX, Compact, compact
from storage.db import Database
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
)

# What an archived circle and a past demo day are called once retention has cleared the names
# a facilitator gave them (code that shows a name keeps reading well).
ARCHIVED_CIRCLE_NAME = "Archived circle"

logger = logging.getLogger(__name__)


PAST_DEMO_DAY_TITLE = "Demo day"


# Every column of the schema that holds text, and what retention does with it.
# tests/bot/data_rights/test_data_rights.py compares this with the database's own catalogue,
# so a new text column fails it until it is decided here (and, if people write it, cleared
# below).
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
