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

A fan-out is CPU-bound in this one process, so each claimed batch is read in one session and
what a circle's deliveries share is built once per send (`SharedMessages`); see
docs/performance.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session, col, select

from bot.reflections.channel_readers import ChannelReaders, read_channel_readers, unreadable
from bot.rhythm.due import DueMessage, due_messages
from bot.slack.pacing import SendPacer, paced_client
from storage.db import Database
from storage.models import Circle, Delivery, DeliveryStatus, DemoDay, DemoSignup, Visibility

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
# instead of posted: the chart after a leader's digest (bot/digest.py).
FILE_UPLOAD = "file_upload"
# A message holding this key (its value: the user ids) goes to a group DM of those people,
# opened first with conversations.open: a peer pairing's introduction (bot/pairing_commands.py).
OPEN_GROUP_DM = "open_group_dm"
DIGEST_DELIVERY_KINDS = frozenset(
    {"digest_circle", "digest_facilitator", "digest_leader", "digest_chart"}
)
PAIRING_DELIVERY_KINDS = frozenset({"pairing_intro", "pairing_skipped"})


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DeliveryConfig:
    grace: timedelta = timedelta(hours=6)  # later than this after its time: missed, not sent
    lookback: timedelta = timedelta(days=7)  # how far back a tick looks for unregistered work
    lease: timedelta = timedelta(minutes=2)  # how long a claim protects a send in progress
    concurrency: int = 16  # sends in flight at once (Slack's rate limit is the real bound)
    max_attempts: int = 5  # transient failures before a delivery is marked failed
    digest_chart: bool = True  # DIGEST_CHART: a participation chart follows each leader digest


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


Message = dict[str, Any]
# Builds one delivery's message (None: nothing to send any more). Called one delivery at a
# time, with a read session that already holds the delivery's circle and a nudge's check-in.
MessageBuilder = Callable[[Session, Delivery], Message | None]


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
        config: DeliveryConfig | None = None,
        clock: Callable[[], datetime] = wall_clock,
        build_message: MessageBuilder | None = None,
    ) -> None:
        self.db = db
        self.pacer = SendPacer()
        self.client = paced_client(client, self.pacer)
        self.config = config or DeliveryConfig()
        self.clock = clock  # wall clock for leases
        self.build_message = build_message  # None: SharedMessages, fresh for every send

    # --- the whole tick ---------------------------------------------------------------------

    def tick(self, now: datetime) -> TickReport:
        """Do all work due at `now`, once. Safe to run concurrently and repeatedly."""
        report = TickReport()
        report.registered += self.form_pairings(now)
        self.register(self.due(now), now=now, report=report)
        self.send_pending(now=now, report=report)
        return report

    def form_pairings(self, now: datetime) -> int:
        """Form the pairing rounds due by `now`, each once with its messages as pending
        deliveries (bot/pairing_commands.py); returns how many messages that queued."""
        from bot.pairing import rounds as pairing_commands

        return pairing_commands.form_due_rounds(
            self.db,
            self.client,
            now=now,
            since=now - self.config.lookback,
            grace=self.config.grace,
        )

    def due(self, now: datetime) -> list[DueMessage]:
        with self.db.read_session() as session:
            return due_messages(
                session,
                now=now,
                since=now - self.config.lookback,
                charts=self.config.digest_chart,
            )

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
        build = self.build_message or SharedMessages(self.channel_readers())
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

    def channel_readers(self) -> Callable[[Circle], ChannelReaders]:
        """Reads who is in a circle's channel, once per circle for the send that asks."""
        read: dict[int | None, ChannelReaders] = {}
        lock = threading.Lock()

        def readers(circle: Circle) -> ChannelReaders:
            with lock:  # senders build in parallel; one read per channel is enough
                if circle.id not in read:
                    read[circle.id] = read_channel_readers(
                        self.db, self.client, circle, now=self.clock()
                    )
                return read[circle.id]

        return readers

    def claim(self, delivery_id: int) -> bool:
        """Claim one delivery on its own (tests use this to play a sender that then dies)."""
        with _GroupWriter(self.db, self.clock, self.config.lease) as writer:
            return delivery_id in writer.claim([delivery_id])

    def _prepare(self, ids: list[int], build: MessageBuilder) -> list[_Ready]:
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


