"""Digest metrics benchmark: 1,000 circles x 12 members x 52 weeks of history.

    python bench/digest.py [--circles 1000] [--members 12] [--weeks 52]
                           [--db sqlite|postgresql|both] [--explain]

For each database (SQLite in a temp file; PostgreSQL in a fresh temp database on the server
named by TEST_DATABASE_URL, dropped afterwards, skipped with a note when there is none) it
bulk-loads two histories, one of `--weeks` weeks and one of a single week (check-ins and
debriefs with their deliveries, nudges, reflections with answers, action items, demo days
with sign-ups), then computes every circle's digest metrics for the last complete week
(bot/digest/metrics.py, no Slack) in a separate process, and prints per history: the median and
95th percentile of one digest (each in its own read session, the two histories alternating
so both see the same machine load), the total for all circles one by one, the same in one
batched `metrics_for_circles` call, the ratio of the per-digest medians, and the computing
process's peak memory (VmHWM).

Targets (issue 5): all digests in under 10 s; per-digest time with 52 weeks at most 1.5x the
time with 1 week; peak memory under 300 MB. `--explain` prints each query's plan for circle 1
(EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL).

The history: 2% of participants have left Slack and 3% were removed along the way; 80% of
check-ins and 60% of debriefs are answered (5 points of that a week late), most others
skipped; 60% of check-ins and every debrief commit to an action item, of which 60% get done,
30% dropped and 10% stay open for good; a demo day every 4 weeks with 4 sign-ups.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.digest.metrics import metrics_for_circle, metrics_for_circles  # noqa: E402
from storage.db import Database  # noqa: E402

TEAM = "T1"
WEEK = date(2026, 11, 16)  # the digest's week: the last complete one at NOW in every zone
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/London", "UTC"]
CHUNK_CIRCLES = 50  # circles generated and written at a time (memory stays flat)

COLUMNS: dict[str, tuple[str, ...]] = {
    "person": ("team_id", "user_id", "name", "real_name", "display_name", "title", "tz",
               "is_bot", "deleted", "refreshed_at"),
    "circle": ("id", "team_id", "channel_id", "name", "status", "created_by", "created_at",
               "tz", "prompt_set", "nudge_after_minutes"),
    "membership": ("id", "team_id", "circle_id", "user_id", "role", "added_by", "added_at",
                   "removed_at"),
    "delivery": ("id", "team_id", "circle_id", "key", "kind", "recipient", "local_date",
                 "due_at", "status", "attempts", "sent_at", "answered_at", "skipped_at",
                 "created_at"),
    "reflection": ("id", "team_id", "circle_id", "user_id", "kind", "delivery_id",
                   "prompt_set", "week_start", "visibility", "named", "peer_user_id",
                   "submitted_at"),
    "reflection_answer": ("id", "team_id", "reflection_id", "question_id", "kind", "text",
                          "number"),
    "action_item": ("id", "team_id", "circle_id", "user_id", "reflection_id", "question_id",
                    "text", "due_date", "status", "created_at", "done_at", "dropped_at",
                    "not_yet_count"),
    "demo_day": ("id", "team_id", "circle_id", "title", "starts_at", "reminder_offsets",
                 "created_by", "created_at"),
    "demo_signup": ("id", "team_id", "demo_day_id", "user_id", "title", "what_tried",
                    "created_at", "updated_at"),
}  # fmt: skip
WHEN: dict[str, frozenset[str]] = {  # columns holding datetimes / dates
    "datetime": frozenset(
        {"refreshed_at", "created_at", "added_at", "removed_at", "due_at", "sent_at",
         "answered_at", "skipped_at", "submitted_at", "done_at", "dropped_at", "starts_at",
         "updated_at"}
    ),
    "date": frozenset({"local_date", "week_start", "due_date"}),
}  # fmt: skip
WORDS = [
    "tried",
    "a",
    "new",
    "approach",
    "to",
    "planning",
    "with",
    "the",
    "team",
    "and",
    "it",
    "mostly",
    "worked",
]


# --- history ---------------------------------------------------------------------------------


class History:
    """Generates rows circle by circle, with ids assigned here so foreign keys line up."""

    def __init__(self, members: int, weeks: int, seed: int = 5) -> None:
        self.members, self.weeks = members, weeks
        self.rng = random.Random(seed)
        self.next_id: dict[str, int] = {table: 0 for table in COLUMNS}

    def _id(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table]

    def _words(self, n: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=n))

    def circle(self, c: int) -> dict[str, list[tuple[Any, ...]]]:
        rng = self.rng
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
        tz_name = ZONES[c % len(ZONES)]
        tz = ZoneInfo(tz_name)
        facilitator = f"U{c:05d}F"
        people = [f"U{c:05d}{i:02d}" for i in range(self.members)]
        for user in [facilitator, *people]:
            gone = user != facilitator and rng.random() < 0.02  # left Slack
            rows["person"].append(
                (TEAM, user, user.lower(), "", "", "", tz_name, False, gone, LONG_AGO)
            )
        rows["circle"].append(
            (c, TEAM, f"C{c:05d}", f"Circle {c}", "active", facilitator, LONG_AGO,
             tz_name if c % 2 else None, "default", 1440)
        )  # fmt: skip
        removed: dict[str, datetime] = {}
        for user, role in [(facilitator, "facilitator"), *((p, "participant") for p in people)]:
            if role == "participant" and rng.random() < 0.03:
                removed[user] = NOW - timedelta(weeks=rng.uniform(0.5, self.weeks))
            rows["membership"].append(
                (self._id("membership"), TEAM, c, user, role, facilitator, LONG_AGO,
                 removed.get(user))
            )  # fmt: skip
        first = WEEK - timedelta(weeks=self.weeks - 1)
        for n in range(self.weeks):
            monday = first + timedelta(weeks=n)
            self._week(rows, c, tz, monday, people, removed, debriefs=n % 2 == 1)
            if n % 4 == 3:
                self._demo_day(rows, c, tz, monday, facilitator, people)
        return rows

    def _at(self, day: date, hour: int, tz: ZoneInfo) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(UTC)

    def _week(
        self,
        rows: dict[str, list[tuple[Any, ...]]],
        c: int,
        tz: ZoneInfo,
        monday: date,
        people: list[str],
        removed: dict[str, datetime],
        *,
        debriefs: bool,
    ) -> None:
        rng = self.rng
        kinds = [("checkin", monday, 9)] + ([("debrief", monday + timedelta(3), 15)] * debriefs)
        for kind, day, hour in kinds:
            due = self._at(day, hour, tz)
            for user in people:
                if user in removed and removed[user] <= due:
                    continue  # no longer in the circle
                delivery = self._id("delivery")
                sent = due + timedelta(seconds=rng.randint(1, 90))
                answered = skipped = None
                roll = rng.random()
                if roll < 0.05:
                    answered = sent + timedelta(days=rng.uniform(7.5, 10))  # a late answer
                elif roll < (0.8 if kind == "checkin" else 0.6):
                    answered = sent + timedelta(minutes=rng.uniform(10, 3600))
                elif roll < 0.9:
                    skipped = sent + timedelta(hours=rng.uniform(1, 30))
                if answered is not None and answered > NOW:
                    answered = None
                rows["delivery"].append(
                    (delivery, TEAM, c, f"{kind}:{c}:{user}:{day}", kind, user, day, due, "sent",
                     1, sent, answered, skipped, due)
                )  # fmt: skip
                if kind == "checkin" and answered is None and skipped is None:
                    nudge_due = due + timedelta(days=1)
                    rows["delivery"].append(
                        (self._id("delivery"), TEAM, c, f"nudge:{delivery}", "nudge", user,
                         day + timedelta(1), nudge_due, "sent", 1, nudge_due, None, None,
                         nudge_due)
                    )  # fmt: skip
                if answered is not None:
                    self._reflection(rows, c, kind, user, people, monday, delivery, answered)

    def _reflection(
        self,
        rows: dict[str, list[tuple[Any, ...]]],
        c: int,
        kind: str,
        user: str,
        people: list[str],
        monday: date,
        delivery: int,
        at: datetime,
    ) -> None:
        rng = self.rng
        reflection = self._id("reflection")
        visibility = rng.choices(["circle", "leaders", "private"], weights=[6, 3, 1])[0]
        peer = rng.choice([p for p in people if p != user]) if kind == "debrief" else None
        rows["reflection"].append(
            (reflection, TEAM, c, user, kind, delivery, "default", monday, visibility,
             rng.random() < 0.3, peer, at)
        )  # fmt: skip
        if kind == "checkin":
            answers: list[tuple[str, str, str | None, int | None]] = [
                ("tried", "long_text", self._words(12), None),
                ("confidence", "scale", None, rng.randint(1, 5)),
            ]
            if rng.random() < 0.5:
                answers.append(("obstacles", "long_text", self._words(8), None))
            item_question = "next_step" if rng.random() < 0.6 else None
        else:
            answers = [
                ("peer", "user", peer, None),
                ("topic", "long_text", self._words(8), None),
                ("insight", "long_text", self._words(10), None),
            ]
            item_question = "commitment"
        if item_question is not None:
            words = self._words(6)
            answers.append((item_question, "action_item", words, None))
            done_at = dropped_at = None
            # Follow-ups in later check-ins settle most items; one in ten stays open for good.
            roll = rng.random()
            if roll < 0.6:
                done_at = at + timedelta(days=rng.uniform(0.5, 21))
            elif roll < 0.9:
                dropped_at = at + timedelta(days=rng.uniform(7, 42))
            if done_at is not None and done_at > NOW:
                done_at = None
            if dropped_at is not None and dropped_at > NOW:
                dropped_at = None
            status = "done" if done_at else "dropped" if dropped_at else "open"
            rows["action_item"].append(
                (self._id("action_item"), TEAM, c, user, reflection, item_question, words,
                 at.date() + timedelta(days=7), status, at, done_at, dropped_at, 0)
            )  # fmt: skip
        for question, answer_kind, answer_text, number in answers:
            rows["reflection_answer"].append(
                (self._id("reflection_answer"), TEAM, reflection, question, answer_kind,
                 answer_text, number)
            )  # fmt: skip

    def _demo_day(
        self,
        rows: dict[str, list[tuple[Any, ...]]],
        c: int,
        tz: ZoneInfo,
        monday: date,
        facilitator: str,
        people: list[str],
    ) -> None:
        # Planned four weeks ahead, so the next one is always in the future.
        starts = self._at(monday + timedelta(weeks=4, days=4), 16, tz)
        day = self._id("demo_day")
        created = starts - timedelta(weeks=4)
        rows["demo_day"].append((day, TEAM, c, "Demo day", starts, "86400", facilitator, created))
        for user in self.rng.sample(people, 4):
            rows["demo_signup"].append(
                (self._id("demo_signup"), TEAM, day, user, self._words(4), "", created, created)
            )


# --- loading -----------------------------------------------------------------------------------


def _sqlite_rows(table: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Datetimes and dates as SQLAlchemy stores them in SQLite (naive UTC text)."""
    columns = COLUMNS[table]
    moments = [n for n, column in enumerate(columns) if column in WHEN["datetime"]]
    days = [n for n, column in enumerate(columns) if column in WHEN["date"]]
    converted = []
    for row in rows:
        values = list(row)
        for n in moments:
            if values[n] is not None:  # all UTC: drop the "+00:00"
                values[n] = values[n].isoformat(" ", "microseconds")[:26]
        for n in days:
            if values[n] is not None:
                values[n] = values[n].isoformat()
        converted.append(tuple(values))
    return converted


