"""Logs at any level hold no words people wrote, and no secrets.

The main test turns logging up to DEBUG exactly as `circlebot serve` does (`setup_logging`), into
a buffer, and drives the real bot (Bolt behind waitress, the fake Slack over HTTP, both
databases) through the paths that carry people's words: a reflection written and edited (the
modal's submission, the "Reflection saved" chat.update, views.open with the answers filled in,
the Home), a search quoting it, a leaders' digest quoting it, a command that fails on a database
error whose parameters and PostgreSQL DETAIL hold a marker, and Slack errors whose responses
echo one. The marker must be nowhere in the log, while the log shows that DEBUG logging ran.
"""

from __future__ import annotations

import importlib
import io
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.core.logs import (
    NOT_LOGGED,
    PERSON_FACING,
    RedactPayloads,
    RedactSecrets,
    describe_exception,
    setup_logging,
)
from bot.subcommands import subcommand_word
from storage.db import Database
from tests.handlers.test_data_rights_commands import (
    _submit,
    circle_with_people,
    write_checkin,
)
from tests.harness import ANA, DANA, OTHER_CHANNEL, BotHarness

# Every word a person writes below carries this (checked case-insensitively).
MARKER = "quokkazz"
TRIED = f"{MARKER.upper()}-TRIED the pricing page with two teams"
NEXT_STEP = f"Call the {MARKER} vendor"
EDITED = f"{MARKER} edited: three teams now"
CIRCLE_NAME = f"{MARKER.capitalize()} Club"

_QUIETED = ("slack_sdk", "slack_bolt", "alembic")


