"""Skipping a check-in (the DM's Skip button): only its recipient may, once; a check-in
already answered stays answered. The listener (handlers/checkin.py) says how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from storage.models import Circle, Delivery


@dataclass(frozen=True)
class SkipResult:
    outcome: str  # skipped | already_skipped | answered | not_found | not_yours
    circle_name: str = ""
    # The check-in's own DM as the sender recorded it (the click may come from its nudge).
    original: tuple[str, str] | None = None


def skip_delivery(
    session: Session, *, team_id: str, user_id: str, delivery_id: int, now: datetime
) -> SkipResult:
    """Record that `user_id` skips delivery `delivery_id` (or the check-in a nudge belongs to)."""
    clicked = session.get(Delivery, delivery_id)
    if clicked is None or clicked.team_id != team_id:
        return SkipResult("not_found")
    if clicked.recipient != user_id:
        return SkipResult("not_yours")
    target = clicked
    if clicked.parent_id is not None:  # a nudge: the skip is about its check-in
        parent = session.get(Delivery, clicked.parent_id)
        if parent is None or parent.team_id != team_id or parent.recipient != user_id:
            return SkipResult("not_found")
        target = parent
    circle = session.get(Circle, target.circle_id)
    name = circle.name if circle is not None else ""
    original = None
    if target.channel_id and target.message_ts:
        original = (target.channel_id, target.message_ts)
    if target.answered_at is not None:
        return SkipResult("answered", name)
    changed = session.exec(
        update(Delivery)
        .where(col(Delivery.id) == target.id, col(Delivery.skipped_at).is_(None))
        .values(skipped_at=now)
    ).rowcount
    return SkipResult("skipped" if changed else "already_skipped", name, original)