def load(db: Database, circles: int, members: int, weeks: int) -> dict[str, int]:
    """Writes the history in chunks: executemany on SQLite, COPY on PostgreSQL."""
    history = History(members, weeks)
    counts = {table: 0 for table in COLUMNS}
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for first in range(1, circles + 1, CHUNK_CIRCLES):
            chunk: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
            for c in range(first, min(first + CHUNK_CIRCLES, circles + 1)):
                for table, rows in history.circle(c).items():
                    chunk[table].extend(rows)
            if db.is_sqlite:
                cursor.execute("BEGIN")
            for table, rows in chunk.items():  # COLUMNS order respects foreign keys
                columns = COLUMNS[table]
                if db.is_sqlite:
                    cursor.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})",
                        _sqlite_rows(table, rows),
                    )
                else:
                    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                    with cursor.copy(sql) as copy:
                        for row in rows:
                            copy.write_row(row)
                counts[table] += len(rows)
            if db.is_sqlite:
                cursor.execute("COMMIT")
            else:
                raw.commit()
        if not db.is_sqlite:
            for table in COLUMNS:  # ids were given explicitly: move the sequences past them
                if "id" in COLUMNS[table]:
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
            raw.commit()
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            cursor.execute("VACUUM ANALYZE")  # statistics, as autovacuum would have by now
            raw.driver_connection.autocommit = False  # type: ignore[union-attr]
    finally:
        raw.close()
    return counts


