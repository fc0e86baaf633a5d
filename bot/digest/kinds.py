"""The digest's message kinds, as the delivery engine knows them (bot/delivery/kinds.py): the
channel post, the facilitators' and leaders' DMs, and the chart after a leader's digest.

A send reads each circle channel's readers once (bot/reflections/channel_readers.py): the
channel post quotes only what all of them may read, and the facilitators' digest names who
is outside the circle.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.delivery.kinds import Builder, DueMessage, EngineParts, Live
from bot.digest.compose import DIGEST_CHART, DIGEST_KINDS, message_for_delivery
from bot.digest.due import digest_due
from bot.reflections.channel_readers import cached_channel_readers
from bot.slack.block_kit import Message
from storage.models import Circle, Delivery


class DigestKinds:
    kinds = frozenset({*DIGEST_KINDS, DIGEST_CHART})

    def __init__(self, *, charts: bool = True) -> None:
        self.charts = charts  # DIGEST_CHART: a participation chart follows each leader digest

    def due(
        self, session: Session, live: Live, *, now: datetime, since: datetime
    ) -> list[DueMessage]:
        return digest_due(session, live, now=now, since=since, charts=self.charts)

    def before_tick(self, parts: EngineParts, now: datetime) -> int:
        return 0

    def builder(self, parts: EngineParts) -> Builder:
        readers = cached_channel_readers(parts)

        def build(session: Session, delivery: Delivery, circle: Circle) -> Message | None:
            return message_for_delivery(session, delivery, circle, readers)

        return build
