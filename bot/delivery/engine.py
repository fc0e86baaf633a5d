"""Exactly-once delivery of scheduled messages.

1. **Register**: every due message becomes a `delivery` row under its unique key
   (`INSERT … ON CONFLICT DO NOTHING`). Work older than the grace window is registered as
   `missed` and never sent: nobody gets a 9 a.m. check-in at 3 a.m. after an outage.
2. **Claim**: immediately before Slack is called, one conditional UPDATE moves the row from
   `pending` to `sending` with a lease. Only the process whose UPDATE matched sends; two
   schedulers, two ticks or a retried job find the row taken.
3. **Record**: after Slack answers, the row becomes `sent` (with channel and ts), `failed`
   (permanent error, not retried) or `pending` again (transient error, retried next tick).

The crash window (killed after Slack answered, before `sent` was committed) is resolved
towards **at-least-once**: a `sending` row whose lease has expired is claimed again and
re-sent. So nobody loses a message; a duplicate is possible only for the sends that were in
flight at the crash (at most `concurrency` of them). Leases use the wall clock, not the
logical `now` a tick may be given for a backfill.

The engine knows no feature: each plugs in its message kinds (bot/delivery/kinds.py: what is
due, how to build a message, work before a tick) at composition (bot/app.py). A fan-out is
CPU-bound in this one process, so each claimed batch is read in one session and what a send's
deliveries share is built once per send (each feature's `builder`); see docs/performance.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session, col, select

from bot.delivery.kinds import Builder, DueMessage, EngineParts, Live, MessageKinds
from bot.slack.block_kit import Message
from bot.slack.pacing import SendPacer, paced_client
from storage.db import Database
from storage.models import Circle, Delivery, DeliveryStatus, SkipDay

logger = logging.getLogger(__name__)

# Slack errors that will not change by trying again: mark failed, do not retry.
PERMANENT_ERRORS = frozenset(
    {
        "user_not_found",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "restricted_action",
        "missing_scope",
        "invalid_auth",
        "not_authed",
        "token_revoked",
    }
)


# A message holding this key is uploaded with files_upload_v2 (its value: the arguments)
# instead of posted: the chart after a leader's digest (bot/digest/compose.py).
FILE_UPLOAD = "file_upload"
# A message holding this key (its value: the user ids) goes to a group DM of those people,
# opened first with conversations.open: a peer pairing's introduction (bot/pairing/rounds.py).
OPEN_GROUP_DM = "open_group_dm"


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DeliveryConfig:
    grace: timedelta = timedelta(hours=6)  # later than this after its time: missed, not sent
    lookback: timedelta = timedelta(days=7)  # how far back a tick looks for unregistered work
    lease: timedelta = timedelta(minutes=2)  # how long a claim protects a send in progress
    concurrency: int = 16  # sends in flight at once (Slack's rate limit is the real bound)
    max_attempts: int = 5  # transient failures before a delivery is marked failed


@dataclass
class TickReport:
    registered: int = 0
    missed: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    taken: int = 0  # claimed by someone else first
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, status: str, error: str | None) -> None:
        if status == "sent":
            self.sent += 1
        elif status == "failed":
            self.failed += 1
        elif status == "retrying":
            self.retrying += 1
        elif status == "taken":
            self.taken += 1
        if error:
            self.errors[error] = self.errors.get(error, 0) + 1

    def line(self) -> str:
        parts = [
            f"registered {self.registered}",
            f"missed {self.missed}",
            f"sent {self.sent}",
            f"failed {self.failed}",
            f"retrying {self.retrying}",
        ]
        if self.errors:
            parts.append("errors " + ", ".join(f"{k} x{v}" for k, v in sorted(self.errors.items())))
        return "; ".join(parts)


@dataclass(frozen=True)
class _Ready:
    """A claimed delivery and its message, ready to be sent."""

    id: int
    recipient: str
    attempts: int
    message: Message | None  # None: nothing to say any more (circle archived, answered...)
    unbuildable: bool = False  # building the message raised


class Deliverer:
    def __init__(
        self,
        db: Database,
        client: WebClient,
        *,
        kinds: Sequence[MessageKinds] = (),
        config: DeliveryConfig | None = None,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.db = db
        self.pacer = SendPacer()
        self.client = paced_client(client, self.pacer)
        self.config = config or DeliveryConfig()
        self.clock = clock  # wall clock for leases
        self.features = tuple(kinds)  # what features plugged in (bot/delivery/kinds.py)
        self.kinds = {kind: feature for feature in self.features for kind in feature.kinds}

    @property
    def parts(self) -> EngineParts:
        return EngineParts(
            self.db, self.client, self.clock, self.config.lookback, self.config.grace
        )

    # --- the whole tick ---------------------------------------------------------------------

    def tick(self, now: datetime) -> TickReport:
        """Do all work due at `now`, once. Safe to run concurrently and repeatedly."""
        report = TickReport()
        for feature in self.features:
            report.registered += feature.before_tick(self.parts, now)
        self.register(self.due(now), now=now, report=report)
        self.send_pending(now=now, report=report)
        return report

    def due(self, now: datetime) -> list[DueMessage]:
        """Every feature's messages due in the look-back window up to `now`."""
        with self.db.read_session() as session:
            return due_messages(session, self.features, now=now, since=now - self.config.lookback)

    # --- 1. register ------------------------------------------------------------------------

    def register(
        self, due: Iterable[DueMessage], *, now: datetime, report: TickReport | None = None
    ) -> list[int]:
        """Insert rows for due messages not registered yet; return the ids of new pending rows."""
        due = list(due)
        if not due:
            return []
        report = report if report is not None else TickReport()
        with self.db.session() as session:
            known = _existing_keys(session, [d.key for d in due])
            fresh = [d for d in due if d.key not in known]
            if not fresh:
                return []
            rows = []
            for item in fresh:
                missed = item.due_at < now - self.config.grace
                rows.append(
                    {
                        "team_id": item.team_id,
                        "circle_id": item.circle_id,
                        "key": item.key,
                        "kind": item.kind,
                        "recipient": item.recipient,
                        "ref_id": item.ref_id,
                        "parent_id": item.parent_id,
                        "local_date": item.local_date,
                        "due_at": item.due_at,
                        "status": DeliveryStatus.MISSED if missed else DeliveryStatus.PENDING,
                        "attempts": 0,
                        "created_at": now,
                        "error": "later than the grace window" if missed else None,
                    }
                )
            insert = pg_insert if self.db.url.get_backend_name() == "postgresql" else sqlite_insert
            statement = (
                insert(_TABLE)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(_TABLE.c.id, _TABLE.c.status)
            )
            # executemany: SQLAlchemy batches the rows into a few cached INSERTs (compiling one
            # VALUES clause of 2,000 rows took longer than sending them).
            inserted = session.connection().execute(statement, rows).all()
        pending = [row_id for row_id, status in inserted if status == DeliveryStatus.PENDING]
        report.registered += len(inserted)
        report.missed += len(inserted) - len(pending)
        return pending

    # --- 2 + 3. claim, send, record -----------------------------------------------------------

    def sendable_ids(self, limit: int = 5000) -> list[int]:
        wall_now = self.clock()
        with self.db.read_session() as session:
            ids = session.exec(
                select(col(Delivery.id))
                .where(_claimable(wall_now))
                .order_by(col(Delivery.due_at), col(Delivery.id))
                .limit(limit)
            ).all()
        return [i for i in ids if i is not None]

    def send_pending(self, *, now: datetime, report: TickReport | None = None) -> TickReport:
        return self.send(self.sendable_ids(), now=now, report=report)

    def send(
        self, ids: list[int], *, now: datetime, report: TickReport | None = None
    ) -> TickReport:
        """Send the given deliveries concurrently, claiming them a few at a time just before."""
        report = report if report is not None else TickReport()
        if not ids:
            return report
        workers = max(1, min(self.config.concurrency, len(ids)))
        build = _Builders(self.kinds, self.parts)
        try:
            with (
                _GroupWriter(self.db, self.clock, self.config.lease) as writer,
                ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as pool,
            ):
                feed = _ClaimedFeed(
                    ids, writer, chunk=workers, prepare=lambda won: self._prepare(won, build)
                )

                def work() -> list[tuple[str, str | None]]:
                    outcomes = []
                    while (ready := feed.next()) is not None:
                        outcomes.append(self._deliver(ready, now, writer))
                    return outcomes

                for future in [pool.submit(work) for _ in range(workers)]:
                    for status, error in future.result():
                        report.count(status, error)
                report.taken += feed.taken
        finally:
            self.client.close_idle_connections()  # a fan-out's connections end with it
        return report

    def claim(self, delivery_id: int) -> bool:
        """Claim one delivery on its own (tests use this to play a sender that then dies)."""
        with _GroupWriter(self.db, self.clock, self.config.lease) as writer:
            return delivery_id in writer.claim([delivery_id])

    def _prepare(self, ids: list[int], build: _Builders) -> list[_Ready]:
        """Read just-claimed deliveries in one session and build their messages."""
        ready = []
        try:
            with self.db.read_session() as session:
                loaded, _related = _load_for_building(session, ids)
                for delivery_id in ids:
                    try:
                        delivery = loaded[delivery_id]
                        message = build(session, delivery)
                    except (OperationalError, InterfaceError):
                        raise  # the database, not the message: see below
                    except Exception:
                        logger.exception("delivery %s: could not build its message", delivery_id)
                        ready.append(_Ready(delivery_id, "", 0, None, unbuildable=True))
                        continue
                    ready.append(
                        _Ready(delivery_id, delivery.recipient, delivery.attempts, message)
                    )
        except (OperationalError, InterfaceError):
            # The database is away: not these messages' fault, so none is marked failed. The
            # tick fails; the claims stay leased and a later tick sends them, once.
            logger.warning("could not read %d claimed deliveries", len(ids))
            raise
        except Exception:
            logger.exception("could not read %d claimed deliveries", len(ids))
            built = {item.id for item in ready}
            ready += [_Ready(i, "", 0, None, unbuildable=True) for i in ids if i not in built]
        return ready

    def _deliver(
        self, ready: _Ready, now: datetime, writer: _GroupWriter
    ) -> tuple[str, str | None]:
        delivery_id = ready.id
        if ready.unbuildable:
            return self._failed_send(
                writer, delivery_id, "internal_error", attempts=self.config.max_attempts
            )
        if ready.message is None:  # nothing to say any more (circle archived, demo day cancelled)
            writer.record(delivery_id, DeliveryStatus.MISSED, error="no longer relevant")
            return "missed", None
        try:
            with self.pacer.turn():
                if FILE_UPLOAD in ready.message:  # a digest's chart: a file, not a post
                    upload = ready.message[FILE_UPLOAD]
                    response = self.client.files_upload_v2(channel=ready.recipient, **upload)
                elif OPEN_GROUP_DM in ready.message:  # a pair's introduction: their group DM
                    message = dict(ready.message)
                    users = ",".join(message.pop(OPEN_GROUP_DM))
                    opened = self.client.conversations_open(users=users)
                    response = self.client.chat_postMessage(
                        channel=opened["channel"]["id"], **message
                    )
                else:
                    response = self.client.chat_postMessage(
                        channel=ready.recipient, **ready.message
                    )
        except SlackApiError as exc:
            error = slack_error_code(exc)
            return self._failed_send(writer, delivery_id, error, attempts=ready.attempts)
        except (SlackClientError, OSError) as exc:
            logger.warning("delivery %s: Slack unreachable: %s", delivery_id, exc)
            return self._failed_send(
                writer, delivery_id, "connection_error", attempts=ready.attempts
            )
        writer.record(
            delivery_id,
            DeliveryStatus.SENT,
            sent_at=now,
            channel_id=response.get("channel"),
            message_ts=response.get("ts"),
        )
        return "sent", None

    def _failed_send(
        self, writer: _GroupWriter, delivery_id: int, error: str, *, attempts: int
    ) -> tuple[str, str]:
        if error in PERMANENT_ERRORS:
            logger.info("delivery %s failed permanently: %s", delivery_id, error)
            writer.record(delivery_id, DeliveryStatus.FAILED, error=error)
            return "failed", error
        if attempts >= self.config.max_attempts:
            logger.warning(
                "delivery %s gave up after %s attempts: %s", delivery_id, attempts, error
            )
            writer.record(delivery_id, DeliveryStatus.FAILED, error=f"gave up: {error}"[:64])
            return "failed", error
        writer.record(delivery_id, DeliveryStatus.PENDING, error=error)  # the next tick retries
        return "retrying", error


