"""Slack misbehaving for a stretch during a fan-out, through the real delivery tick.

tests/bot/delivery/test_engine.py covers one 429, one dropped connection and one delivery's
5xx; here whole fan-outs run into a 429 storm longer than the client's patience and into a run
of 5xx pages with dropped connections. Whatever the order things happen in, in the end each
person has exactly one check-in, every row is `sent` (or `failed` for a permanent reason only),
and every delivery retried by a later tick is counted: the ticks' `retrying` add up to the
extra claims the rows record.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from datetime import timedelta

import pytest

from bot.delivery.engine import TickReport
from bot.sandbox.fake_slack import FakeUser
from bot.slack.pacing import SendPacer
from storage.models import DeliveryStatus
from tests.bot.delivery.test_engine import MONDAY_0900_LONDON, SCHEDULED_AT, FakeTime, deliveries
from tests.factories import add_participant, make_circle, weekly
from tests.harness import BotHarness

pytestmark = pytest.mark.slow

PEOPLE = 30
STORM_RETRY_AFTER = 0.1  # Slack says whole seconds; a short pause keeps the test quick
CLIENT_TRIES_ON_429 = 6  # the first try and PacedRateLimitRetryHandler's 5 retries


def participants(bot: BotHarness, people: int, *, deactivated: tuple[str, ...] = ()) -> list[str]:
    """A circle of `people` (plus `deactivated` ones) whose check-in is due Monday 09:00."""
    user_ids = [f"UST{i:03d}" for i in range(people)]
    for user_id in user_ids:
        bot.fake.add_user(FakeUser(id=user_id, name=user_id.lower(), tz="Europe/London"))
    for user_id in deactivated:
        bot.fake.add_user(FakeUser(id=user_id, name=user_id.lower(), deleted=True))
    with bot.db.session() as s:
        circle = make_circle(s)
        for user_id in (*user_ids, *deactivated):
            add_participant(s, circle, user_id, "Europe/London")
        weekly(s, circle, "checkin", 0, "09:00", created_at=SCHEDULED_AT)
    return user_ids


def tick_until_settled(bot: BotHarness, reports: list[TickReport], most: int = 6) -> None:
    """Tick every 30 s (of the bot's time) until nothing is left to send."""
    for n in range(most):
        if any(r.status == DeliveryStatus.PENDING for r in deliveries(bot)) or not reports:
            reports.append(
                bot.services.deliverer.tick(MONDAY_0900_LONDON + timedelta(seconds=30 * n))
            )
    assert not any(r.status == DeliveryStatus.PENDING for r in deliveries(bot)), reports


def assert_each_got_exactly_one(bot: BotHarness, people: list[str]) -> None:
    accepted = Counter(
        str(c.args["channel"]) for c in bot.calls("chat.postMessage") if c.status == 200 and c.ok
    )
    assert accepted == Counter(dict.fromkeys(people, 1))
    for user_id in people:  # and what Slack shows: one DM, not one per attempt
        assert len(bot.fake.messages(bot.fake.dm_channel_of(user_id))) == 1, user_id


def assert_retries_counted(bot: BotHarness, reports: list[TickReport]) -> None:
    """Every delivery a tick gave back for later was claimed once more and is counted."""
    extra_claims = sum(r.attempts - 1 for r in deliveries(bot))
    assert sum(r.retrying for r in reports) == extra_claims
    retried_errors = sum(n for r in reports for e, n in r.errors.items() if e != "account_inactive")
    assert retried_errors == extra_claims


def test_a_429_storm_longer_than_the_clients_patience_is_finished_by_the_next_tick(
    bot: BotHarness,
) -> None:
    people = participants(bot, PEOPLE)
    storm = threading.Event()
    storm.set()  # every post is refused while it lasts
    bot.fake.inject_error(
        "chat.postMessage",
        "ratelimited",
        status=429,
        times=10**6,
        match=lambda _args: storm.is_set(),
        retry_after=STORM_RETRY_AFTER,
    )
    first = bot.services.deliverer.tick(MONDAY_0900_LONDON)
    storm.clear()

    # Each send waited out Retry-After as often as the client allows, then gave its delivery
    # back for the next tick: nothing failed, nothing was shown, nobody was lost.
    assert (first.sent, first.failed, first.retrying) == (0, 0, PEOPLE)
    assert first.errors == {"ratelimited": PEOPLE}
    refused = Counter(
        str(c.args["channel"]) for c in bot.calls("chat.postMessage") if c.status == 429
    )
    assert refused == Counter(dict.fromkeys(people, CLIENT_TRIES_ON_429))
    assert {(r.status, r.error, r.attempts) for r in deliveries(bot)} == {
        (DeliveryStatus.PENDING, "ratelimited", 1)
    }
    assert all(bot.fake.messages(bot.fake.dm_channel_of(u)) == [] for u in people)

    reports = [first]
    tick_until_settled(bot, reports)
    assert sum(r.sent for r in reports) == PEOPLE
    assert sum(r.failed for r in reports) == 0
    assert {r.status for r in deliveries(bot)} == {DeliveryStatus.SENT}
    assert_each_got_exactly_one(bot, people)
    assert_retries_counted(bot, reports)


def test_a_run_of_server_errors_and_dropped_connections_loses_and_duplicates_nothing(
    bot: BotHarness,
) -> None:
    people = participants(bot, PEOPLE, deactivated=("USTQUIT",))
    unlucky = people[0]
    post = "chat.postMessage"
    # One person's post gets a transient Slack error the client does not retry: their
    # check-in is left for the next tick. Meanwhile the whole fan-out runs into a run of 503
    # pages, then 500s, and the first connections are dropped without an answer.
    bot.fake.inject_error(post, "internal_error", match=lambda args: args["channel"] == unlucky)
    bot.fake.inject_error(post, status=503, times=25)
    bot.fake.inject_error(post, status=500, times=5)
    bot.fake.inject_connection_drop(post, times=3)

    reports: list[TickReport] = []
    tick_until_settled(bot, reports)

    assert sum(r.sent for r in reports) == PEOPLE
    assert reports[0].retrying >= 1  # at least the unlucky one went round again
    rows = {r.recipient: r for r in deliveries(bot)}
    assert rows[unlucky].attempts >= 2
    # Only the permanent error failed, once, and was not tried again.
    assert [(u, r.status, r.error) for u, r in rows.items() if r.status != "sent"] == [
        ("USTQUIT", DeliveryStatus.FAILED, "account_inactive")
    ]
    assert [c.error for c in bot.calls(post) if c.args.get("channel") == "USTQUIT"][-1:] == [
        "account_inactive"
    ]
    assert sum(r.failed for r in reports) == 1
    # Every injected failure was met (and retried), none was left over.
    answers = Counter(c.status for c in bot.calls(post))
    assert (answers[503], answers[500], answers[0]) == (25, 5, 3)
    assert_each_got_exactly_one(bot, people)
    assert_retries_counted(bot, reports)


class _Refused(Exception):
    pass


def test_after_a_long_429_storm_the_pace_is_no_slower_than_retry_after() -> None:
    """What the fan-out's pacer does over a 30 s storm (the clock is fake, nothing waits).

    In a real fan-out (16 senders) the slowdown compounds faster still: a fan-out of 30 that
    ran into a 429 storm after its first 10 sends did not finish within 15 minutes.
    """
    t = FakeTime()
    pacer = SendPacer(clock=t.clock, sleep=t.sleep)
    for n in range(10):  # Slack accepted the first sends of the fan-out
        t.now = n * 0.02
        with pacer.turn():
            pass
    storm_ends = t.now + 30
    while t.now < storm_ends:  # then answered every send 429, Retry-After: 1
        with contextlib.suppress(_Refused), pacer.turn():
            raise _Refused
        pacer.throttled(retry_after=1.0)  # as PacedRateLimitRetryHandler does
    started = t.now
    for _ in range(5):  # Slack accepts again
        with pacer.turn():
            pass
    assert t.now - started <= 5 * 1.0