# --- computing (in its own process, for an honest peak memory) ---------------------------------


def compute(urls: list[str], circles: int) -> dict[str, Any]:
    """Every circle's digest on each database, one by one, alternating between the databases
    so that both see the same machine load; then all circles in one batched call each."""
    dbs = [Database(url) for url in urls]
    ids = list(range(1, circles + 1))
    for db in dbs:  # warm the pools and the statement caches
        with db.read_session() as session:
            metrics_for_circle(session, ids[0], now=NOW, week=WEEK)
    times: list[list[float]] = [[] for _ in dbs]
    for n, circle_id in enumerate(ids):
        order = list(enumerate(dbs))
        for index, db in order if n % 2 else reversed(order):
            began = time.perf_counter()
            with db.read_session() as session:
                metrics_for_circle(session, circle_id, now=NOW, week=WEEK)
            times[index].append(time.perf_counter() - began)
    batched = []
    for db in dbs:
        started = time.perf_counter()
        with db.read_session() as session:
            assert len(metrics_for_circles(session, ids, now=NOW, week=WEEK)) == circles
        batched.append(time.perf_counter() - started)
        db.dispose()
    return {
        "databases": [
            {
                "median_ms": statistics.median(t) * 1000,
                "p95_ms": sorted(t)[int(len(t) * 0.95)] * 1000,
                "total_s": sum(t),
                "batch_s": batch,
            }
            for t, batch in zip(times, batched, strict=True)
        ],
        "peak_mb": peak_memory_mb(),
    }


