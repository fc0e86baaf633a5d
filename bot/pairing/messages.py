"""A pair's introduction in their group DM, and the note to someone left out of a round."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlmodel import Session, col, select

from bot.calendar.recurrence import next_fire_time, recurrence_of
from bot.calendar.zones import circle_zone, zone
from bot.circles import rules as circles
from bot.delivery.engine import OPEN_GROUP_DM
from bot.pairing.queries import AWAY, FORGOTTEN, PAIRING_SKIPPED
from bot.slack import block_kit
from bot.slack.block_kit import Message
from bot.slack.text import day_text
from prompts import mention, render
from storage.models import (
    Circle,
    Delivery,
    PairingMember,
    Schedule,
    ScheduleKind,
)


def mentions(user_ids: Iterable[str]) -> Markup:
    """`<@A>`, `<@A> and <@B>`, `<@A>, <@B> and <@C>` (validated ids only)."""
    shown = [mention(u) for u in user_ids]
    if len(shown) <= 1:
        return shown[0] if shown else Markup()
    return Markup(", ").join(shown[:-1]) + Markup(" and ") + shown[-1]


def intro_message(*, circle_name: str, members: Sequence[str], next_debrief: str | None) -> Message:
    """The group DM: who is paired, a suggested agenda, and when the debrief comes."""
    who = mentions(members)
    head = render(
        "messages/pairing_intro.md.j2",
        members=who,
        circle_name=circle_name,
        trio=len(members) > 2,
    )
    agenda = render("messages/pairing_agenda.md.j2")
    debrief = render("messages/pairing_debrief.md.j2", next_debrief=next_debrief)
    fallback = render("messages/pairing_intro_fallback.md.j2", members=who, circle_name=circle_name)
    return {
        "text": fallback,
        "blocks": [block_kit.section(head), block_kit.section(agenda), block_kit.context(debrief)],
    }


def skipped_message(*, circle_name: str, reason: str | None, away_until: date | None) -> Message:
    text = render(
        "messages/pairing_skipped.md.j2",
        circle_name=circle_name,
        reason=reason,
        until=day_text(away_until, year=True) if away_until else None,
    )
    return {"text": text, "blocks": [block_kit.section(text)]}


def next_debrief_text(session: Session, circle: Circle, after: datetime) -> str | None:
    """The circle's next debrief after `after`, for people; None when none is scheduled."""
    schedules = session.exec(
        select(Schedule).where(
            Schedule.circle_id == circle.id,
            Schedule.kind == ScheduleKind.DEBRIEF,
            col(Schedule.removed_at).is_(None),
        )
    ).all()
    if not schedules:
        return None
    home = circle_zone(session, circle)
    found: list[tuple[datetime, str]] = []
    for schedule in schedules:
        tz: ZoneInfo = zone(schedule.pinned_tz) if schedule.pinned_tz else home
        moment = next_fire_time(recurrence_of(schedule), tz, after)
        local = moment.astimezone(tz)
        when = f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"
        where = f" ({tz.key})" if schedule.pinned_tz else ", each of you in your own time zone"
        found.append((moment, when + where))
    return min(found)[1]


def message_for_delivery(session: Session, delivery: Delivery, circle: Circle) -> Message | None:
    """A pairing delivery's message (None: nothing to send any more)."""

    if delivery.kind == PAIRING_SKIPPED:
        row = session.exec(
            select(PairingMember).where(
                PairingMember.round_id == delivery.ref_id,
                PairingMember.user_id == delivery.recipient,
            )
        ).first()
        if row is None:
            return None
        membership = circles.membership_of(session, circle, delivery.recipient)
        away_until = (
            membership.away_until if membership is not None and row.skip_reason == AWAY else None
        )
        return skipped_message(
            circle_name=circle.name, reason=row.skip_reason, away_until=away_until
        )
    first = session.exec(
        select(PairingMember).where(
            PairingMember.round_id == delivery.ref_id,
            PairingMember.user_id == delivery.recipient,
            col(PairingMember.group_no) > 0,
        )
    ).first()
    if first is None:
        return None
    members = [
        user_id
        for user_id in session.exec(
            select(PairingMember.user_id)
            .where(
                PairingMember.round_id == delivery.ref_id,
                PairingMember.group_no == first.group_no,
            )
            .order_by(col(PairingMember.user_id))
        ).all()
        if user_id != FORGOTTEN
    ]
    if len(members) < 2:
        return None
    message = intro_message(
        circle_name=circle.name,
        members=members,
        next_debrief=next_debrief_text(session, circle, delivery.due_at),
    )
    return {OPEN_GROUP_DM: members, **message}
