"""Forgetting a person: what is held about them, who must hand over first, and deleting it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    func,
)
from sqlmodel import Session, col, select

from bot.circles.rules import Refusal
from bot.data_rights.rows import FORGET_STEPS, Compact, NamedIn, apply_step, own_row_counts
from bot.slack import block_kit, mrkdwn
from storage.models import (
    Circle,
    Membership,
    Person,
    Role,
)

FORGET_ME_CALLBACK_ID = "forget_me_confirm"


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
        count = apply_step(session, step, team_id, user_id)
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
        count_text(d.get("reflection", 0), "reflection"),
        count_text(d.get("action_item", 0), "action item"),
        count_text(d.get("demo_signup", 0), "demo sign-up"),
        count_text(d.get("membership", 0), "circle membership"),
        count_text(
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


def count_text(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


MAX_CIRCLES_NAMED = 10


def forget_me_modal(summary: PersonSummary) -> dict[str, Any]:
    """The confirmation: what goes, what stays, and that it can't be undone."""
    c = summary.counts
    names = summary.circle_names
    shown = ", ".join(f"*{mrkdwn.escape(n)}*" for n in names[:MAX_CIRCLES_NAMED])
    if len(names) > MAX_CIRCLES_NAMED:
        shown += f" and {len(names) - MAX_CIRCLES_NAMED} more"
    goes = [
        f"• {count_text(c.get('reflection', 0), 'reflection')} with all their answers",
        f"• {count_text(c.get('action_item', 0), 'action item')}",
        f"• {count_text(c.get('demo_signup', 0), 'demo sign-up')}",
        f"• your membership of {count_text(len(names), 'circle')}"
        + (f": {shown}" if names else ""),
        f"• {count_text(c.get('delivery', 0), 'record')} of check-ins and messages sent to you",
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