class _ClaimedFeed:
    """Hands claimed deliveries, messages built, to senders; claims the next few when it runs dry.

    Claiming and reading a handful at once saves transactions; a claimed delivery waits only
    while the ones before it are sent, well within its lease.
    """

    def __init__(
        self,
        ids: list[int],
        writer: _GroupWriter,
        *,
        chunk: int,
        prepare: Callable[[list[int]], list[_Ready]],
    ) -> None:
        self._todo = list(reversed(ids))
        self._ready: list[_Ready] = []
        self._writer = writer
        self._chunk = chunk
        self._prepare = prepare
        self._lock = threading.Lock()
        self.taken = 0  # claimed by someone else first

    def next(self) -> _Ready | None:
        with self._lock:
            while not self._ready and self._todo:
                batch = [self._todo.pop() for _ in range(min(self._chunk, len(self._todo)))]
                won = self._writer.claim(batch)
                self.taken += len(batch) - len(won)
                if won:
                    self._ready = list(reversed(self._prepare([i for i in batch if i in won])))
            return self._ready.pop() if self._ready else None


@dataclass
class _Op:
    kind: str  # "claim" or "record"
    ids: list[int]
    values: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    claimed: set[int] = field(default_factory=set)
    error: BaseException | None = None


class _GroupWriter:
    """One thread writes claims and outcomes for all senders, committing them together.

    Many senders each opening a write transaction would queue on SQLite's single writer lock
    (and sleep in its busy handler); here whatever is queued goes into one transaction. A
    sender waits until its own write is committed before it goes on, so at most one message
    per sender is ever sent-but-unrecorded: the bound on duplicates after a crash.
    """

    def __init__(self, db: Database, clock: Callable[[], datetime], lease: timedelta) -> None:
        self.db, self.clock, self.lease = db, clock, lease
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="delivery-writer", daemon=True)

    def __enter__(self) -> _GroupWriter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._queue.put(None)
        self._thread.join()

    def claim(self, ids: list[int]) -> set[int]:
        """Claim these deliveries; returns the ids this process won."""
        return self._submit(_Op("claim", ids, {})).claimed

    def record(self, delivery_id: int, status: DeliveryStatus, **values: Any) -> None:
        self._submit(
            _Op("record", [delivery_id], {"status": status, "lease_until": None, **values})
        )

    def _submit(self, op: _Op) -> _Op:
        self._queue.put(op)
        op.done.wait()
        if op.error is not None:
            raise op.error
        return op

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while True:  # take whatever else is already waiting
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Op]) -> None:
        try:
            self._write_while_leased(batch)
        except BaseException as exc:  # tell every waiting sender; never leave one hanging
            logger.exception("writing %d delivery updates failed", len(batch))
            for op in batch:
                op.error = exc
        finally:
            for op in batch:
                op.done.set()

    def _write_while_leased(self, batch: list[_Op]) -> None:
        """Write the batch, waiting out a database that is away (a restart, a failover).

        Outcomes are of messages Slack already has: one given up is a message sent again
        after its lease. So the writer keeps trying for as long as the claims are ours (the
        lease); the senders wait, as they could do nothing else without the database.
        """
        give_up_at = time.monotonic() + self.lease.total_seconds()
        pause = 0.1
        while True:
            try:
                self._write_once(batch)
                return
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() + pause > give_up_at:
                    raise
                if pause == 0.1:  # once per wait, not at every try
                    logger.warning(
                        "database unreachable, %d delivery updates wait for it: %s",
                        len(batch),
                        str(exc.orig or exc).splitlines()[0],
                    )
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def _write_once(self, batch: list[_Op]) -> None:
        with self.db.engine.begin() as connection:
            claims = [op for op in batch if op.kind == "claim"]
            if claims:
                wall_now = self.clock()
                won = set(
                    connection.execute(
                        _CLAIM,
                        {
                            "ids": [i for op in claims for i in op.ids],
                            "wall_now": wall_now,
                            "lease_until": wall_now + self.lease,
                        },
                    ).scalars()
                )
                for op in claims:
                    op.claimed = won.intersection(op.ids)
            records = [op for op in batch if op.kind == "record"]
            if records:
                connection.execute(
                    _RECORD,
                    [
                        {"row_id": op.ids[0], **dict.fromkeys(RECORDED), **op.values}
                        for op in records
                    ],
                )


