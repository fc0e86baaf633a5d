"""Exactly-once delivery through the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import http.server
import itertools
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import make_deliverer
from bot.delivery.engine import Deliverer, DeliveryConfig
from bot.rhythm import messages
from bot.slack.pacing import HEADROOM, PROBE_EVERY, PROBE_STEP, KeepAliveWebClient, SendPacer
from storage.models import Circle, Delivery, DeliveryStatus, DemoDay, DemoSignup
from tests.factories import LONG_AGO, T, add_participant, make_circle, utc, weekly
from tests.harness import ANA, BEN, CHANNEL, CHLOE, BotHarness

MONDAY_0900_LONDON = utc(2026, 12, 7, 9)
SCHEDULED_AT = utc(2026, 12, 4, 12)  # the Friday before: last week's occurrence predates it


def set_up_checkin(bot: BotHarness, *people: tuple[str, str]) -> int:
    with bot.db.session() as s:
        circle = make_circle(s, channel_id=CHANNEL)
        for user_id, tz in people or ((ANA, "Europe/London"), (BEN, "Europe/London")):
            add_participant(s, circle, user_id, tz)
        weekly(s, circle, "checkin", 0, "09:00", created_at=SCHEDULED_AT)
        assert circle.id is not None
        return circle.id


def deliveries(bot: BotHarness) -> list[Delivery]:
    with bot.db.session() as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))).all())


def dms_to(bot: BotHarness, user_id: str) -> list[dict[str, object]]:
    return [
        c.args for c in bot.calls("chat.postMessage") if c.ok and c.args.get("channel") == user_id
    ]


def test_a_due_checkin_is_sent_once_however_often_we_tick(bot: BotHarness) -> None:
    set_up_checkin(bot)
    deliverer = bot.services.deliverer
    assert deliverer.tick(MONDAY_0900_LONDON - timedelta(seconds=1)).sent == 0
    report = deliverer.tick(MONDAY_0900_LONDON + timedelta(seconds=30))
    assert (report.registered, report.sent, report.failed) == (2, 2, 0)
    for _ in range(3):
        assert deliverer.tick(MONDAY_0900_LONDON + timedelta(minutes=5)).sent == 0
    assert len(dms_to(bot, ANA)) == 1 and len(dms_to(bot, BEN)) == 1
    rows = deliveries(bot)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert all(r.message_ts and r.channel_id and r.channel_id.startswith("D") for r in rows)
    [dm] = dms_to(bot, ANA)
    assert "Leads" in str(dm["text"])
    blocks: list[dict[str, Any]] = dm["blocks"]  # type: ignore[assignment]
    actions = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["reflection_open", "checkin_skip"]


def test_work_older_than_the_grace_window_is_recorded_as_missed(bot: BotHarness) -> None:
    set_up_checkin(bot)
    report = bot.services.deliverer.tick(MONDAY_0900_LONDON + timedelta(hours=6, minutes=1))
    assert (report.missed, report.sent) == (2, 0)
    assert {r.status for r in deliveries(bot)} == {DeliveryStatus.MISSED}
    assert bot.calls("chat.postMessage") == []


def test_work_within_the_grace_window_is_sent_late(bot: BotHarness) -> None:
    set_up_checkin(bot)
    report = bot.services.deliverer.tick(MONDAY_0900_LONDON + timedelta(hours=5, minutes=59))
    assert (report.missed, report.sent) == (0, 2)


def test_permanent_errors_fail_with_their_reason_and_are_not_retried(bot: BotHarness) -> None:
    from bot.sandbox.fake_slack import FakeUser

    bot.fake.add_user(FakeUser(id="UQUIT", name="quit", deleted=True))
    set_up_checkin(bot, (ANA, "Europe/London"), ("UQUIT", "Europe/London"))
    report = bot.services.deliverer.tick(MONDAY_0900_LONDON)
    assert (report.sent, report.failed) == (1, 1)
    failed = [r for r in deliveries(bot) if r.status == DeliveryStatus.FAILED]
    assert [(r.recipient, r.error) for r in failed] == [("UQUIT", "account_inactive")]
    bot.services.deliverer.tick(MONDAY_0900_LONDON + timedelta(minutes=1))
    assert len([c for c in bot.calls("chat.postMessage") if c.args["channel"] == "UQUIT"]) == 1


def test_transient_errors_are_retried_on_the_next_tick(bot: BotHarness) -> None:
    set_up_checkin(bot, (ANA, "Europe/London"))
    bot.fake.inject_error("chat.postMessage", status=500, times=3)  # beyond the client's 2 retries
    first = bot.services.deliverer.tick(MONDAY_0900_LONDON)
    assert (first.sent, first.retrying) == (0, 1)
    [row] = deliveries(bot)
    assert (row.status, row.error, row.attempts) == (DeliveryStatus.PENDING, "http_500", 1)
    second = bot.services.deliverer.tick(MONDAY_0900_LONDON + timedelta(seconds=30))
    assert second.sent == 1
    assert len(dms_to(bot, ANA)) == 1


def test_a_crashed_senders_claim_is_taken_over_after_its_lease(bot: BotHarness) -> None:
    """At-least-once: a row left `sending` by a dead process is sent again after its lease."""
    set_up_checkin(bot, (ANA, "Europe/London"))
    wall = [datetime(2026, 12, 7, 9, 0, tzinfo=MONDAY_0900_LONDON.tzinfo)]
    deliverer = make_deliverer(
        bot.db,
        bot.services.client,
        config=DeliveryConfig(lease=timedelta(seconds=60)),
        clock=lambda: wall[0],
    )
    [row_id] = deliverer.register(deliverer.due(MONDAY_0900_LONDON), now=MONDAY_0900_LONDON)
    assert deliverer.claim(row_id)  # the "crashed" process claimed it and died
    assert deliverer.send_pending(now=MONDAY_0900_LONDON).sent == 0  # lease still valid
    wall[0] += timedelta(seconds=61)
    assert deliverer.send_pending(now=MONDAY_0900_LONDON).sent == 1
    assert len(dms_to(bot, ANA)) == 1
    [row] = deliveries(bot)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)


def test_two_schedulers_ticking_at_once_send_each_message_once(bot: BotHarness) -> None:
    people = [(ANA, "Europe/London"), (BEN, "Europe/Berlin"), (CHLOE, "Asia/Kolkata")]
    with bot.db.session() as s:
        for n in range(4):
            circle = make_circle(s, channel_id=f"C{n}")
            for user_id, tz in people:
                add_participant(s, circle, user_id, tz)
            weekly(s, circle, "checkin", 0, "09:00", created_at=SCHEDULED_AT)
    deliverers = [make_deliverer(bot.db, bot.services.client) for _ in range(4)]
    barrier = threading.Barrier(len(deliverers))
    reports = []

    def run(deliverer: Deliverer) -> None:
        barrier.wait()
        reports.append(deliverer.tick(utc(2026, 12, 7, 9, 5)))  # all three zones within grace

    threads = [threading.Thread(target=run, args=(d,)) for d in deliverers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in reports) == 12
    assert sum(r.registered for r in reports) == 12
    posts = [c for c in bot.calls("chat.postMessage") if c.ok]
    assert len(posts) == 12
    assert len({r.key for r in deliveries(bot)}) == 12


def test_one_nudge_after_24_hours_only_for_the_unanswered(bot: BotHarness) -> None:
    set_up_checkin(bot)
    deliverer = bot.services.deliverer
    deliverer.tick(MONDAY_0900_LONDON)
    with bot.db.session() as s:
        ben = s.exec(select(Delivery).where(Delivery.recipient == BEN)).one()
        ben.answered_at = MONDAY_0900_LONDON + timedelta(hours=2)
    deliverer.tick(MONDAY_0900_LONDON + timedelta(hours=23, minutes=59))
    assert len(dms_to(bot, ANA)) == 1
    deliverer.tick(MONDAY_0900_LONDON + timedelta(hours=24))
    deliverer.tick(MONDAY_0900_LONDON + timedelta(hours=30))
    assert len(dms_to(bot, ANA)) == 2 and len(dms_to(bot, BEN)) == 1
    nudge = dms_to(bot, ANA)[1]
    assert "reminder" in str(nudge["text"]).lower() or "still" in str(nudge["text"]).lower()


def test_a_nudge_is_dropped_if_the_checkin_was_answered_meanwhile(bot: BotHarness) -> None:
    set_up_checkin(bot, (ANA, "Europe/London"))
    deliverer = bot.services.deliverer
    deliverer.tick(MONDAY_0900_LONDON)
    later = MONDAY_0900_LONDON + timedelta(hours=24)
    due = deliverer.due(later)
    with bot.db.session() as s:
        row = s.exec(select(Delivery)).one()
        row.answered_at = later
    deliverer.register(due, now=later)
    deliverer.send_pending(now=later)
    assert len(dms_to(bot, ANA)) == 1
    nudge = [r for r in deliveries(bot) if r.kind == "nudge"]
    assert [(r.status, r.error) for r in nudge] == [(DeliveryStatus.MISSED, "no longer relevant")]


def test_demo_day_reminders_post_in_the_channel_with_signups(bot: BotHarness) -> None:
    starts = utc(2026, 12, 10, 15)
    with bot.db.session() as s:
        circle = make_circle(s, channel_id=CHANNEL)
        demo = DemoDay(
            team_id=T,
            circle_id=circle.id,  # type: ignore[arg-type]
            title="Q4 demo day",
            starts_at=starts,
            reminder_offsets="86400,3600",
            created_by="UFAC",
            created_at=LONG_AGO,
        )
        s.add(demo)
        s.flush()
        s.add(
            DemoSignup(
                team_id=T,
                demo_day_id=demo.id,  # type: ignore[arg-type]
                user_id=ANA,
                title="Pricing <!channel> experiment",
                created_at=LONG_AGO,
                updated_at=LONG_AGO,
            )
        )
        add_participant(s, circle, ANA, "Europe/London")
    bot.fake.add_channel(CHANNEL, "product-leads", [ANA, "UFAC"])  # only the circle reads it
    deliverer = bot.services.deliverer
    deliverer.tick(starts - timedelta(days=1))
    deliverer.tick(starts - timedelta(minutes=59))
    posts = [c.args for c in bot.calls("chat.postMessage") if c.args.get("channel") == CHANNEL]
    assert len(posts) == 2
    body = str(posts[0]["blocks"])
    assert f"<!date^{int(starts.timestamp())}^" in body
    assert f"<@{ANA}>" in body and "Pricing &lt;!channel&gt; experiment" in body
    assert "<!channel>" not in body


def test_an_archived_circles_pending_work_is_not_sent(bot: BotHarness) -> None:
    set_up_checkin(bot, (ANA, "Europe/London"))
    deliverer = bot.services.deliverer
    deliverer.register(deliverer.due(MONDAY_0900_LONDON), now=MONDAY_0900_LONDON)
    with bot.db.session() as s:
        circle = s.exec(select(Circle)).one()
        circle.archived_at = MONDAY_0900_LONDON
    deliverer.send_pending(now=MONDAY_0900_LONDON)
    assert bot.calls("chat.postMessage") == []


# --- what a fan-out builds once, and what each delivery gets --------------------------------


def test_every_checkin_is_the_full_message_with_its_own_delivery_id(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    set_up_checkin(bot, (ANA, "Europe/London"), (BEN, "Europe/London"), (CHLOE, "Europe/London"))
    bot.services.deliverer.tick(MONDAY_0900_LONDON)
    rows = deliveries(bot)
    assert len(rows) == 3
    questions = messages.questions_preview("checkin", bot.circles()[0].prompt_set)
    for row in rows:
        assert row.id is not None
        expected = messages.checkin_message(
            kind="checkin", circle_name="Leads", questions=questions, delivery_id=row.id
        )
        [dm] = dms_to(bot, row.recipient)
        assert (dm["text"], dm["blocks"]) == (expected["text"], expected["blocks"])


def test_a_circle_renamed_between_ticks_gets_checkins_with_its_new_name(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    set_up_checkin(bot, (ANA, "Europe/London"))
    deliverer = bot.services.deliverer
    deliverer.tick(MONDAY_0900_LONDON)
    with bot.db.session() as s:
        s.exec(select(Circle)).one().name = "Product Leads"
    deliverer.tick(MONDAY_0900_LONDON + timedelta(days=7))
    first, second = (str(dm["text"]) for dm in dms_to(bot, ANA))
    assert "*Leads*" in first
    assert "*Product Leads*" in second


def test_a_nudges_buttons_answer_the_checkin_it_follows_up(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    set_up_checkin(bot)
    deliverer = bot.services.deliverer
    deliverer.tick(MONDAY_0900_LONDON)
    deliverer.tick(MONDAY_0900_LONDON + timedelta(hours=24))
    checkins = {r.recipient: r.id for r in deliveries(bot) if r.kind == "checkin"}
    for user_id in (ANA, BEN):
        checkin, nudge = dms_to(bot, user_id)
        assert button_values(nudge) == [str(checkins[user_id])] * 2
        assert button_values(checkin) == [str(checkins[user_id])] * 2


def button_values(message: dict[str, object]) -> list[str]:
    blocks: list[dict[str, Any]] = message["blocks"]  # type: ignore[assignment]
    return [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


# --- the fan-out's Slack client: 429s and dropped connections --------------------------------


def test_a_throttled_checkin_waits_for_retry_after_and_is_sent(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    set_up_checkin(bot, (ANA, "Europe/London"))
    bot.fake.inject_error("chat.postMessage", "ratelimited", status=429, times=1)
    report = bot.services.deliverer.tick(MONDAY_0900_LONDON)
    assert (report.sent, report.retrying) == (1, 0)
    first, second = bot.calls("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95  # the fake's Retry-After: 1


def test_a_dropped_connection_is_retried_on_a_new_one(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    set_up_checkin(bot, (ANA, "Europe/London"), (BEN, "Europe/London"))
    bot.fake.inject_connection_drop("chat.postMessage")
    report = bot.services.deliverer.tick(MONDAY_0900_LONDON)
    assert report.sent == 2
    assert sorted(c.status for c in bot.calls("chat.postMessage")) == [0, 200, 200]
    assert len(dms_to(bot, ANA)) == 1 and len(dms_to(bot, BEN)) == 1


class _Slack(http.server.BaseHTTPRequestHandler):
    """Answers every Web API call with ok; `api.test` answers, then hangs up without saying so."""

    protocol_version = "HTTP/1.1"
    connections = 0
    hung_up = threading.Event()

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"] or 0))
        body = b'{"ok": true, "channel": "D1", "ts": "1.0"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path.endswith("/api.test"):
            self.close_connection = True

    def finish(self) -> None:
        super().finish()
        type(self).hung_up.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_fan_out_client_keeps_its_connection_and_replaces_a_closed_one() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = KeepAliveWebClient(
        token="xoxb-test",
        base_url=f"http://127.0.0.1:{server.server_port}/api/",
        retry_handlers=[],  # a broken connection would raise, not be retried
    )
    try:
        for n in range(5):
            assert client.chat_postMessage(channel=f"U{n}", text="hi")["ok"]
        assert _Slack.connections == 1
        client.api_call("api.test")  # Slack closes the connection after answering
        assert _Slack.hung_up.wait(5)
        time.sleep(0.05)  # the close reaches this end
        assert client.chat_postMessage(channel="U9", text="hi")["ok"]  # no error: a new one
        assert _Slack.connections == 2
        client.close_idle_connections()
        assert client.chat_postMessage(channel="U9", text="hi")["ok"]
        assert _Slack.connections == 3
    finally:
        client.close_idle_connections()
        server.shutdown()
        server.server_close()


# --- pacing (clock and sleep injected) --------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.during_sleep: list[Callable[[], None]] = []  # run once each, on the next sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        while self.during_sleep:
            self.during_sleep.pop()()


def throttled_after_a_burst(t: FakeTime, sends: int = 100, burst_seconds: float = 0.2) -> SendPacer:
    """A pacer whose first `sends` went out unpaced and were accepted; then Slack said 429."""
    pacer = SendPacer(clock=t.clock, sleep=t.sleep)
    for n in range(sends):
        t.now = n * burst_seconds / sends
        with pacer.turn():
            pass
    t.now = burst_seconds
    pacer.throttled(retry_after=1.0)
    return pacer


def test_after_a_429_sends_wait_for_retry_after_then_go_just_under_the_accepted_rate() -> None:
    t = FakeTime()
    pacer = throttled_after_a_burst(t)
    turns = []
    for _ in range(5):
        with pacer.turn():
            turns.append(t.now)
    assert turns[0] == pytest.approx(1.2)  # the 429 at 0.2 s said Retry-After: 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(turns)]
    assert gaps == pytest.approx([1 / (100 * HEADROOM)] * 4)


def test_a_turn_booked_before_a_429_waits_for_the_pause() -> None:
    t = FakeTime()
    pacer = throttled_after_a_burst(t)
    with pacer.turn():
        pass
    throttled_at: list[float] = []

    def slack_throttles_another_sender() -> None:
        throttled_at.append(t.now)
        pacer.throttled(retry_after=2.0)

    t.during_sleep.append(slack_throttles_another_sender)
    with pacer.turn():
        let_go = t.now
    assert let_go == pytest.approx(throttled_at[0] + 2.0)


def test_a_raised_pace_that_runs_into_a_429_is_undone_and_raised_half_as_often() -> None:
    t = FakeTime()
    pacer = throttled_after_a_burst(t)
    for _ in range(2):  # the first was booked during the pause, the second after it
        with pacer.turn():
            pass
    paced = pacer.rate or 0.0
    assert paced == pytest.approx(100 * HEADROOM)
    t.now += PROBE_EVERY + 1
    with pacer.turn():
        pass
    assert pacer.rate == pytest.approx(paced / PROBE_STEP)  # raised after a quiet while
    pacer.throttled(retry_after=1.0)
    assert pacer.rate == pytest.approx(paced)  # too far: back to the pace that worked
    t.now += PROBE_EVERY + 2
    with pacer.turn():
        pass
    assert pacer.rate == pytest.approx(paced)  # not raised again as soon
    t.now += PROBE_EVERY
    with pacer.turn():
        pass
    assert pacer.rate == pytest.approx(paced / PROBE_STEP)


def test_paced_sends_are_held_back_while_slack_is_not_answering() -> None:
    t = FakeTime()
    pacer = throttled_after_a_burst(t)  # answers took no time: two sends in flight are plenty
    answer = threading.Event()
    let_go: list[float] = []

    def sender() -> None:
        with pacer.turn():
            let_go.append(t.now)
            answer.wait(10)

    senders = [threading.Thread(target=sender) for _ in range(3)]
    for thread in senders:
        thread.start()
    deadline = time.monotonic() + 5
    while len(let_go) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert len(let_go) == 2  # the third waits for an answer
    answer.set()
    for thread in senders:
        thread.join(5)
    assert len(let_go) == 3
