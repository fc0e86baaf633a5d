"""`/circle checkin now`, `/circle debrief now` and `/circle status`.

"Now" sends go through the same delivery machinery as scheduled ones: each message is
registered under a key for (kind, circle, person, minute), so a repeated command within the
same minute sends nothing twice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.calendar.recurrence import local_date_of
from bot.calendar.weeks import week_began
from bot.calendar.zones import circle_zone, zone
from bot.circles import rules as circles
from bot.circles.queries import participants_of
from bot.circles.rules import Refusal, circle_here, refuse_if_paused
from bot.delivery.engine import TickReport
from bot.delivery.kinds import DueMessage
from bot.digest import compose as digest
from bot.digest.commands import DIGEST_KIND_WORDS
from bot.pairing.queries import PeerIndex
from bot.slack import mrkdwn
from bot.slash.base import Outcome
from bot.slash.parse import SendNow, Status
from storage.models import Circle, Delivery, DeliveryStatus, ScheduleKind

if TYPE_CHECKING:
    from bot.slash.base import Deps, Invocation, Outcome

KIND_WORDS = {
    "checkin": "check-in",
    "debrief": "debrief",
    "nudge": "nudge",
    **DIGEST_KIND_WORDS,
}


def send_now_command(command: SendNow, inv: Invocation, deps: Deps) -> Outcome:
    """`/circle checkin now` and `/circle debrief now`."""
    return send_now(command.kind, inv, deps)


def status_command(command: Status, inv: Invocation, deps: Deps) -> Outcome:
    return status(inv, deps)


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

    word = KIND_WORDS[kind]
    now = deps.clock()
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand=f"{kind} now")
        circles.require_facilitator(session, circle, inv.user_id, f"send a {word}")
        refuse_if_paused(session, circle, now, "nothing is sent")
        ready, away = recipients_now(session, circle, now)
        circle_id, team_id, name = circle.id or 0, circle.team_id, circle.name
        unpaired: list[str] = []
        if kind == ScheduleKind.DEBRIEF:
            paired = PeerIndex().paired(session, circle_id, now)
            if paired is not None:  # the circle pairs: the debrief is for the people in a pair
                unpaired = [user_id for user_id, _ in ready if user_id not in paired]
                ready = [(user_id, moment) for user_id, moment in ready if user_id in paired]
    if not ready:
        note = f" ({len(away)} away)" if away else ""
        if unpaired:
            note = f" (none available was in the latest pairing round: `/circle pair`){note}"
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
        return _send_report(word, name, report, away, unpaired)

    count = len(ready)
    return Outcome(
        f"Sending the {word} to {count} {'participant' if count == 1 else 'participants'} "
        f"of *{mrkdwn.escape(name)}*…",
        follow_up,
    )


def _send_report(
    word: str, name: str, report: TickReport, away: list[str], unpaired: list[str]
) -> str:
    attempted = report.sent + report.failed + report.retrying
    lines = [f"Sent the {word} of *{mrkdwn.escape(name)}* to {report.sent} of {attempted}."]
    if report.failed or report.retrying:
        reasons = ", ".join(f"{error} ({n})" for error, n in sorted(report.errors.items()))
        lines.append(f"Not delivered: {reasons}. `/circle status` shows who.")
    if away:
        lines.append("Away, so not sent: " + ", ".join(mrkdwn.user(u) for u in away) + ".")
    if unpaired:
        lines.append(
            "Not in the latest pairing round, so not sent: "
            + ", ".join(mrkdwn.user(u) for u in unpaired)
            + "."
        )
    return "\n".join(lines)


def status(inv: Invocation, deps: Deps) -> Outcome:

    now = deps.clock()
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="status")
        circles.require_facilitator(session, circle, inv.user_id, "see delivery status")
        tz = circle_zone(session, circle)
        start = week_began(now, tz)
        deliveries = session.exec(
            select(Delivery)
            .where(
                Delivery.circle_id == circle.id,
                col(Delivery.due_at) >= start,
                col(Delivery.due_at) <= now,
            )
            .order_by(col(Delivery.due_at), col(Delivery.id))
        ).all()
        # Who each problem was for (a chart's recipient is a DM: name its leader instead).
        who = {
            d.id: str(digest.delivery_recipient(session, d))
            for d in deliveries
            if d.status == DeliveryStatus.FAILED or (d.status == DeliveryStatus.PENDING and d.error)
        }
        return Outcome(_status_text(circle, deliveries, start, tz.key, who))


def _status_text(
    circle: Circle,
    deliveries: Sequence[Delivery],
    start: datetime,
    tz: str,
    who: dict[int | None, str],
) -> str:
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
                lines.append(f"    ◦ failed for {who[delivery.id]}: `{delivery.error}`")
            elif delivery.id in who:  # a transient error: the next tick tries again
                lines.append(f"    ◦ retrying for {who[delivery.id]}: `{delivery.error}`")
    return "\n".join(lines)
