"""A signed request posted again byte for byte inside Slack's 5-minute window is refused.

Each test builds a signed request once and posts the identical bytes (body and headers) again
through the real path (waitress, Bolt's signature check, bot/core/replay.py's ReplayGuard). The
memory of accepted signatures is the `seen_request` table, so it is checked on SQLite and
PostgreSQL, and between two `Database`s (two processes) sharing one database.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

from alembic import command
from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware.request_verification import RequestVerification
from sqlalchemy import func, inspect, select, update

from bot.app import build_app
from bot.core.replay import CLEANUP_EVERY_SECONDS, MARGIN_SECONDS, WINDOW_SECONDS, ReplayGuard
from bot.sandbox.fake_senders import form_body, interaction_body
from storage.db import Database
from storage.migrate import alembic_config
from storage.models import Delivery, Role, SeenRequest
from tests.handlers import test_checkin_buttons as checkin_flow
from tests.harness import ANA, BEN, CHANNEL, EVE, FAC, BotHarness, FakeClock

FORM = "application/x-www-form-urlencoded"
SEEN = SeenRequest.__table__  # type: ignore[attr-defined]


def mention(user_id: str) -> str:
    return f"<@{user_id}|{user_id.lower()}>"


def post(bot: BotHarness, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(bot.events_url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = int(response.status), response.read()
    except urllib.error.HTTPError as error:
        answer = error.code, error.read()
    bot.wait_idle()
    return answer


def signed_command(
    bot: BotHarness, text: str, *, user: str = FAC, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A `/circle <text>` as Slack signs it: the exact bytes and headers, to post again."""
    fields = bot.fake.build_slash_command(user_id=user, channel_id=CHANNEL, text=text)
    body = form_body(fields)
    headers = bot.fake.sign(body, timestamp)
    headers["Content-Type"] = FORM
    return body, headers


def ack_text(answer: tuple[int, bytes]) -> str:
    return str(json.loads(answer[1]).get("text", ""))


def seen_rows(db: Database) -> list[tuple[str, int, int]]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(SEEN.c.signature, SEEN.c.retry_num, SEEN.c.request_ts).order_by(
                SEEN.c.request_ts, SEEN.c.signature, SEEN.c.retry_num
            )
        ).all()
    return [(str(s), int(r), int(t)) for s, r, t in rows]


def signature_of(headers: dict[str, str]) -> str:
    return headers["X-Slack-Signature"].removeprefix("v0=")


# --- the reproduction -----------------------------------------------------------------------


def test_a_captured_remove_posted_again_after_a_re_add_is_refused(bot: BotHarness) -> None:
    bot.slash("create Product Leads")
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    [circle] = bot.circles()
    body, headers = signed_command(bot, f"remove {mention(BEN)}")

    first = post(bot, body, headers)
    assert first[0] == 200 and f"Removed from *Product Leads*: <@{BEN}>." in ack_text(first)
    bot.slash(f"add {mention(BEN)}")
    assert bot.members(circle.id)[BEN] == Role.PARTICIPANT
    calls_before = len(bot.fake.calls)

    replay = post(bot, body, headers)

    assert replay == (401, b'{"error": "invalid request"}')  # no ack text, like a bad signature
    assert bot.members(circle.id) == {
        FAC: Role.FACILITATOR,
        ANA: Role.PARTICIPANT,
        BEN: Role.PARTICIPANT,
    }
    assert len(bot.fake.calls) == calls_before  # no follow-up, no announcement, no lookups
    assert (signature_of(headers), 0) in {(s, r) for s, r, _ts in seen_rows(bot.db)}


def test_the_same_command_signed_again_is_a_new_request(bot: BotHarness) -> None:
    """Only the identical signature is refused: Slack signs each request it sends anew."""
    bot.slash("create Product Leads")
    body, headers = signed_command(bot, "members", timestamp=int(time.time()) - 30)
    assert post(bot, body, headers)[0] == 200
    again = bot.fake.sign(body, int(time.time()) - 29)
    again["Content-Type"] = FORM
    assert post(bot, body, again)[0] == 200
    assert post(bot, body, headers)[0] == 401
    assert post(bot, body, again)[0] == 401


# --- interactions and events ----------------------------------------------------------------


