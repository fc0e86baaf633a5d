"""`/circle digest preview` and `/circle digest send`.

`digest send` covers this week to date under keys of its own (bot/digest/compose.py), so it
never stops Monday's digest of the complete week; it goes through the delivery engine like a
scheduled digest (claimed, sent, recorded), its charts right after."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlmodel import col, select

from bot.circles import rules as circles
from bot.circles.rules import circle_here
from bot.digest import compose as digest
from bot.digest.compose import DIGEST_CHART, DIGEST_CIRCLE, DIGEST_FACILITATOR, DIGEST_LEADER
from bot.digest.due import digest_chart_due
from bot.reflections.channel_readers import read_channel_readers
from bot.slack import mrkdwn
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import DigestPreview, DigestSend
from storage.models import Delivery, DeliveryStatus

# How /circle status and /circle digest send name the digest's deliveries.
DIGEST_KIND_WORDS = {
    DIGEST_CIRCLE: "digest in the channel",
    DIGEST_FACILITATOR: "digest for facilitators",
    DIGEST_LEADER: "digest for leaders",
    DIGEST_CHART: "digest chart for leaders",
}


def digest_preview(command: DigestPreview, inv: Invocation, deps: Deps) -> Outcome:
    """Each audience's version of this week's digest so far, only for the facilitator."""

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


def digest_send(command: DigestSend, inv: Invocation, deps: Deps) -> Outcome:
    """Send this week's digest so far now: the channel post, facilitators', leaders' (and
    their charts), claimed and recorded like scheduled ones."""

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
        if deps.settings.digest_chart:  # the charts follow their leader digests at once
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
            word = DIGEST_KIND_WORDS.get(row.kind, row.kind)
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
