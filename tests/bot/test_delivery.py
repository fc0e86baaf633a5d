"""Exactly-once delivery through the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.delivery import Deliverer, DeliveryConfig
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
    actions = [
        e["action_id"]
        for b in dm["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]  # type: ignore[index,union-attr,attr-defined]
    ]
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
    deliverer = Deliverer(
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
    deliverers = [Deliverer(bot.db, bot.services.client) for _ in range(4)]
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