def test_a_replayed_block_action_is_refused_and_runs_nothing(
    bot: BotHarness, clock: FakeClock
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
    body = interaction_body(payload)
    headers = {**bot.fake.sign(body), "Content-Type": FORM}
    assert post(bot, body, headers)[0] == 200
    assert checkin_flow.row(bot, delivery.id).skipped_at == clock.now
    # Say the skip was undone since: a replay must not skip it again.
    with bot.db.session() as session:
        session.execute(update(Delivery).where(Delivery.id == delivery.id).values(skipped_at=None))
    calls_before = len(bot.fake.calls)

    assert post(bot, body, headers)[0] == 401
    assert checkin_flow.row(bot, delivery.id).skipped_at is None
    assert len(bot.fake.calls) == calls_before  # no chat.update, no "already skipped" note
    assert checkin_flow.ephemeral_texts(bot, ANA) == []


def test_an_event_retried_with_the_same_signature_is_accepted_once_per_retry(
    bot: BotHarness,
) -> None:
    """Slack's retry of an event_callback may be signed in the same second as the original."""
    event = {"type": "app_home_opened", "user": EVE, "channel": "DEVE", "tab": "home"}
    envelope = bot.fake.build_event(event, event_id="Ev0SAMESECOND")
    body = json.dumps(envelope).encode()
    signed = {**bot.fake.sign(body), "Content-Type": "application/json"}

    def deliver(retry_num: int | None) -> int:
        retry = {} if retry_num is None else {"X-Slack-Retry-Num": str(retry_num)}
        return post(bot, body, {**signed, **retry, "X-Slack-Retry-Reason": "http_timeout"})[0]

    assert [deliver(None), deliver(1), deliver(2), deliver(3)] == [200, 200, 200, 200]
    publishes = bot.calls("views.publish")
    assert [c.args["user_id"] for c in publishes] == [EVE] * 4  # each delivery handled once
    assert len({json.dumps(c.args["view"], sort_keys=True) for c in publishes}) == 1
    # The same retry again, a retry number Slack never sends, or none: replays.
    assert [deliver(1), deliver(4), deliver(0), deliver(None)] == [401, 401, 401, 401]
    assert len(bot.calls("views.publish")) == 4
    mine = sorted(r for s, r, _ts in seen_rows(bot.db) if s == signature_of(signed))
    assert mine == [0, 1, 2, 3]


def test_a_retry_header_does_not_let_a_slash_command_or_an_interaction_through(
    bot: BotHarness, clock: FakeClock
) -> None:
    """Headers are not signed: only a signed event_callback body may be retried."""
    bot.slash("create Product Leads")
    bot.slash(f"add {mention(BEN)}")
    body, headers = signed_command(bot, f"remove {mention(BEN)}")
    assert post(bot, body, headers)[0] == 200
    bot.slash(f"add {mention(BEN)}")
    for retry_num in ("1", "2", "3"):
        retry = {"X-Slack-Retry-Num": retry_num, "X-Slack-Retry-Reason": "http_timeout"}
        assert post(bot, body, {**headers, **retry})[0] == 401
    assert BEN in bot.members()

    # An interaction whose JSON says it is an event_callback is still form-encoded.
    payload = {"type": "event_callback", "team": {"id": "T0CIRCLE"}, "user": {"id": ANA}}
    interaction = interaction_body(payload)
    signed = {**bot.fake.sign(interaction), "Content-Type": FORM}
    post(bot, interaction, signed)
    retried = post(bot, interaction, {**signed, "X-Slack-Retry-Num": "1"})
    assert retried[0] == 401
    assert {r for s, r, _ts in seen_rows(bot.db) if s == signature_of(signed)} == {0}


# --- what is (not) remembered ---------------------------------------------------------------


def test_a_bad_signature_is_refused_by_bolt_and_not_remembered(bot: BotHarness) -> None:
    bot.slash("create Product Leads")
    body, headers = signed_command(bot, f"add {mention(ANA)}")
    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    rows_before = seen_rows(bot.db)

    assert post(bot, body, forged)[0] == 401
    assert seen_rows(bot.db) == rows_before  # no row for the guessed signature
    # So the genuine request is not blocked by a poisoned table.
    assert post(bot, body, headers)[0] == 200
    assert ANA in bot.members()


def test_only_the_signature_and_the_timestamp_are_stored(bot: BotHarness) -> None:
    timestamp = int(time.time()) - 5
    body, headers = signed_command(bot, "create Product Leads", timestamp=timestamp)
    assert post(bot, body, headers)[0] == 200
    assert seen_rows(bot.db) == [(signature_of(headers), 0, timestamp)]
    columns = {c["name"] for c in inspect(bot.db.engine).get_columns("seen_request")}
    assert columns == {"signature", "retry_num", "request_ts"}


def test_the_guard_runs_right_after_bolts_signature_check_and_not_in_socket_mode(
    sqlite_bot: BotHarness,
) -> None:
    names = [type(m).__name__ for m in sqlite_bot.app._middleware_list]
    at = names.index(RequestVerification.__name__)
    assert names[at + 1] == ReplayGuard.__name__
    socket_app = build_app(sqlite_bot.services, socket_mode=True)
    assert not any(isinstance(m, ReplayGuard) for m in socket_app._middleware_list)

    guard = ReplayGuard(sqlite_bot.db)
    nexts: list[bool] = []

    def next_() -> BoltResponse:
        nexts.append(True)
        return BoltResponse(status=200)

    request = BoltRequest(body="command=%2Fcircle&text=help", mode="socket_mode")
    for _ in range(2):
        guard.process(req=request, resp=BoltResponse(status=200), next=next_)
    assert nexts == [True, True]
    assert seen_rows(sqlite_bot.db) == []


# --- at the same time, and across processes -------------------------------------------------


def test_the_same_replay_posted_by_many_threads_at_once_is_accepted_once(bot: BotHarness) -> None:
    bot.slash("create Product Leads")
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    body, headers = signed_command(bot, f"remove {mention(BEN)}")
    start = threading.Barrier(4)
    answers: list[tuple[int, bytes]] = []

    def send() -> None:
        start.wait(timeout=10)
        answers.append(post(bot, body, headers))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    bot.wait_idle()

    assert sorted(status for status, _body in answers) == [200, 401, 401, 401]
    [accepted] = [a for a in answers if a[0] == 200]
    assert f"Removed from *Product Leads*: <@{BEN}>." in ack_text(accepted)
    assert bot.members() == {FAC: Role.FACILITATOR, ANA: Role.PARTICIPANT}


def test_two_processes_sharing_a_database_accept_a_signature_once(db_url: str) -> None:
    first, second = Database(db_url), Database(db_url)
    guards = [ReplayGuard(first), ReplayGuard(second)]
    now = int(time.time())
    signatures = [f"{n:064x}" for n in range(40)]
    results: list[list[bool]] = [[], []]
    start = threading.Barrier(2)

    def run(which: int) -> None:
        start.wait(timeout=10)
        for signature in signatures:
            results[which].append(guards[which].remember(signature, 0, now))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # Every signature was accepted by exactly one of them.
        assert [a + b for a, b in zip(*results, strict=True)] == [1] * len(signatures)
        assert not guards[0].remember(signatures[0], 0, now)
        assert guards[1].remember(signatures[0], 1, now)  # another retry number is another key
    finally:
        first.dispose()
        second.dispose()


# --- forgetting old signatures --------------------------------------------------------------


class WallClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_old_signatures_are_cleaned_at_most_every_few_minutes(db_url: str) -> None:
    db = Database(db_url)
    start = 1_796_000_000
    clock = WallClock(start)
    guard = ReplayGuard(db, clock=clock)
    keep = WINDOW_SECONDS + MARGIN_SECONDS  # no process can accept a signature this old
    try:
        # The first request cleans (a process just started); here there is nothing to clean.
        assert guard.remember("a" * 64, 0, start)
        assert guard.remember("b" * 64, 0, start + 10)
        clock.now = start + CLEANUP_EVERY_SECONDS - 1  # not due yet
        assert guard.remember("c" * 64, 0, start + keep + 1)
        with db.engine.begin() as connection:  # an entry left behind by a dead process
            connection.execute(
                SEEN.insert().values(signature="d" * 64, retry_num=0, request_ts=start - 3600)
            )
        assert len(seen_rows(db)) == 4

        clock.now = start + keep + 1  # due; "a" (start) is now too old, "b" not yet
        assert guard.remember("e" * 64, 0, int(clock.now))
        assert {s[0] for s, _r, _t in seen_rows(db)} == {"b", "c", "e"}

        clock.now = start + keep + 11  # "b" is old now, but the next clean-up is minutes away
        assert guard.remember("f" * 64, 0, int(clock.now))
        assert {s[0] for s, _r, _t in seen_rows(db)} == {"b", "c", "e", "f"}
        clock.now = start + keep + 1 + CLEANUP_EVERY_SECONDS
        assert guard.remember("g" * 64, 0, int(clock.now))
        assert {s[0] for s, _r, _t in seen_rows(db)} == {"c", "e", "f", "g"}
        with db.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(SEEN)).scalar() == 4
    finally:
        db.dispose()


