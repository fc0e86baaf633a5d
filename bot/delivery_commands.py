"""`/circle checkin now`, `/circle debrief now` and `/circle status`.

"Now" sends go through the same delivery machinery as scheduled ones: each message is
registered under a key for (kind, circle, person, minute), so a repeated command within the
same minute sends nothing twice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot import circles, mrkdwn
from bot.circles import Refusal
from bot.delivery import TickReport
from bot.due import DueMessage, circle_zone, is_paused_on, participants_of, zone
from bot.recurrence import local_date_of
from storage.models import Circle, Delivery, DeliveryStatus

if TYPE_CHECKING:
    from bot.circle_commands import Deps, Invocation, Outcome

KIND_WORDS = {"checkin": "check-in", "debrief": "debrief", "nudge": "nudge"}


def run(command: object, invocation: Invocation, deps: Deps) -> Outcome:
    from bot.commands import SendNow, Status

    if isinstance(command, SendNow):
        return send_now(command.kind, invocation, deps)
    if isinstance(command, Status):
        return status(invocation, deps)
    raise TypeError(f"not a delivery command: {command!r}")


def recipients_now(
    session: Session, circle: Circle, now: datetime
) -> tuple[list[tuple[str, datetime]], list[str]]:
    """Active participants who can get a message now, and those away today."""
    members = participants_of(session, {circle.id or 0})[circle.id or 0]
    ready: list[tuple[str, datetime]] = []
    away: list[str] = []
    for membership, person in members:
        local_day = local_date_of(now, zone(person.tz if person else None))
        if membership.away_until is not None and local_day <= membership.away_until:
            away.append(membership.user_id)
        else:
            ready.append((membership.user_id, now))
    return ready, away


def send_now(kind: str, inv: Invocation, deps: Deps) -> Outcome:
    from bot.circle_commands import Outcome, circle_here

    word = KIND_WORDS[kind]
    now = deps.clock()
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand=f"{kind} now")
        circles.require_facilitator(session, circle, inv.user_id, f"send a {word}")
        if is_paused_on(circle, now, local_date_of(now, circle_zone(session, circle))):
            until = f" until {circle.paused_until}" if circle.paused_until else ""
            raise Refusal(
                f"*{mrkdwn.escape(circle.name)}* is paused{until}, so nothing is sent. "
                "Use `/circle resume` first."
            )
        ready, away = recipients_now(session, circle, now)
        circle_id, team_id, name = circle.id or 0, circle.team_id, circle.name
    if not ready:
        note = f" ({len(away)} away)" if away else ""
        raise Refusal(f"*{mrkdwn.escape(name)}* has no participants to send a {word} to{note}.")
    minute = now.strftime("%Y-%m-%dT%H:%M")
    due = [
        DueMessage(
            key=f"{kind}-now:{circle_id}:{user_id}:{minute}",
            kind=kind,
            team_id=team_id,
            circle_id=circle_id,
            recipient=user_id,
            due_at=moment,
            local_date=None,
        )
        for user_id, moment in ready
    ]

    def follow_up() -> str:
        deliverer = deps.deliverer
        ids = deliverer.register(due, now=now)
        if not ids:
            return f"The {word} already went out this minute; nothing was sent twice."
        report = deliverer.send(ids, now=now)
        return _send_report(word, name, report, away)

    count = len(ready)
    return Outcome(
        f"Sending the {word} to {count} {'participant' if count == 1 else 'participants'} "
        f"of *{mrkdwn.escape(name)}*…",
        follow_up,
    )


def _send_report(word: str, name: str, report: TickReport, away: list[str]) -> str:
    attempted = report.sent + report.failed + report.retrying
    lines = [f"Sent the {word} of *{mrkdwn.escape(name)}* to {report.sent} of {attempted}."]
    if report.failed or report.retrying:
        reasons = ", ".join(f"{error} ({n})" for error, n in sorted(report.errors.items()))
        lines.append(f"Not delivered: {reasons}. `/circle status` shows who.")
    if away:
        lines.append("Away, so not sent: " + ", ".join(mrkdwn.user(u) for u in away) + ".")
    return "\n".join(lines)


def week_start(now: datetime, circle_tz: str | None) -> datetime:
    """Monday 00:00 of `now`'s week in the circle's zone, as UTC."""
    tz = zone(circle_tz)
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz).astimezone(now.tzinfo)


def status(inv: Invocation, deps: Deps) -> Outcome:
    from bot.circle_commands import Outcome, circle_here

    now = deps.clock()
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="status")
        circles.require_facilitator(session, circle, inv.user_id, "see delivery status")
        tz = circle_zone(session, circle)
        start = week_start(now, tz.key)
        deliveries = session.exec(
            select(Delivery)
            .where(
                Delivery.circle_id == circle.id,
                col(Delivery.due_at) >= start,
                col(Delivery.due_at) <= now,
            )
            .order_by(col(Delivery.due_at), col(Delivery.id))
        ).all()
        return Outcome(_status_text(circle, deliveries, start, tz.key))


def _status_text(circle: Circle, deliveries: Sequence[Delivery], start: datetime, tz: str) -> str:
    header = (
        f"*{mrkdwn.escape(circle.name)}*: deliveries this week "
        f"(since Monday {start.astimezone(zone(tz)):%d %b}, {tz})"
    )
    if not deliveries:
        return header + "\nNothing was due yet this week."
    by_kind: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        by_kind[delivery.kind].append(delivery)
    lines = [header]
    for kind, items in by_kind.items():
        counts = Counter(d.status for d in items)
        answered = sum(1 for d in items if d.answered_at)
        skipped = sum(1 for d in items if d.skipped_at)
        parts = [f"sent {counts[DeliveryStatus.SENT]}"]
        if kind in ("checkin", "debrief"):
            parts += [f"answered {answered}", f"skipped {skipped}"]
        parts.append(f"failed {counts[DeliveryStatus.FAILED]}")
        if counts[DeliveryStatus.MISSED]:
            parts.append(f"missed {counts[DeliveryStatus.MISSED]}")
        waiting = counts[DeliveryStatus.PENDING] + counts[DeliveryStatus.SENDING]
        if waiting:
            parts.append(f"waiting {waiting}")
        lines.append(f"• {KIND_WORDS.get(kind, kind.replace('_', ' '))}: " + ", ".join(parts))
        for delivery in items:
            if delivery.status == DeliveryStatus.FAILED:
                who = (
                    mrkdwn.user(delivery.recipient)
                    if delivery.recipient.startswith(("U", "W"))
                    else mrkdwn.channel(delivery.recipient)
                )
                lines.append(f"    ◦ failed for {who}: `{delivery.error}`")
    return "\n".join(lines)
