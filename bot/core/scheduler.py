"""The rhythm loop: one scheduler per deployment runs the delivery tick every few seconds.

APScheduler (3.x, in-memory job store: all state lives in our own tables) calls `tick`
every TICK_SECONDS (30 by default), so due work goes out within a minute of its time. Only
the leader ticks:
- PostgreSQL: a session-level advisory lock held on a dedicated connection. If the leader
  dies its connection closes, the lock is released, and another process takes it at its
  next attempt (within one interval).
- SQLite: an exclusive file lock beside the database file (one process schedules).
`circlebot tick` does not need the lock: claims keep it exactly-once anyway.

A `daily` job (the retention sweep when DATA_RETENTION_DAYS is set: bot/app.py wires it) runs on
the leader once a day, after a tick; it must be idempotent, so a second process doing it is
harmless.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, text

from storage.db import Database

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x636972636C65626F  # "circlebo"
DAILY_EVERY = timedelta(days=1)
DAILY_RETRY = timedelta(hours=1)  # after a failure: soon, but not every tick


class TickReport(Protocol):
    registered: int
    sent: int
    failed: int
    retrying: int

    def line(self) -> str: ...


class Ticks(Protocol):
    """What the scheduler runs: the delivery engine's tick (bot/delivery/engine.py)."""

    def tick(self, now: datetime) -> TickReport: ...


class Leadership(Protocol):
    def acquire(self) -> bool:
        """True while this process is (or just became) the leader."""
        ...

    def release(self) -> None: ...


class PostgresLeadership:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Connection | None = None
        self._held = False

    def acquire(self) -> bool:
        if self._held and self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))  # still alive, so still ours
                # Not left "idle in transaction" until the next tick, where a server's
                # idle_in_transaction_session_timeout would end the session and the lock.
                self._connection.commit()
                return True
            except Exception:
                # The session is gone (a database restart, a failover) and the lock with it:
                # take it again now on a new connection rather than skip a tick.
                logger.warning("lost the scheduler lock connection; taking the lock again")
                self._drop()
        try:
            if self._connection is None:
                self._connection = self.db.engine.connect()
            got = self._connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            ).scalar()
            self._connection.commit()
            self._held = bool(got)
            if self._held:
                logger.info("this process is now the scheduler (advisory lock taken)")
            return self._held
        except Exception as exc:
            logger.warning(
                "could not take the scheduler lock (%s); will retry",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            self._drop()
            return False

    def _drop(self) -> None:
        self._held = False
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:
                logger.debug("closing a broken lock connection failed", exc_info=True)
            self._connection = None

    def release(self) -> None:
        if self._connection is not None and self._held:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                self._connection.commit()
            except Exception:
                logger.debug("unlocking failed; closing the connection releases it", exc_info=True)
        self._held = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class FileLeadership:
    """An exclusive flock on `<database>.scheduler.lock`; in-memory databases always lead."""

    def __init__(self, db: Database) -> None:
        database = db.url.database
        self.path = (
            None if database in (None, "", ":memory:") else Path(f"{database}.scheduler.lock")
        )
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        if self.path is None or self._file is not None:
            return True
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        logger.info("this process is now the scheduler (%s)", self.path)
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def leadership_for(db: Database) -> Leadership:
    return FileLeadership(db) if db.is_sqlite else PostgresLeadership(db)


class RhythmScheduler:
    def __init__(
        self,
        deliverer: Ticks,
        leadership: Leadership,
        *,
        clock: Callable[[], datetime],
        interval_seconds: int = 30,
        daily: Callable[[datetime], str] | None = None,
    ) -> None:
        self.deliverer = deliverer
        self.leadership = leadership
        self.clock = clock
        self.daily = daily  # returns a line for the log
        self._next_daily: datetime | None = None  # None: at the first tick
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.run_once,
            "interval",
            seconds=interval_seconds,
            id="rhythm-tick",
            next_run_time=datetime.now(UTC),  # catch up on start (grace window applies)
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=True)
        self.leadership.release()

    def run_once(self) -> None:
        with self._lock:
            if not self.leadership.acquire():
                return
            try:
                report = self.deliverer.tick(self.clock())
            except Exception:
                logger.exception("the rhythm tick failed; the next one retries")
            else:
                if report.registered or report.sent or report.failed or report.retrying:
                    logger.info("tick: %s", report.line())
            self.run_daily_if_due()

    def run_daily_if_due(self) -> None:
        """The daily job, at most once a day (an hour later after a failure)."""
        if self.daily is None:
            return
        now = self.clock()
        if self._next_daily is not None and now < self._next_daily:
            return
        try:
            line = self.daily(now)
        except Exception:
            logger.exception("the daily job failed; retrying in an hour")
            self._next_daily = now + DAILY_RETRY
            return
        self._next_daily = now + DAILY_EVERY
        logger.info("%s", line)
