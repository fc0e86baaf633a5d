"""Listeners answer Slack as soon as they ack; the rest of their work carries on after."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_bolt import Ack, App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot.sandbox.fake_senders import form_body, sign
from bot.sandbox.fake_slack import FakeSlack
from handlers.registry import Registrar


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(team_id="T1") as slack:
        yield slack


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=4)
    yield pool
    pool.shutdown(wait=True)


def app_with(listener: Any, executor: ThreadPoolExecutor, fake: FakeSlack) -> App:
    app = App(
        client=WebClient(token=fake.bot_token, base_url=fake.api_url),
        signing_secret=fake.signing_secret,
        process_before_response=True,
        listener_executor=executor,
        token_verification_enabled=False,
    )
    Registrar(app, executor).command("/circle", listener)
    return app


def slash(app: App, fake: FakeSlack, text: str = "members") -> tuple[int, str]:
    body = form_body({"command": "/circle", "text": text, "team_id": "T1", "user_id": "U1"})
    headers = sign(body, int(time.time()), fake.signing_secret)
    request = BoltRequest(
        body=body.decode(),
        headers={k.lower(): [v] for k, v in headers.items()}
        | {"content-type": ["application/x-www-form-urlencoded"]},
    )
    response = app.dispatch(request)
    return response.status, response.body


def test_the_answer_leaves_when_the_listener_acks_not_when_it_finishes(
    executor: ThreadPoolExecutor, fake: FakeSlack
) -> None:
    release, finished = threading.Event(), threading.Event()

    def listener(ack: Ack, command: dict[str, Any]) -> None:
        ack(text=f"got {command['text']}")
        release.wait(10)  # the follow-up work, still running when Slack has its answer
        finished.set()

    status, body = slash(app_with(listener, executor, fake), fake, "members")
    assert (status, finished.is_set()) == (200, False)
    assert "got members" in body
    release.set()
    assert finished.wait(5)


def test_a_listener_failing_before_its_ack_gets_a_500_and_is_logged(
    executor: ThreadPoolExecutor, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    def listener(ack: Ack) -> None:
        raise RuntimeError("boom before ack")

    with caplog.at_level(logging.ERROR):
        status, _ = slash(app_with(listener, executor, fake), fake)
    assert status == 500
    assert "boom before ack" in caplog.text


def test_a_listener_failing_after_its_ack_keeps_the_answer_and_logs_the_error(
    executor: ThreadPoolExecutor, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    def listener(ack: Ack) -> None:
        ack(text="on it")
        raise RuntimeError("boom after ack")

    with caplog.at_level(logging.ERROR, logger="handlers.registry"):
        status, body = slash(app_with(listener, executor, fake), fake)
        executor.shutdown(wait=True)  # the listener has finished and its error is logged
    assert (status, "on it" in body) == (200, True)
    assert "boom after ack" in caplog.text
