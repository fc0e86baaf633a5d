"""What a feature plugs into the delivery engine: its message kinds.

The engine (bot/delivery/engine.py) registers, claims, sends and records deliveries and knows
no feature. A feature hands it a `MessageKinds` at composition time (bot/app.py):

- `kinds`: the `Delivery.kind` values it builds;
- `due(session, live, now=, since=)`: its messages whose moment lies in (since, now], each
  under the unique key that makes it exactly-once (`DueMessage`), for the live circles the
  engine read once for the tick (`Live`: archived circles produce nothing);
- `builder(parts)`: a fresh `Builder` for one send, so what that send's deliveries share (a
  check-in built once per circle, a channel's readers read once) is built once and nothing
  outlives it;
- `before_tick(parts, now)`: work that makes deliveries itself before the tick registers
  what is due (pairing forms its rounds); returns how many it queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from slack_sdk import WebClient
from sqlmodel import Session

from bot.slack.block_kit import Message
from storage.db import Database
from storage.models import Circle, Delivery

# Builds one delivery's message (None: nothing to send any more), with a read session that
# already holds the delivery's circle (live, not archived) and a nudge's check-in.
Builder = Callable[[Session, Delivery, Circle], Message | None]


@dataclass(frozen=True)
class DueMessage:
    key: str
    kind: str
    team_id: str
    circle_id: int
    recipient: str  # user id (DM) or channel id
    due_at: datetime
    ref_id: int | None = None
    parent_id: int | None = None
    local_date: date | None = None


@dataclass(frozen=True)
class Live:
    """The live circles of a tick, and each one's skipped local dates."""

    circles: dict[int | None, Circle]
    skips: dict[int, set[date]]


@dataclass(frozen=True)
class EngineParts:
    """What a feature's builder and its work before a tick may use."""

    db: Database
    client: WebClient  # paced: the engine's own
    clock: Callable[[], datetime]  # the wall clock
    lookback: timedelta  # how far back a tick looks
    grace: timedelta  # later than this after its moment: missed, not sent


class MessageKinds(Protocol):
    kinds: frozenset[str]

    def due(
        self, session: Session, live: Live, *, now: datetime, since: datetime
    ) -> list[DueMessage]: ...

    def builder(self, parts: EngineParts) -> Builder: ...

    def before_tick(self, parts: EngineParts, now: datetime) -> int: ...