class SharedMessages:
    """The default MessageBuilder of one send: what a circle's deliveries share is built once.

    Check-ins (and nudges) to the members of a circle differ only in the delivery id their
    buttons carry. So the message is built once per circle, kind, question set and circle name,
    and each delivery gets a copy with its id filled in (`with_delivery_id`). The key holds
    everything the shared part is built from, so a renamed circle gets a fresh message; the
    circle itself is read with every claimed batch, so archiving it stops the rest of its
    fan-out. A new SharedMessages is made for every send, so nothing outlives a tick.
    A part that differs per recipient would go into the per-delivery step, not into the key.
    """

    def __init__(self, channel_readers: Callable[[Circle], ChannelReaders] | None = None) -> None:
        from bot.pairing.rounds import PeerIndex

        # Who reads a circle's channel (bot/channel_readers.py). Without a way to ask Slack,
        # nobody's text is quoted in a channel: fail closed.
        self._readers = channel_readers or (
            lambda circle: unreadable(circle.channel_id, "not_checked")
        )
        self._shared: dict[tuple[object, ...], Message] = {}
        self._peers = PeerIndex()  # a debrief names the recipient's peers: per recipient

    def __call__(self, session: Session, delivery: Delivery) -> Message | None:
        from bot.rhythm import messages

        circle = session.get(Circle, delivery.circle_id)
        if circle is None or circle.is_archived:
            return None
        if delivery.kind in messages.CHECKIN_KINDS:
            peers = (
                self._peers.peers(session, circle.id or 0, delivery.recipient, delivery.due_at)
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
            if key not in self._shared:
                self._shared[key] = messages.checkin_message(
                    kind=delivery.kind,
                    circle_name=circle.name,
                    questions=messages.questions_preview(delivery.kind, circle.prompt_set),
                    delivery_id=0,
                    peer_user_ids=peers,
                )
            return with_delivery_id(self._shared[key], delivery.id or 0)
        if delivery.kind == "nudge":
            parent = session.get(Delivery, delivery.parent_id)
            if parent is None or parent.answered_at or parent.skipped_at:
                return None  # answered or skipped meanwhile: no nudge
            key = ("nudge", parent.kind, circle.id, circle.name)
            if key not in self._shared:
                self._shared[key] = messages.nudge_message(
                    kind=parent.kind, circle_name=circle.name, delivery_id=0
                )
            return with_delivery_id(self._shared[key], parent.id or 0)  # the buttons answer it
        if delivery.kind == "demoday_reminder":
            # One per channel: nothing shared. Sign-up topics only if every reader may.
            return _demoday_reminder(session, delivery, circle, self._readers(circle))
        if delivery.kind in DIGEST_DELIVERY_KINDS:
            from bot.digest import compose as digest

            return digest.message_for_delivery(session, delivery, circle, self._readers)
        if delivery.kind in PAIRING_DELIVERY_KINDS:
            from bot.pairing import rounds as pairing_commands

            return pairing_commands.message_for_delivery(session, delivery, circle)
        raise ValueError(f"unknown delivery kind {delivery.kind!r}")


def default_message(session: Session, delivery: Delivery) -> Message | None:
    """The message for one delivery, or None when it should no longer be sent."""
    return SharedMessages()(session, delivery)


def with_delivery_id(shared: Message, delivery_id: int) -> Message:
    """A copy of a shared check-in or nudge whose Write and Skip buttons carry this id.

    Only the blocks that change are copied; the rest is shared (messages are never mutated).
    """
    from bot.rhythm import messages

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


def _demoday_reminder(
    session: Session, delivery: Delivery, circle: Circle, readers: ChannelReaders
) -> Message | None:
    from bot.rhythm import messages

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
        topics=readers.may_quote(Visibility.CIRCLE),  # sign-up topics are the circle's
        now=delivery.due_at,
    )