def test_the_migration_goes_down_and_up_again(db_url: str) -> None:
    db = Database(db_url)
    try:
        config = alembic_config(db.engine)
        command.downgrade(config, "0006")
        assert "seen_request" not in inspect(db.engine).get_table_names()
        db.upgrade()
        assert "seen_request" in inspect(db.engine).get_table_names()
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("seen_request")}
        assert indexes == {"ix_seen_request_ts"}
    finally:
        db.dispose()


def test_without_the_database_the_request_is_refused_not_let_through() -> None:
    """Fail closed: nothing can be checked (nor done); Slack redelivers events later."""
    unreachable = Database("postgresql://postgres@127.0.0.1:1/nowhere")
    guard = ReplayGuard(unreachable)
    nexts: list[bool] = []

    def next_() -> BoltResponse:
        nexts.append(True)
        return BoltResponse(status=200)

    request = BoltRequest(
        body="command=%2Fcircle&text=help",
        headers={
            "x-slack-signature": ["v0=" + "ab" * 32],
            "x-slack-request-timestamp": [str(int(time.time()))],
        },
    )
    try:
        answer = guard.process(req=request, resp=BoltResponse(status=200), next=next_)
    finally:
        unreachable.dispose()
    assert answer is not None and answer.status == 503
    assert nexts == []