@contextmanager
def captured_log(level: str, secrets: list[str]) -> Iterator[io.StringIO]:
    """Logging set up as `circlebot serve` does it, into a buffer; everything restored after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in _QUIETED}
    buffer = io.StringIO()
    handler = setup_logging(level, secrets, stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for old in saved_handlers:
            root.addHandler(old)
        root.setLevel(saved_level)
        for name, saved in saved_levels.items():
            logging.getLogger(name).setLevel(saved)


def edit_button_message(bot: BotHarness, user: str) -> dict[str, Any]:
    """The "Reflection saved" DM of `user` (it has the Edit button)."""
    channel = bot.fake.dm_channel_of(user)
    for message in reversed(bot.fake.messages(channel)):
        for block in message.get("blocks") or []:
            if block["type"] == "actions" and any(
                e.get("action_id") == "reflection_edit" for e in block["elements"]
            ):
                return {**message, "channel": channel}
    raise AssertionError(f"no saved reflection in the DM of {user}")


def edit_reflection(bot: BotHarness, user: str, tried: str) -> None:
    """Press Edit (views.open with the answers filled in) and save a new `tried`."""
    message = edit_button_message(bot, user)
    [button] = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "reflection_edit"
    ]
    before = len(bot.calls("views.open"))
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url,
        user_id=user,
        action_id="reflection_edit",
        value=button["value"],
        block_id=button.get("block_id", "checkin_actions"),
        message=message,
        channel_id=message["channel"],
    )
    assert status == 200
    bot.wait_idle()
    [opened] = [c for c in bot.calls("views.open")[before:] if c.ok]
    view = bot.fake.view(opened.response["view"]["id"])
    prefilled = {b.get("block_id"): b for b in view["blocks"]}
    assert prefilled["tried"]["element"]["initial_value"] == TRIED  # the request carried it
    values = {
        "tried": {"tried": {"type": "plain_text_input", "value": tried}},
        "obstacles": {"obstacles": {"type": "plain_text_input", "value": None}},
        "confidence": {"confidence": {"type": "radio_buttons", "selected_option": {"value": "4"}}},
        "next_step": {"next_step": {"type": "plain_text_input", "value": NEXT_STEP}},
        "next_step.due": {"due": {"type": "datepicker", "selected_date": None}},
        "meta.visibility": {
            "visibility": {"type": "radio_buttons", "selected_option": {"value": "leaders"}}
        },
        "meta.named": {"named": {"type": "checkboxes", "selected_options": [{"value": "named"}]}},
    }
    _submit(bot, user, view, values)


def test_no_words_people_write_reach_the_log_at_debug(bot: BotHarness) -> None:
    secrets = [bot.fake.bot_token, bot.fake.signing_secret]
    with captured_log("DEBUG", secrets) as buffer:
        circle_with_people(bot)  # FAC facilitates, ANA and BEN participate, DANA leads
        bot.slash("checkin now")
        write_checkin(bot, ANA, tried=TRIED, next_step=NEXT_STEP, visibility="leaders", named=True)
        edit_reflection(bot, ANA, EDITED)
        assert MARKER in bot.slash("learnings quokkazz", user=ANA).all_text.lower()

        # The leaders' digest quotes Ana (she shared with leaders, named): Monday 08:00 in
        # Kolkata is 02:30 UTC.
        bot.services.deliverer.tick(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
        dana = bot.fake.messages(bot.fake.dm_channel_of(DANA))
        assert any(MARKER in str(m).lower() for m in dana), "the digest should quote Ana"

        # A command that fails on a database error: the name is a bound parameter, and
        # PostgreSQL's DETAIL quotes it ("Key (name)=(Quokkazz Club) already exists").
        with bot.db.engine.begin() as connection:
            connection.execute(text("CREATE UNIQUE INDEX test_one_name ON circle (name)"))
        bot.slash(f"create {CIRCLE_NAME}", channel=OTHER_CHANNEL)
        failed = bot.slash(f"rename {CIRCLE_NAME}")
        assert "Something went wrong" in failed.ack_text

        # Slack errors whose answers echo what was sent.
        echo = {"response_metadata": {"messages": [f"[ERROR] {TRIED}"]}, "sent": EDITED}
        bot.fake.inject_error("views.open", "invalid_arguments", extra=echo)
        bot.slash("forget-me", user=ANA)  # its confirmation modal can't open: logged
        bot.fake.inject_error("chat.postMessage", f"invalid_blocks {TRIED}", extra=echo)
        client: WebClient = bot.services.client
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel=DANA, text=TRIED)
        logging.getLogger("bot.test").error(
            "could not post: %s", raised.value, exc_info=raised.value
        )
        bot.wait_idle()

    log = buffer.getvalue()
    assert MARKER not in log.lower()
    for secret in secrets:
        assert secret not in log
    # Logging really ran at DEBUG, through the paths above.
    for method in ("views.open", "chat.update", "views.publish", "chat.postMessage"):
        assert f"Sending a request - url: {bot.fake.api_url}{method} {NOT_LOGGED}" in log
    assert f"Received the following response - status: 200 {NOT_LOGGED}" in log
    assert "DEBUG slack_bolt: Responding with status: 200" in log
    # Failures are still there, named: the subcommand, the error codes, the constraint.
    assert "/circle rename failed before the ack" in log
    assert "IntegrityError" in log and "Traceback (most recent call last)" in log
    assert "SlackApiError: invalid_arguments (views.open, HTTP 200)" in log
    assert "SlackApiError: (no Slack error code) (chat.postMessage, HTTP 200)" in log
    assert "could not open the forget-me confirmation" in log


def test_hostile_library_lines_lose_their_data(caplog: pytest.LogCaptureFixture) -> None:
    """The body-carrying lines of slack_sdk and Bolt not reached above (Socket Mode, Bolt's
    warnings), in the libraries' own formats: what precedes the data stays."""
    secret_words = f"{MARKER} private words"
    envelope = '{"envelope_id": "e1", "payload": {"view": {"state": "' + secret_words + '"}}}'
    lines = [
        ("slack_sdk.socket_mode.builtin.client", f"on_message invoked: (message: {envelope})"),
        (
            "slack_sdk.socket_mode.builtin.client",
            f"Sending a message (session id: s-1, message: {envelope})",
        ),
        (
            "slack_sdk.socket_mode.builtin.connection",
            f"Received a new data frame (session id: s-1, opcode: text, payload: {envelope})",
        ),
        (
            "slack_sdk.socket_mode.builtin.connection",
            f"Socket Mode handshake request (session id: s-1):\nGET /link?ticket={MARKER}",
        ),
        (
            "slack_sdk.webhook.client",
            f"Sending a request - url: https://hooks.slack.com/commands/T1/{MARKER}, body: "
            f"{envelope}, headers: {{}}",
        ),
        (
            "slack_sdk.web.internal_utils",
            f"Sending a request: POST https://files.slack.com/upload/v1/{MARKER}",
        ),
        ("slack_bolt.App", f"Skipped self event: {envelope}"),
        (
            "slack_bolt.App",
            "A global middleware (provide_services) skipped calling either `next()` or "
            f"`next_()` without providing a response for the request ({envelope})",
        ),
        (
            "slack_bolt.App",
            f"Unhandled request ({{'type': 'block_suggestion', 'value': '{MARKER}'}})",
        ),
        ("slack_bolt", f'Responding with status: 200 body: "{secret_words}" (3 millis)'),
        # `circlebot socket`: Bolt gives its own logger to the Socket Mode client.
        ("slack_bolt", f"on_message invoked: (message: {envelope})"),
    ]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RedactPayloads())
    for name, message in lines:
        record = logging.LogRecord(name, logging.DEBUG, __file__, 1, message, None, None)
        handler.handle(record)
    log = buffer.getvalue()
    assert MARKER not in log
    assert log.count(NOT_LOGGED) == len(lines)
    assert "Sending a message (session id: s-1) [data not logged]" in log
    assert "Unhandled request [data not logged]" in log
    assert "Socket Mode handshake request (session id: s-1) [data not logged]" in log
    assert "Sending a request [data not logged]" in log  # not even the response_url
    assert "Responding with status: 200 [data not logged]" in log

    # Our own records are ours: "body:" in them is not a library's data field.
    ours = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "body: %s", ("kept",), None)
    assert RedactPayloads().filter(ours) and ours.getMessage() == "body: kept"


