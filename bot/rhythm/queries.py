"""A circle's live schedules and demo days, for its subcommands and the App Home."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Circle, DemoDay, Schedule


def live_schedules(session: Session, circle: Circle) -> list[Schedule]:
    return list(
        session.exec(
            select(Schedule)
            .where(Schedule.circle_id == circle.id, col(Schedule.removed_at).is_(None))
            .order_by(col(Schedule.id))
        ).all()
    )


def live_demo_days(session: Session, circle: Circle) -> list[DemoDay]:
    """Demo days not cancelled (past ones included), soonest first."""
    return list(
        session.exec(
            select(DemoDay)
            .where(DemoDay.circle_id == circle.id, col(DemoDay.cancelled_at).is_(None))
            .order_by(col(DemoDay.starts_at), col(DemoDay.id))
        ).all()
    )
