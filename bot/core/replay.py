"""Refuses a signed Slack request that was already accepted: a replay inside Slack's window.

Bolt checks the signature and that the timestamp is within 5 minutes of now; a captured request
posted again byte for byte passes both. `ReplayGuard` is Bolt middleware that runs right after
Bolt's signature check (`App(before_authorize=...)`, see `bot.app.build_app`): it inserts the
request's signature into `seen_request` (`INSERT … ON CONFLICT DO NOTHING` on its primary key,
so of two processes receiving the same replay at once only one inserts) and answers 401,
running nothing, when the signature is already there. A request with a bad signature never gets
here (Bolt answers 401 first), so nobody can fill the table with guessed signatures.

Slack retries an Events API delivery (X-Slack-Retry-Num) and may sign the retry in the same
second as the original, giving the same signature. So a signed `event_callback` body is
remembered under (signature, retry number 1-3); anything else under (signature, 0). Headers
are not signed: adding a retry header to a slash command or an interaction changes nothing.

Only the signature and the request timestamp are stored, never the body. Rows whose timestamp is
older than the window plus a margin (clock skew between processes) are deleted, at most once
every few minutes per process, by the request that finds the clean-up due.

Socket Mode carries no signatures: `build_app` does not install the guard there.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from storage.db import Database
from storage.models import SeenRequest

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 5 * 60  # Bolt (like Slack) refuses timestamps further than this from now
MARGIN_SECONDS = 5 * 60  # clocks of processes sharing the database may disagree
CLEANUP_EVERY_SECONDS = 5 * 60
MAX_EVENT_RETRIES = 3  # Slack retries an event at most 3 times

_SIGNATURE = re.compile(r"v0=([0-9a-f]{64})")
_TABLE = SeenRequest.__table__  # type: ignore[attr-defined]


def _header(req: BoltRequest, name: str) -> str:
    values = req.headers.get(name)
    return str(values[0]) if values else ""


def event_retry_num(req: BoltRequest) -> int:
    """Slack's retry number (1-3) of a signed Events API `event_callback`; 0 for anything else.

    The body is signed, the header is not: only an event_callback body (JSON, as Bolt parses
    it) may be remembered apart from its earlier deliveries, and only up to Slack's 3 retries.
    """
    if not req.raw_body.startswith("{") or req.body.get("type") != "event_callback":
        return 0
    raw = _header(req, "x-slack-retry-num")
    if not raw.isdigit():
        return 0
    number = int(raw)
    return number if 1 <= number <= MAX_EVENT_RETRIES else 0


class ReplayGuard(Middleware):
    """Remembers accepted signatures in the database and refuses a request seen before."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock  # wall-clock seconds, like Bolt's own timestamp check
        insert = pg_insert if db.url.get_backend_name() == "postgresql" else sqlite_insert
        # preserve_rowcount: without it SQLAlchemy reports -1 for an INSERT on psycopg.
        self._insert = (
            insert(_TABLE).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        )
        self._next_cleanup = float("-inf")
        self._cleaning = threading.Lock()

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],  # Bolt's name for it
    ) -> BoltResponse | None:
        if req.mode == "socket_mode":
            return next()
        match = _SIGNATURE.fullmatch(_header(req, "x-slack-signature"))
        timestamp = _header(req, "x-slack-request-timestamp")
        if match is None or not timestamp.isdigit():
            return next()  # unsigned: only possible with request verification off
        try:
            first = self.remember(match.group(1), event_retry_num(req), int(timestamp))
        except SQLAlchemyError as exc:
            # Fail closed: without the database nothing can be checked (nor done). Events are
            # redelivered by Slack; a person sees Slack's error and can try again.
            logger.warning("replay check failed, refusing the request: %s", type(exc).__name__)
            return BoltResponse(status=503, body={"error": "try again later"})
        if first:
            return next()
        logger.warning(
            "refused a replayed Slack request (signature %s…, timestamp %s)",
            match.group(1)[:12],
            timestamp,
        )
        return BoltResponse(status=401, body={"error": "invalid request"})

    def remember(self, signature: str, retry_num: int, request_ts: int) -> bool:
        """Record a signature; True if it is new, False if it was already recorded."""
        row: dict[str, Any] = {
            "signature": signature,
            "retry_num": retry_num,
            "request_ts": request_ts,
        }
        with self.db.engine.begin() as connection:
            inserted = connection.execute(self._insert, row).rowcount
        self._clean_if_due()
        return inserted == 1

    def clean(self) -> int:
        """Delete the signatures no process can accept again; returns how many went."""
        cutoff = int(self.clock()) - WINDOW_SECONDS - MARGIN_SECONDS
        with self.db.engine.begin() as connection:
            result = connection.execute(delete(_TABLE).where(_TABLE.c.request_ts < cutoff))
        return int(result.rowcount or 0)

    def _clean_if_due(self) -> None:
        now = self.clock()
        if now < self._next_cleanup or not self._cleaning.acquire(blocking=False):
            return
        try:
            if now >= self._next_cleanup:
                self._next_cleanup = now + CLEANUP_EVERY_SECONDS
                deleted = self.clean()
                logger.debug("forgot %d replay signatures", deleted)
        except SQLAlchemyError:
            logger.warning("cleaning old replay signatures failed; next try in a few minutes")
        finally:
            self._cleaning.release()
