"""Slack delivering the same request more than once, one after the other and at the same time.

Slack redelivers an event (with X-Slack-Retry-Num and X-Slack-Retry-Reason) when the first
delivery was not acknowledged in time, and the same interaction can reach the bot twice (a
resent request, a proxy retrying). Here the very same body is posted again, with and without
the retry headers, also while the first is still being handled. Each interaction delivery is
signed anew (its own timestamp): an identical signature is a replay, refused with 401 before
any listener runs (tests/handlers/test_replay.py). One effect each: one skip, one completed
action item, one sign-up and one confirmation DM, one reflection and one "Reflection saved"
update of the DM; a redelivered app_home_opened publishes the same Home.

The tests next to each handler (tests/handlers/) cover a second click with a fresh payload
and concurrent submissions of the modals; these add redelivery of the same body, concurrency on
both databases for the buttons, and the side effects (DMs, updates, Home publishes).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.sandbox.fake_senders import interaction_body, post_signed
from handlers.checkin import ALREADY_SKIPPED
from storage.models import ActionItemStatus
from tests.handlers import test_checkin_buttons as checkin_flow
from tests.handlers import test_demoday_signup as demoday_flow
from tests.handlers import test_home_tab as home_flow
from tests.handlers import test_reflection_modal as reflection_flow
from tests.harness import ANA, BotHarness, FakeClock

pytestmark = pytest.mark.slow

Answer = tuple[int, bytes]


def deliver(
    bot: BotHarness,
    payload: dict[str, Any],
    *,
    times: int = 2,
    at_once: bool = True,
    between: Callable[[], object] | None = None,
) -> list[Answer]:
    """Post the same interaction `times` times: the original, then Slack-style retries.

    `at_once`: all together (a retry arriving while the first is still being handled);
    otherwise one after the other, each after the bot has finished with the one before
    (and after `between`, e.g. moving the clock on). Each delivery has its own timestamp,
    so its own signature: the same bytes and signature again would be a refused replay.
    """
    body = interaction_body(payload)
    signed_at = int(time.time())
    answers: dict[int, Answer] = {}
    start = threading.Barrier(times) if at_once else None

    def send(attempt: int) -> None:
        headers = (
            {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
            if attempt
            else {}
        )
        if start is not None:
            start.wait(timeout=10)
        status, _headers, response, _sent = post_signed(
            bot.events_url,
            body,
            content_type="application/x-www-form-urlencoded",
            signing_secret=bot.fake.signing_secret,
            timestamp=signed_at - attempt,
            extra_headers=headers,
        )
        answers[attempt] = (status, response)

    if at_once:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(times)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    else:
        for n in range(times):
            if n and between is not None:
                between()
            send(n)
            bot.wait_idle()
    bot.wait_idle()
    return [answers[n] for n in range(times)]


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# --- check-in Skip --------------------------------------------------------------------------


@pytest.mark.parametrize("at_once", [True, False], ids=["at-once", "one-after-the-other"])
def test_a_redelivered_skip_records_one_skip(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture, at_once: bool
) -> None:
    delivery, dm = checkin_flow.sent_checkin(bot, clock)
    payload = bot.fake.build_block_action(
        user_id=ANA,
        action_id="checkin_skip",
        value=str(delivery.id),
        block_id="checkin_actions",
        message=dm,
        channel_id=dm["channel"],
    )
    first_skip = clock.now
    # Retries handled later must not move the skip.
    answers = deliver(
        bot, payload, times=3, at_once=at_once, between=lambda: clock.advance(minutes=1)
    )

    assert [status for status, _body in answers] == [200, 200, 200]
    assert checkin_flow.row(bot, delivery.id).skipped_at == first_skip
    shown = checkin_flow.stored(bot, dm)
    assert shown["text"] == checkin_flow.SKIPPED and not checkin_flow.has_buttons(shown)
    updates = bot.calls("chat.update")
    assert {(c.args["channel"], c.args["ts"], c.args["text"]) for c in updates} == {
        (dm["channel"], dm["ts"], checkin_flow.SKIPPED)
    }
    # The retries are told it was already done; nothing else reaches the person.
    told = checkin_flow.ephemeral_texts(bot, ANA)
    assert told == [ALREADY_SKIPPED] * 2
    assert errors_logged(caplog) == []


# --- action item Done on the Home -----------------------------------------------------------


def test_a_done_delivered_twice_at_once_completes_the_item_once(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    item = home_flow.add_item(bot, home_flow.circle_with_people(bot), "Ask Ben for feedback")
    home = home_flow.open_home(bot, ANA)
    payload = bot.fake.build_block_action(
        user_id=ANA, action_id="action_item_done", value=str(item), view=home
    )
    before = len(bot.calls("views.publish"))
    answers = deliver(bot, payload)

    assert [status for status, _body in answers] == [200, 200]
    done = home_flow.item_row(bot, item)
    assert (done.status, done.done_at) == (ActionItemStatus.DONE, clock.now)
    publishes = bot.calls("views.publish")[before:]
    assert [c.ok for c in publishes] == [True, True]
    notices = sorted(home_flow.notice(c.args["view"]) for c in publishes)
    assert notices == [
        "Done: *Ask Ben for feedback*. Nice work!",
        "You had already marked *Ask Ben for feedback* as done.",
    ]
    assert errors_logged(caplog) == []


# --- demo-day sign-up -----------------------------------------------------------------------


def test_a_signup_submitted_twice_at_once_makes_one_row_and_one_dm(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _demo_day_id, reminder = demoday_flow.setup(bot, clock)
    view = demoday_flow.click(bot, reminder, ANA)
    assert view is not None
    payload = bot.fake.build_view_submission(
        user_id=ANA, view=view, state_values=demoday_flow.state("Pricing test", "Two prices")
    )
    answers = deliver(bot, payload, times=3)

    assert answers == [(200, b"")] * 3  # each closes the modal: none asks to try again
    [signup] = demoday_flow.signups(bot)
    assert (signup.user_id, signup.title, signup.what_tried) == (ANA, "Pricing test", "Two prices")
    [dm] = demoday_flow.dms(bot, ANA)
    assert "Pricing test" in dm
    assert errors_logged(caplog) == []


# --- the reflection modal -------------------------------------------------------------------


def test_a_reflection_submitted_twice_at_once_is_saved_and_shown_once(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _circle_id, delivery, dm = reflection_flow.setup(bot, clock)
    view = reflection_flow.click(bot, dm)
    assert view is not None
    payload = bot.fake.build_view_submission(
        user_id=ANA, view=view, state_values=reflection_flow.state(next_step="Call Ben")
    )
    updates_before = len(bot.calls("chat.update"))
    answers = deliver(bot, payload, times=3)

    assert answers == [(200, b"")] * 3
    [reflection] = reflection_flow.reflections(bot)
    assert (reflection.delivery_id, reflection.view_id, reflection.edited_at) == (
        delivery.id,
        view["id"],
        None,
    )
    assert [i.text for i in reflection_flow.items(bot)] == ["Call Ben"]
    assert set(reflection_flow.answers(bot)) == {"tried", "confidence", "next_step"}
    assert reflection_flow.delivery_row(bot, delivery.id).answered_at == clock.now
    # One "Reflection saved" update of the DM and one new Home: the retries changed nothing.
    [update] = bot.calls("chat.update")[updates_before:]
    assert (update.args["channel"], update.args["ts"]) == (dm["channel"], dm["ts"])
    assert update.args["text"].startswith("Reflection saved")
    assert [c.args["user_id"] for c in bot.calls("views.publish")] == [ANA]
    assert reflection_flow.ephemeral_texts(bot, ANA) == []
    assert errors_logged(caplog) == []


# --- events ---------------------------------------------------------------------------------


def test_app_home_opened_redelivered_while_the_first_is_handled_publishes_the_same_home(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    bot.slash("create Product Leads")
    bot.slash(f"add <@{ANA}|ana>")
    event = {"type": "app_home_opened", "user": ANA, "channel": f"D{ANA}", "tab": "home"}
    envelope = bot.fake.build_event(event, event_id="Ev0RETRIED1")
    body = json.dumps(envelope).encode()
    start = threading.Barrier(3)
    statuses: list[int] = []

    def send(attempt: int) -> None:
        headers = (
            {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
            if attempt
            else {}
        )
        start.wait(timeout=10)
        status, _h, _b, _sent = post_signed(
            bot.events_url,
            body,
            content_type="application/json",
            signing_secret=bot.fake.signing_secret,
            extra_headers=headers,
        )
        statuses.append(status)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    bot.wait_idle()

    assert statuses == [200, 200, 200]
    publishes = bot.calls("views.publish")
    assert [(c.ok, c.args["user_id"]) for c in publishes] == [(True, ANA)] * 3
    views = [json.dumps(c.args["view"], sort_keys=True) for c in publishes]
    assert len(set(views)) == 1  # the same Home each time
    assert "*Product Leads*" in views[0]
    assert [c for c in bot.calls("chat.postMessage") if c.args.get("channel") == ANA] == []
    assert errors_logged(caplog) == []
