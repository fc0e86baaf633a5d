"""Action items: "one thing I'll do next", followed up until done or dropped.

An action item is created from a reflection's `action_item` answer (bot/reflections/rules.py).
Later check-ins ask about each open one ("Did you do it?" Done / Not yet / Drop), and the
App Home has a Done button; both come here. Only the owner may change an item.
Done records when, so time-to-implement (created_at to done_at) can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import ActionItem, ActionItemStatus, Circle

# What a follow-up can answer about an open item.
FOLLOW_UP_ANSWERS = ("done", "not_yet", "drop")


@dataclass(frozen=True)
class ItemChange:
    outcome: str  # changed | unchanged | not_found | not_yours
    item: ActionItem | None = None


def open_items(
    session: Session, *, team_id: str, user_id: str, circle_id: int | None = None
) -> list[ActionItem]:
    """A person's open action items (in one circle, or all live circles), oldest due first.

    Items whose text retention cleared (bot/data_rights.sweep_retention: the owner had left
    the circle) are no longer followed up, should the owner be added back.
    """
    query = (
        select(ActionItem)
        .join(Circle, col(Circle.id) == col(ActionItem.circle_id))
        .where(
            ActionItem.team_id == team_id,
            ActionItem.user_id == user_id,
            ActionItem.status == ActionItemStatus.OPEN,
            col(ActionItem.text) != "",
            col(Circle.archived_at).is_(None),
        )
        .order_by(col(ActionItem.due_date).is_(None), col(ActionItem.due_date), col(ActionItem.id))
    )
    if circle_id is not None:
        query = query.where(ActionItem.circle_id == circle_id)
    return list(session.exec(query).all())


def apply_follow_up(
    session: Session,
    *,
    team_id: str,
    user_id: str,
    item_id: int,
    answer: str,
    now: datetime,
) -> ItemChange:
    """Record one follow-up answer (done | not_yet | drop) by the item's owner.

    Only an open item changes; answering an item already done or dropped is `unchanged`
    (a double click or a retried request is harmless). The UPDATE is conditional on the
    status, so two concurrent answers cannot both win.
    """
    if answer not in FOLLOW_UP_ANSWERS:
        raise ValueError(f"answer must be one of {FOLLOW_UP_ANSWERS}, not {answer!r}")
    item = session.get(ActionItem, item_id)
    if item is None or item.team_id != team_id:
        return ItemChange("not_found")
    if item.user_id != user_id:
        return ItemChange("not_yours", item)
    values: dict[str, object]
    if answer == "done":
        values = {"status": ActionItemStatus.DONE, "done_at": now, "last_checked_at": now}
    elif answer == "drop":
        values = {"status": ActionItemStatus.DROPPED, "dropped_at": now, "last_checked_at": now}
    else:
        values = {"last_checked_at": now, "not_yet_count": col(ActionItem.not_yet_count) + 1}
    changed = session.exec(
        update(ActionItem)
        .where(col(ActionItem.id) == item_id, col(ActionItem.status) == ActionItemStatus.OPEN)
        .values(**values)
    ).rowcount
    session.refresh(item)
    return ItemChange("changed" if changed else "unchanged", item)
