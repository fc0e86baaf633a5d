"""The rhythm's message kinds, as the delivery engine knows them (bot/delivery/kinds.py):
check-ins, debriefs and their nudges by DM, and demo-day reminders in the circle's channel.

A send builds a check-in (or a nudge) once per circle, kind, question set, name and peers,
and gives each delivery a copy whose buttons carry its id (`with_delivery_id`): the key holds
everything the shared part is built from, so a renamed circle gets a fresh message. A part
that differs per recipient would go into the per-delivery step, not into the key. A reminder
quotes sign-up topics only if everyone in the channel may read them (channel_readers).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.delivery.kinds import Builder, DueMessage, EngineParts, Live
from bot.pairing.queries import PeerIndex
from bot.reflections.channel_readers import cached_channel_readers
from bot.rhythm import messages
from bot.rhythm.due import rhythm_due
from bot.slack.block_kit import Message
from storage.models import Circle, Delivery, DemoDay, DemoSignup, Visibility

NUDGE = "nudge"
DEMODAY_REMINDER = "demoday_reminder"


class RhythmKinds:
    kinds = frozenset({*messages.CHECKIN_KINDS, NUDGE, DEMODAY_REMINDER})

    def due(
        self, session: Session, live: Live, *, now: datetime, since: datetime
    ) -> list[DueMessage]:
        return rhythm_due(session, live, now=now, since=since)

    def before_tick(self, parts: EngineParts, now: datetime) -> int:
        return 0

    def builder(self, parts: EngineParts) -> Builder:
        shared: dict[tuple[object, ...], Message] = {}
        peers_of = PeerIndex()  # a debrief names the recipient's peers: per recipient
        readers = cached_channel_readers(parts)

        def build(session: Session, delivery: Delivery, circle: Circle) -> Message | None:
            if delivery.kind in messages.CHECKIN_KINDS:
                peers = (
                    peers_of.peers(session, circle.id or 0, delivery.recipient, delivery.due_at)
                    if delivery.kind == "debrief"
                    else ()
                )
                key: tuple[object, ...] = (
                    delivery.kind,
                    circle.id,
                    circle.prompt_set,
                    circle.name,
                    peers,
                )
                if key not in shared:
                    shared[key] = messages.checkin_message(
                        kind=delivery.kind,
                        circle_name=circle.name,
                        questions=messages.questions_preview(delivery.kind, circle.prompt_set),
                        delivery_id=0,
                        peer_user_ids=peers,
                    )
                return with_delivery_id(shared[key], delivery.id or 0)
            if delivery.kind == NUDGE:
                parent = session.get(Delivery, delivery.parent_id)
                if parent is None or parent.answered_at or parent.skipped_at:
                    return None  # answered or skipped meanwhile: no nudge
                key = (NUDGE, parent.kind, circle.id, circle.name)
                if key not in shared:
                    shared[key] = messages.nudge_message(
                        kind=parent.kind, circle_name=circle.name, delivery_id=0
                    )
                return with_delivery_id(shared[key], parent.id or 0)  # its buttons answer it
            # A demo-day reminder: one per channel, nothing shared.
            return demoday_reminder(session, delivery, circle, readers(circle).quotable)

        return build


def with_delivery_id(shared: Message, delivery_id: int) -> Message:
    """A copy of a shared check-in or nudge whose Write and Skip buttons carry this id.

    Only the blocks that change are copied; the rest is shared (messages are never mutated).
    """
    buttons = (messages.ACTION_REFLECTION_OPEN, messages.ACTION_CHECKIN_SKIP)
    value = str(delivery_id)
    blocks = [
        {
            **block,
            "elements": [
                {**element, "value": value} if element.get("action_id") in buttons else element
                for element in block["elements"]
            ],
        }
        if block.get("type") == "actions"
        else block
        for block in shared["blocks"]
    ]
    return {**shared, "blocks": blocks}


def demoday_reminder(
    session: Session, delivery: Delivery, circle: Circle, readable: frozenset[Visibility]
) -> Message | None:
    """The channel's reminder; sign-up topics only if every reader of the channel may read
    what was shared with the circle."""
    demo_day = session.get(DemoDay, delivery.ref_id)
    if demo_day is None or demo_day.cancelled_at is not None:
        return None
    signups = session.exec(
        select(DemoSignup)
        .where(DemoSignup.demo_day_id == demo_day.id)
        .order_by(col(DemoSignup.created_at))
    ).all()
    return messages.demoday_reminder_message(
        circle_name=circle.name,
        demo_day_id=demo_day.id or 0,
        title=demo_day.title,
        starts_at=demo_day.starts_at,
        signups=[(s.user_id, s.title) for s in signups],
        topics=Visibility.CIRCLE in readable,
        now=delivery.due_at,
    )
