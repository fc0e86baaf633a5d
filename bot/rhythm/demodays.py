"""Signing up to demo at a demo day: who may (members of its live circle, before it starts),
and saving the sign-up once per person (a second sign-up edits the first). The listener
(handlers/demoday.py) opens the modal and answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.circles import rules as circles
from bot.circles.rules import Refusal
from bot.slack import mrkdwn
from storage.models import Circle, DemoDay, DemoSignup


class SignupRefused(Exception):
    """Sign-ups are not open to this person. `text` is mrkdwn for a message, `plain` is for a
    modal's error (plain text)."""

    def __init__(self, text: str, plain: str) -> None:
        super().__init__(text)
        self.text = text
        self.plain = plain


NOT_FOUND_TEXT = "I couldn't find this demo day, so there is nothing to sign up to."


NOT_FOUND_PLAIN = "I couldn't find this demo day, so nothing was saved."


@dataclass(frozen=True)
class SignupTarget:
    demo_day: DemoDay
    circle: Circle
    existing: DemoSignup | None


def signup_target(
    session: Session,
    *,
    team_id: str,
    user_id: str,
    demo_day_id: int,
    now: datetime,
    lock: bool = False,
) -> SignupTarget:
    """The demo day `user_id` may sign up to, or SignupRefused saying why not.

    `lock` takes a shared row lock on the demo day (PostgreSQL) so that it cannot be cancelled
    between this check and the write in the same transaction.
    """
    demo_day = session.get(DemoDay, demo_day_id, with_for_update={"read": True} if lock else None)
    if demo_day is None or demo_day.team_id != team_id:
        raise SignupRefused(NOT_FOUND_TEXT, NOT_FOUND_PLAIN)
    circle = session.get(Circle, demo_day.circle_id)
    if circle is None or circle.team_id != team_id:
        raise SignupRefused(NOT_FOUND_TEXT, NOT_FOUND_PLAIN)
    title = mrkdwn.escape(demo_day.title)
    if demo_day.cancelled_at is not None:
        raise SignupRefused(
            f"*{title}* was cancelled, so sign-ups are closed.",
            "This demo day was cancelled, so sign-ups are closed.",
        )
    if demo_day.starts_at <= now:
        raise SignupRefused(
            f"*{title}* has already started, so sign-ups are closed.",
            "This demo day has already started, so sign-ups are closed.",
        )
    if circle.is_archived:
        raise SignupRefused(
            f"*{mrkdwn.escape(circle.name)}* is archived, so sign-ups are closed.",
            "This circle is archived, so sign-ups are closed.",
        )
    try:
        circles.require_member(session, circle, user_id, "sign up to demo")
    except Refusal as refusal:
        raise SignupRefused(
            str(refusal), "Only members of this circle can sign up to demo."
        ) from None
    return SignupTarget(demo_day, circle, _signup_of(session, demo_day_id, user_id))


def _signup_of(session: Session, demo_day_id: int, user_id: str) -> DemoSignup | None:
    return session.exec(
        select(DemoSignup).where(
            DemoSignup.demo_day_id == demo_day_id, DemoSignup.user_id == user_id
        )
    ).first()


def save_signup(
    session: Session,
    target: SignupTarget,
    *,
    user_id: str,
    title: str,
    what_tried: str,
    now: datetime,
) -> str:
    """Insert or update the person's sign-up; "created", "updated" or "unchanged".

    Two submissions racing each other both see no row; the unique constraint lets one insert
    win and the other (inside a savepoint) falls back to updating that row.
    """
    demo_day_id = target.demo_day.id
    assert demo_day_id is not None
    existing = target.existing
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    DemoSignup(
                        team_id=target.demo_day.team_id,
                        demo_day_id=demo_day_id,
                        user_id=user_id,
                        title=title,
                        what_tried=what_tried,
                        created_at=now,
                        updated_at=now,
                    )
                )
            return "created"
        except IntegrityError:
            existing = _signup_of(session, demo_day_id, user_id)
            if existing is None:
                raise
    if (existing.title, existing.what_tried) == (title, what_tried):
        return "unchanged"
    existing.title, existing.what_tried, existing.updated_at = title, what_tried, now
    session.add(existing)
    return "updated"