# The columns an outcome sets; those a given outcome does not name become NULL.
RECORDED = ("status", "lease_until", "error", "sent_at", "channel_id", "message_ts")


def slack_error_code(exc: SlackApiError) -> str:
    """Slack's error code, or `http_<status>` when the answer was not Slack JSON (5xx pages)."""
    status = exc.response.status_code
    error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
    if status >= 500 or not error or " " in str(error):
        return f"http_{status}"
    return str(error)[:64]


def _claimable(wall_now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Pending, or being sent by someone whose lease ran out (a crashed sender)."""
    return or_(
        col(Delivery.status) == DeliveryStatus.PENDING,
        and_(
            col(Delivery.status) == DeliveryStatus.SENDING,
            col(Delivery.lease_until) < wall_now,
        ),
    )


# The writer's two statements, built once (Core, not ORM: the fan-out's hot path).
_TABLE = Delivery.__table__  # type: ignore[attr-defined]
_CLAIM = (
    update(_TABLE)
    .where(
        _TABLE.c.id.in_(bindparam("ids", expanding=True)),
        _claimable(bindparam("wall_now")),
    )
    .values(
        status=DeliveryStatus.SENDING,
        lease_until=bindparam("lease_until"),
        attempts=_TABLE.c.attempts + 1,
    )
    .returning(_TABLE.c.id)
)
_RECORD = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"))
    .values({name: bindparam(name) for name in RECORDED})
)


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(session.exec(select(Delivery.key).where(col(Delivery.key).in_(chunk))).all())
    return found


def _load_for_building(session: Session, ids: list[int]) -> tuple[dict[int, Delivery], list[Any]]:
    """The deliveries, and their circles and nudges' check-ins (one query each).

    The second list only keeps those objects alive: the session's identity map holds them
    weakly, and while they are in it a builder's `session.get` needs no query of its own.
    """
    rows = session.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all()
    circle_ids = {row.circle_id for row in rows}
    parent_ids = {row.parent_id for row in rows if row.parent_id is not None}
    related: list[Any] = []
    if circle_ids:
        related += session.exec(select(Circle).where(col(Circle.id).in_(circle_ids))).all()
    if parent_ids:
        related += session.exec(select(Delivery).where(col(Delivery.id).in_(parent_ids))).all()
    return {row.id: row for row in rows if row.id is not None}, related


class _Builders:
    """One send's builders, one per kind, made fresh from each feature (what a send's
    deliveries share is built once in them, and nothing outlives the send)."""

    def __init__(self, kinds: dict[str, MessageKinds], parts: EngineParts) -> None:
        self._kinds, self._parts = kinds, parts
        self._built: dict[int, Builder] = {}

    def __call__(self, session: Session, delivery: Delivery) -> Message | None:
        circle = session.get(Circle, delivery.circle_id)
        if circle is None or circle.is_archived:
            return None  # archiving a circle stops the rest of its fan-out
        feature = self._kinds.get(delivery.kind)
        if feature is None:
            raise ValueError(f"no feature builds {delivery.kind!r} deliveries")
        if id(feature) not in self._built:
            self._built[id(feature)] = feature.builder(self._parts)
        return self._built[id(feature)](session, delivery, circle)


def due_messages(
    session: Session, features: Iterable[MessageKinds], *, now: datetime, since: datetime
) -> list[DueMessage]:
    """What every feature has due in (since, now], for the live circles."""
    live = live_circles(session)
    if not live.circles:
        return []
    return [
        message
        for feature in features
        for message in feature.due(session, live, now=now, since=since)
    ]


def live_circles(session: Session) -> Live:
    """The circles a tick sends for (not archived), with their skipped dates."""
    circles = {
        c.id: c for c in session.exec(select(Circle).where(col(Circle.archived_at).is_(None))).all()
    }
    skips: dict[int, set[date]] = defaultdict(set)
    if circles:
        for skip in session.exec(
            select(SkipDay).where(col(SkipDay.circle_id).in_(list(circles)))
        ).all():
            skips[skip.circle_id].add(skip.day)
    return Live(circles, skips)
