"""`/circle checkin now`, `/circle debrief now`, `/circle digest preview|send` and `/circle status`.

"Now" sends go through the same delivery machinery as scheduled ones: each message is
registered under a key for (kind, circle, person, minute), so a repeated command within the
same minute sends nothing twice. `digest send` covers this week to date under keys of its
own (bot/digest.py), so it never stops Monday's digest of the complete week.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.calendar.recurrence import local_date_of
from bot.circles import rules as circles
from bot.circles.rules import Refusal
from bot.delivery.engine import TickReport
from bot.digest import compose as digest
from bot.reflections.channel_readers import read_channel_readers
from bot.rhythm.due import (
    DueMessage,
    circle_zone,
    digest_chart_due,
    is_paused_on,
    participants_of,
    zone,
)
from bot.slack import mrkdwn
from storage.models import Circle, Delivery, DeliveryStatus, ScheduleKind

if TYPE_CHECKING:
    from bot.circles.commands import Deps, Invocation, Outcome

KIND_WORDS = {
    "checkin": "check-in",
    "debrief": "debrief",
    "nudge": "nudge",
    digest.DIGEST_CIRCLE: "digest in the channel",
    digest.DIGEST_FACILITATOR: "digest for facilitators",
    digest.DIGEST_LEADER: "digest for leaders",
    digest.DIGEST_CHART: "digest chart for leaders",
}


def run(command: object, invocation: Invocation, deps: Deps) -> Outcome:
    from bot.slash.parse import DigestPreview, DigestSend, SendNow, Status

    if isinstance(command, SendNow):
        return send_now(command.kind, invocation, deps)
    if isinstance(command, Status):
        return status(invocation, deps)
    if isinstance(command, DigestPreview):
        return digest_preview(invocation, deps)
    if isinstance(command, DigestSend):
        return digest_send(invocation, deps)
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


def refuse_if_paused(session: Session, circle: Circle, now: datetime, consequence: str) -> None:
    """A facilitator's "do it now" on a paused circle: say so, and how to end the pause."""
    if is_paused_on(circle, now, local_date_of(now, circle_zone(session, circle))):
        until = f" until {circle.paused_until}" if circle.paused_until else ""
        raise Refusal(
            f"*{mrkdwn.escape(circle.name)}* is paused{until}, so {consequence}. "
            "Use `/circle resume` first."
        )


def send_now(kind: str, inv: Invocation, deps: Deps) -> Outcome:
    from bot.circles.commands import Outcome, circle_here

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
            from bot.pairing.rounds import PeerIndex

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


def digest_preview(inv: Invocation, deps: Deps) -> Outcome:
    """Each audience's version of this week's digest so far, only for the facilitator."""
    from bot.circles.commands import Outcome, circle_here

    now = deps.clock()
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="digest preview")
        circles.require_facilitator(session, circle, inv.user_id, "preview the digest")

    def follow_up() -> str:
        # Who reads the channel decides what its part may quote (a call to Slack: after the ack).
        readers = read_channel_readers(deps.db, deps.client, circle, now=now)
        with deps.db.read_session() as session:
            return digest.preview_text(digest.preview(session, circle, now=now, readers=readers))

    return Outcome(
        f"Building the digest preview of *{mrkdwn.escape(circle.name)}* for this week so far…",
        follow_up,
    )


def digest_send(inv: Invocation, deps: Deps) -> Outcome:
    """Send this week's digest so far now: the channel post, facilitators', leaders' (and
    their charts), claimed and recorded like scheduled ones."""
    from bot.circles.commands import Outcome, circle_here

    now = deps.clock()
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="digest send")
        circles.require_facilitator(session, circle, inv.user_id, "send the digest")
        plan = digest.manual_send(session, circle, now=now)
        name = circle.name

    def follow_up() -> str:
        deliverer = deps.deliverer
        ids = deliverer.register(plan.due, now=now)
        if not ids:
            return (
                f"The digest of *{mrkdwn.escape(name)}* already went out this minute; "
                "nothing was sent twice."
            )
        deliverer.send(ids, now=now)
        if deliverer.config.digest_chart:  # the charts follow their leader digests at once
            with deps.db.session() as session:
                sent = session.exec(
                    select(Delivery).where(
                        col(Delivery.id).in_(ids),
                        Delivery.kind == digest.DIGEST_LEADER,
                        Delivery.status == DeliveryStatus.SENT,
                        col(Delivery.channel_id).is_not(None),
                    )
                ).all()
                charts = [digest_chart_due(row) for row in sent]
            chart_ids = deliverer.register(charts, now=now)
            deliverer.send(chart_ids, now=now)
            ids += chart_ids
        with deps.db.session() as session:
            rows = list(session.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all())
            failures = [(d, digest.delivery_recipient(session, d)) for d in rows]
        return _digest_send_report(name, plan, rows, failures)

    leaders = f"{plan.leaders} {'leader' if plan.leaders == 1 else 'leaders'}"
    facilitators = (
        f"{plan.facilitators} {'facilitator' if plan.facilitators == 1 else 'facilitators'}"
    )
    return Outcome(
        f"Sending the digest of *{mrkdwn.escape(name)}* for this week so far to the channel, "
        f"{facilitators} and {leaders}…",
        follow_up,
    )


def _digest_send_report(
    name: str,
    plan: digest.ManualSend,
    rows: Sequence[Delivery],
    recipients: Sequence[tuple[Delivery, object]],
) -> str:
    sent: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in rows:
        total[row.kind] += 1
        sent[row.kind] += row.status == DeliveryStatus.SENT
    post = "the channel post" if sent[digest.DIGEST_CIRCLE] else "no channel post"
    parts = [
        post,
        f"{sent[digest.DIGEST_FACILITATOR]} of {total[digest.DIGEST_FACILITATOR]} facilitator DMs",
        f"{sent[digest.DIGEST_LEADER]} of {total[digest.DIGEST_LEADER]} leader DMs",
    ]
    if total[digest.DIGEST_CHART]:
        parts.append(f"{sent[digest.DIGEST_CHART]} of {total[digest.DIGEST_CHART]} charts")
    lines = [
        f"Sent the digest of *{mrkdwn.escape(name)}* for the week of "
        f"{digest.day_text(plan.week)} so far: " + ", ".join(parts) + "."
    ]
    for row, who in recipients:
        if row.status != DeliveryStatus.SENT:
            word = KIND_WORDS.get(row.kind, row.kind)
            state = "failed" if row.status == DeliveryStatus.FAILED else "not sent yet"
            lines.append(f"The {word} to {who} {state}: `{row.error or row.status}`.")
    if plan.no_leaders:
        lines.append(
            "No leaders yet, so no leader got it. Add one with `/circle add @person as leader`."
        )
    if plan.paused:
        lines.append(
            f"*{mrkdwn.escape(name)}* is paused, so no scheduled digest goes out while it is; "
            "this one went out because you asked."
        )
    lines.append("The scheduled digest still covers the whole week when it goes out.")
    return "\n".join(lines)


def week_start(now: datetime, circle_tz: str | None) -> datetime:
    """Monday 00:00 of `now`'s week in the circle's zone, as UTC."""
    tz = zone(circle_tz)
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz).astimezone(now.tzinfo)


def status(inv: Invocation, deps: Deps) -> Outcome:
    from bot.circles.commands import Outcome, circle_here

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
