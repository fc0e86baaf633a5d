"""Pairing's message kinds, as the delivery engine knows them (bot/delivery/kinds.py): a pair's
introduction in their group DM, and the note to someone left out of a round.

Nothing of pairing is "due" by itself: a round is formed (with its messages as pending
deliveries) before each tick, from the circle's pairing schedules, and the tick sends them.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.delivery.kinds import Builder, DueMessage, EngineParts, Live
from bot.pairing.messages import message_for_delivery
from bot.pairing.queries import PAIRING_INTRO, PAIRING_SKIPPED
from bot.pairing.rounds import form_due_rounds


class PairingKinds:
    kinds = frozenset({PAIRING_INTRO, PAIRING_SKIPPED})

    def due(
        self, session: Session, live: Live, *, now: datetime, since: datetime
    ) -> list[DueMessage]:
        return []

    def before_tick(self, parts: EngineParts, now: datetime) -> int:
        """Form the rounds due by `now`, each once; returns how many messages that queued."""
        return form_due_rounds(
            parts.db, parts.client, now=now, since=now - parts.lookback, grace=parts.grace
        )

    def builder(self, parts: EngineParts) -> Builder:
        return message_for_delivery