def _format(record: logging.LogRecord) -> str:
    RedactPayloads().filter(record)
    RedactSecrets(["s3cret-signing"]).filter(record)
    return logging.Formatter("%(message)s").format(record)


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("bot.x", logging.ERROR, __file__, 1, message, args, exc_info)


def test_exceptions_are_logged_without_what_they_carry(db_url: str) -> None:
    database = Database(db_url)
    try:
        assert database.engine.hide_parameters  # a statement's values never in its error
        with database.engine.begin() as connection:
            connection.execute(text("CREATE TABLE t_words (w VARCHAR(50) UNIQUE)"))
            connection.execute(text("INSERT INTO t_words VALUES (:w)"), {"w": MARKER})
        try:
            with database.engine.begin() as connection:
                connection.execute(text("INSERT INTO t_words VALUES (:w)"), {"w": MARKER})
        except IntegrityError as exc:
            error: IntegrityError = exc
        else:  # pragma: no cover
            raise AssertionError("the second insert should fail")
    finally:
        database.dispose()
    if database.is_sqlite:
        assert isinstance(error.orig, sqlite3.IntegrityError)
    else:
        assert MARKER in str(error)  # PostgreSQL's DETAIL quotes the key
    shown = _format(_record("saving failed: %s", error, exc=error))
    assert MARKER not in shown.lower()
    assert "IntegrityError" in shown and "INSERT INTO t_words" in shown
    if not database.is_sqlite:
        assert "SQLSTATE 23505" in shown and "constraint t_words_w_key" in shown
    else:
        assert "UNIQUE constraint failed: t_words.w" in shown


def test_refusals_shown_to_people_are_logged_by_class_only() -> None:
    from bot.slash.parse import CommandError

    try:
        try:
            raise CommandError(f"I couldn't read the date {MARKER!r}.")
        except CommandError as inner:
            raise RuntimeError("the command failed") from inner
    except RuntimeError as exc:
        shown = _format(_record("failed", exc=exc))
    assert MARKER not in shown
    assert "bot.slash.parse.CommandError (its message may quote what a person wrote" in shown
    assert "RuntimeError: the command failed" in shown  # other messages stay
    assert "The above exception was the direct cause" in shown
    assert shown.count("Traceback (most recent call last)") == 2


@pytest.mark.parametrize("name", sorted(PERSON_FACING))
def test_person_facing_names_still_name_exception_classes(name: str) -> None:
    module, _, cls = name.rpartition(".")
    found = getattr(importlib.import_module(module), cls)
    assert issubclass(found, BaseException)


def test_secrets_are_scrubbed_from_tracebacks_too() -> None:
    try:
        raise ValueError("bad token xoxb-123-456-abcdef and s3cret-signing")
    except ValueError as exc:
        shown = _format(_record("boom", exc=exc))
    assert "xoxb-123" not in shown and "s3cret-signing" not in shown
    assert "[redacted-token]" in shown and "[redacted]" in shown


def test_a_mapping_logged_as_a_value_is_not_printed() -> None:
    shown = _format(_record("request body: %s", {"text": MARKER}))
    assert MARKER not in shown and "(dict: not logged)" in shown
    named = _format(_record("%(who)s did it", {"who": "UANA"}))
    assert named == "UANA did it"


@pytest.mark.parametrize(
    ("typed", "logged"),
    [
        (f"rename {CIRCLE_NAME}", "rename"),
        (f"LEARNINGS {MARKER}", "learnings"),
        (f"demoday 2026-12-10 15:00 {MARKER}", "demoday"),
        (f"{MARKER} please", "(not a subcommand)"),
        ("", "help"),
        ("   ", "help"),
    ],
)
def test_a_failed_command_is_named_by_its_subcommand(typed: str, logged: str) -> None:
    assert subcommand_word(typed) == logged


def test_describe_exception_names_slack_errors_by_code_only() -> None:
    client = WebClient(token="xoxb-unused")
    from slack_sdk.web.slack_response import SlackResponse

    response = SlackResponse(
        client=client,
        http_verb="POST",
        api_url="https://slack.com/api/chat.update",
        req_args={},
        data={"ok": False, "error": "msg_too_long", "message": {"text": MARKER}},
        headers={},
        status_code=200,
    )
    error = SlackApiError("The request to the Slack API failed.", response)
    assert MARKER in str(error)
    assert describe_exception(error) == (
        "slack_sdk.errors.SlackApiError: msg_too_long (chat.update, HTTP 200)"
    )
