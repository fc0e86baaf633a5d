"""Fan-out benchmark: one check-in to N participants through the fake Slack.

    python bench/fanout.py [--people 2000] [--limit 100] [--window 1] [--concurrency 16]

Runs twice: with chat.postMessage limited to LIMIT calls per WINDOW seconds (429 with
Retry-After beyond it, like Slack), and with no limit. The fake Slack runs in its own process,
as Slack is remote. Prints messages per second against the allowed rate, lost and duplicated
messages (both must be 0) and the bot's peak memory.
Targets (issue 3): at least 90% of the allowed rate; at least 300 messages/s unlimited.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.app import make_deliverer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_web_client
from bot.core.settings import Settings
from bot.delivery.engine import DeliveryConfig
from storage.db import Database
from storage.models import Circle, Membership, Person, Role, Schedule

DUE = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


FAKE_PROCESS = """
import json, sys
from collections import Counter
from bot.sandbox.fake_slack import FakeSlack, FakeUser
people, limit, window = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
with FakeSlack(team_id="T1") as fake:
    for i in range(people):
        fake.add_user(FakeUser(id=f"UB{i:05d}", name=f"ub{i:05d}", tz="Europe/London"))
    if limit:
        fake.set_rate_limit("chat.postMessage", limit, per_seconds=window)
    print(json.dumps({"api_url": fake.api_url, "token": fake.bot_token}), flush=True)
    sys.stdin.readline()
    posts = fake.calls_to("chat.postMessage")
    ok = Counter(str(c.args["channel"]) for c in posts if c.status == 200)
    times = sorted(c.at for c in posts if c.status == 200)
    print(json.dumps({"ok": ok, "throttled": sum(1 for c in posts if c.status == 429),
                      "span": times[-1] - times[0] if len(times) > 1 else 0.0}))
"""


def seed(db: Database, user_ids: list[str]) -> None:
    with db.session() as s:
        circle = Circle(
            team_id="T1", channel_id="C1", name="Bench", created_by="UFAC", created_at=LONG_AGO
        )
        s.add(circle)
        s.flush()
        for user_id in user_ids:
            s.add(Person(team_id="T1", user_id=user_id, tz="Europe/London", refreshed_at=LONG_AGO))
            s.add(
                Membership(
                    team_id="T1",
                    circle_id=circle.id,  # type: ignore[arg-type]
                    user_id=user_id,
                    role=Role.PARTICIPANT,
                    added_by="UFAC",
                    added_at=LONG_AGO,
                )
            )
        s.add(
            Schedule(
                team_id="T1",
                circle_id=circle.id,  # type: ignore[arg-type]
                kind="checkin",
                weekday=0,
                at_minute=9 * 60,
                anchor=date(2026, 11, 30),
                created_by="UFAC",
                created_at=DUE - timedelta(days=2),
            )
        )


def run(people: int, limit: int | None, window: float, concurrency: int) -> dict[str, float]:
    user_ids = [f"UB{i:05d}" for i in range(people)]
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE_PROCESS, str(people), str(limit or 0), str(window)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert fake.stdin is not None and fake.stdout is not None
    slack = json.loads(fake.stdout.readline())
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        db.upgrade()
        seed(db, user_ids)
        settings = Settings(
            slack_bot_token=slack["token"],
            slack_api_url=slack["api_url"],
            database_url=f"sqlite:///{folder}/bench.db",
        )
        deliverer = make_deliverer(
            db, build_web_client(settings), config=DeliveryConfig(concurrency=concurrency)
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        report = deliverer.tick(DUE + timedelta(seconds=5))
        while report.retrying:  # a real deployment retries on its next tick
            report = deliverer.tick(DUE + timedelta(seconds=35))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        db.dispose()
    fake.stdin.write("report\n")
    fake.stdin.flush()
    result = json.loads(fake.stdout.readline())
    fake.wait(timeout=30)
    ok = Counter(result["ok"])
    return {
        "rate": (people - 1) / result["span"] if result["span"] else float("nan"),
        "tick_rate": people / elapsed,
        "allowed": (limit / window) if limit else float("nan"),
        "lost": float(len(set(user_ids) - set(ok))),
        "duplicated": float(sum(ok.values()) - len(ok)),
        "throttled": float(result["throttled"]),
        "seconds": elapsed,
        "cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=100, help="calls allowed per window")
    parser.add_argument("--window", type=float, default=1.0, help="window in seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"fan-out of one check-in to {args.people} participants, {args.concurrency} senders")
    print(
        f"{'case':<24}{'msg/s':>9}{'allowed':>9}{'of allowed':>12}{'lost':>6}{'dup':>5}"
        f"{'429s':>6}{'tick s':>8}{'tick msg/s':>12}{'cpu s':>7}"
    )
    for label, limit in ((f"limit {args.limit}/{args.window:g}s", args.limit), ("no limit", None)):
        r = run(args.people, limit, args.window, args.concurrency)
        share = f"{r['rate'] / r['allowed']:.0%}" if limit else "-"
        allowed = f"{r['allowed']:.0f}" if limit else "-"
        print(
            f"{label:<24}{r['rate']:>9.0f}{allowed:>9}{share:>12}{r['lost']:>6.0f}"
            f"{r['duplicated']:>5.0f}{r['throttled']:>6.0f}{r['seconds']:>8.1f}"
            f"{r['tick_rate']:>12.0f}{r['cpu']:>7.1f}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("msg/s: first to last message Slack accepted; tick: the whole tick (finding the")
    print(f"due work, registering {args.people:,} deliveries, sending, retrying the throttled")
    print("ones); cpu s: CPU time the bot process spent on the tick (all its threads)")
    print(f"peak memory of the bot process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