def peak_memory_mb() -> float:
    """This process's peak resident memory. VmHWM, where Linux has it: ru_maxrss of a child
    process starts from its parent's size at the fork, whatever the child does after."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compute_in_child(urls: list[str], circles: int) -> dict[str, Any]:
    """`compute` in a fresh process, so its peak memory is the digests' alone."""
    result = subprocess.run(
        [sys.executable, __file__, "--circles", str(circles), "--compute", *urls],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def explain(db: Database) -> None:
    """The plan of every query of one digest."""
    statements: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    with db.read_session() as session:
        metrics_for_circle(session, 1, now=NOW, week=WEEK)
    event.remove(db.engine, "before_cursor_execute", record)
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS OFF) "
    with db.engine.connect() as connection:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            table = statement.split("FROM", 1)[1].split()[0]
            print(f"  -- {table}")
            for row in connection.exec_driver_sql(prefix + statement, parameters):
                print("    " + str(row[3] if db.is_sqlite else row[0]))


# --- databases ---------------------------------------------------------------------------------


@contextmanager
def sqlite_database(label: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix=f"digest-bench-{label}-") as folder:
        yield f"sqlite:///{folder}/bench.db"


def postgres_admin_url() -> str | None:
    raw = os.environ.get("TEST_DATABASE_URL", "")
    if not raw:
        return None
    return make_url(raw).set(drivername="postgresql+psycopg").render_as_string(False)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    name = f"circlebot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_reason(admin_url: str | None) -> str | None:
    if admin_url is None:
        return "TEST_DATABASE_URL is not set"
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at TEST_DATABASE_URL is not reachable: {exc}"
    return None


def build(kind: str, url: str, args: argparse.Namespace, weeks: int) -> None:
    db = Database(url)
    db.upgrade()
    started = time.perf_counter()
    counts = load(db, args.circles, args.members, weeks)
    built = time.perf_counter() - started
    rows = sum(counts.values())
    print(
        f"{kind}, {weeks} week{'s' if weeks != 1 else ''} of history: "
        f"built {rows:,} rows in {built:.1f} s "
        f"({rows / built:,.0f} rows/s; {counts['reflection']:,} reflections, "
        f"{counts['reflection_answer']:,} answers, {counts['delivery']:,} deliveries, "
        f"{counts['action_item']:,} action items)",
        flush=True,
    )
    if args.explain:
        explain(db)
    db.dispose()


def run(kind: str, args: argparse.Namespace) -> None:
    def database(label: str) -> Any:
        if kind == "sqlite":
            return sqlite_database(label)
        return postgres_database(postgres_admin_url() or "")

    with database("long") as long_url, database("short") as short_url:
        build(kind, long_url, args, args.weeks)
        build(kind, short_url, args, 1)
        result = compute_in_child([long_url, short_url], args.circles)
    long, short = result["databases"]
    print(f"{kind}: digest metrics of {args.circles:,} circles x {args.members} members")
    print(f"  {'history':<10}{'median 1':>10}{'p95 1':>10}{'all, 1 by 1':>13}{'batched':>9}")
    for weeks, r in ((args.weeks, long), (1, short)):
        history = f"{weeks} week" + ("s" if weeks != 1 else "")
        print(
            f"  {history:<10}{r['median_ms']:>8.2f}ms{r['p95_ms']:>8.2f}ms"
            f"{r['total_s']:>12.2f}s{r['batch_s']:>8.2f}s"
        )
    ratio = long["median_ms"] / short["median_ms"]
    print(f"  per-digest ratio, {args.weeks} weeks / 1 week: {ratio:.2f}x")
    print(f"  peak memory of the computing process: {result['peak_mb']:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--circles", type=int, default=1000)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    parser.add_argument("--compute", nargs="+", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compute:
        print(json.dumps(compute(args.compute, args.circles)))
        return
    if args.db in ("sqlite", "both"):
        run("sqlite", args)
    if args.db in ("postgresql", "both"):
        reason = postgres_reason(postgres_admin_url())
        if reason:
            print(f"postgresql: skipped ({reason})")
        else:
            run("postgresql", args)
    print("targets: all digests < 10 s; ratio <= 1.5x; peak memory < 300 MB")


if __name__ == "__main__":
    main()
