"""FakeSlack against real slack_sdk clients: every rule the fake promises is checked here."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.sandbox import DEMO_CHANNEL_IDS, DEMO_USER_IDS, FakeSlack, FakeUser, RecordedCall

ANA, BEN, GOPAL = DEMO_USER_IDS["ana"], DEMO_USER_IDS["ben"], DEMO_USER_IDS["gopal"]
POLLY, OSCAR = DEMO_USER_IDS["polly"], DEMO_USER_IDS["oscar"]
GENERAL, LEADS = DEMO_CHANNEL_IDS["general"], DEMO_CHANNEL_IDS["product-leads"]
RANDOM, ARCHIVED = DEMO_CHANNEL_IDS["random"], DEMO_CHANNEL_IDS["old-launch"]

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
MODAL = {
    "type": "modal",
    "callback_id": "checkin",
    "title": {"type": "plain_text", "text": "Check-in"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "mood",
            "label": {"type": "plain_text", "text": "How are you?"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        }
    ],
}
HOME = {"type": "home", "blocks": [SECTION]}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.seed_demo_workspace()
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.api_url, token=fake.bot_token)


def error_of(call: Any, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return str(info.value.response["error"])


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


# --- auth, tokens, transport ---------------------------------------------------------------


def test_auth_test_describes_the_bot(fake: FakeSlack, client: WebClient) -> None:
    data = client.auth_test().data
    assert isinstance(data, dict)
    assert data["ok"] is True
    assert data["user_id"] == fake.bot_user_id == "UBOT0001"
    assert data["team_id"] == "T0CIRCLE"
    assert data["bot_id"] == fake.bot_id
    assert data["url"] == "https://circlebot-sandbox.slack.com/"
    [call] = fake.calls_to("auth.test")
    assert call.token == fake.bot_token and call.status == 200


def test_generated_credentials_look_like_slacks() -> None:
    a, b = FakeSlack(), FakeSlack()
    assert a.bot_token.startswith("xoxb-") and a.bot_token != b.bot_token
    assert len(a.signing_secret) == 32 and int(a.signing_secret, 16) >= 0
    with pytest.raises(RuntimeError):
        _ = a.api_url  # not started


def test_missing_and_wrong_tokens_are_refused(fake: FakeSlack) -> None:
    wrong = WebClient(base_url=fake.api_url, token="xoxb-wrong")
    assert error_of(wrong.auth_test) == "invalid_auth"
    anonymous = WebClient(base_url=fake.api_url)
    assert error_of(anonymous.chat_postMessage, channel=GENERAL, text="x") == "not_authed"
    assert [c.status for c in fake.calls] == [200, 200]
    assert fake.messages(GENERAL) == []


def test_token_and_arguments_arrive_as_form_query_or_json(fake: FakeSlack) -> None:
    form = urlencode({"token": fake.bot_token, "channel": GENERAL, "text": "form"}).encode()
    status, _h, body = raw_post(
        fake.api_url + "chat.postMessage",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and json.loads(body)["ok"] is True
    query = urlencode({"token": fake.bot_token, "user": ANA})
    with urllib.request.urlopen(f"{fake.api_url}users.info?{query}", timeout=5) as resp:
        assert json.loads(resp.read())["user"]["name"] == "ana"
    blocks = json.dumps([SECTION])
    status, _h, body = raw_post(
        fake.api_url + "chat.postMessage",
        json.dumps({"channel": GENERAL, "blocks": blocks}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {fake.bot_token}"},
    )
    assert status == 200 and json.loads(body)["ok"] is True
    recorded = fake.calls_to("chat.postMessage")
    assert recorded[0].args == {"channel": GENERAL, "text": "form"}  # token is not an arg
    assert recorded[0].token == fake.bot_token
    assert recorded[1].args["blocks"] == [SECTION]  # JSON strings are decoded
    assert [m["text"] for m in fake.messages(GENERAL)] == ["form", ""]


def test_http11_keep_alive_and_chunked_bodies(fake: FakeSlack) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", int(fake.base_url.rsplit(":", 1)[1]))
    headers = {"Authorization": f"Bearer {fake.bot_token}", "Content-Type": "application/json"}
    try:
        for text in ("one", "two"):
            body = json.dumps({"channel": GENERAL, "text": text}).encode()
            connection.request("POST", "/api/chat.postMessage", body=body, headers=headers)
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["ok"] is True
            assert response.getheader("Connection") != "close"
        chunks = iter([b'{"channel": "', GENERAL.encode(), b'", "text": "three"}'])
        connection.request(
            "POST", "/api/chat.postMessage", body=chunks, headers=headers, encode_chunked=True
        )
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["ok"] is True
    finally:
        connection.close()
    assert [m["text"] for m in fake.messages(GENERAL)] == ["one", "two", "three"]


def test_unknown_method_is_a_404(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        client.api_call("chat.postMessagez", json={"channel": GENERAL})
    assert info.value.response.status_code == 404
    assert info.value.response["error"] == "unknown_method"


# --- users and conversations ---------------------------------------------------------------


def test_users_info_reports_time_zones_like_slack(fake: FakeSlack, client: WebClient) -> None:
    gopal = client.users_info(user=GOPAL)["user"]
    assert gopal["tz"] == "Asia/Kolkata" and gopal["tz_offset"] == 19800
    assert gopal["tz_label"] == "India Standard Time"
    assert gopal["team_id"] == "T0CIRCLE"
    assert gopal["profile"]["title"] == "Product Lead, Data"
    ana = client.users_info(user=ANA)["user"]
    offset = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).utcoffset()
    assert offset is not None and ana["tz_offset"] == int(offset.total_seconds())
    assert ana["tz_offset"] in (-5 * 3600, -4 * 3600)
    assert ana["real_name"] == "Ana Souza" and ana["is_bot"] is False
    assert client.users_info(user=OSCAR)["user"]["deleted"] is True
    assert client.users_info(user=POLLY)["user"]["is_bot"] is True
    assert error_of(client.users_info, user="UNOBODY") == "user_not_found"


def test_users_list_paginates_with_cursors(fake: FakeSlack, client: WebClient) -> None:
    seen: list[str] = []
    pages = 0
    for page in client.users_list(limit=4):
        pages += 1
        seen.extend(m["id"] for m in page["members"])
    assert pages == 3  # 8 people + polly + oscar + the app's bot user = 11
    assert sorted(seen) == sorted(fake.users)
    assert len(client.users_list()["members"]) == 11  # default limit 200
    assert error_of(client.users_list, cursor="bogus!") == "invalid_cursor"


def test_conversations_open_gives_a_stable_dm_per_user(client: WebClient, fake: FakeSlack) -> None:
    first = client.conversations_open(users=BEN)["channel"]["id"]
    again = client.conversations_open(users=[BEN])["channel"]["id"]
    assert first == again == fake.dm_channel_of(BEN) == "D" + BEN
    assert client.conversations_open(users=ANA)["channel"]["id"] != first
    assert error_of(client.conversations_open, users=POLLY) == "cannot_dm_bot"
    assert error_of(client.conversations_open, users=OSCAR) == "user_disabled"
    assert error_of(client.conversations_open, users="UNOBODY") == "user_not_found"
    info = client.conversations_info(channel=first)["channel"]
    assert info["is_im"] is True and info["user"] == BEN


def test_conversations_info_and_members(client: WebClient, fake: FakeSlack) -> None:
    info = client.conversations_info(channel=LEADS)["channel"]
    assert info["name"] == "product-leads" and info["is_member"] is True
    assert client.conversations_info(channel=RANDOM)["channel"]["is_member"] is False
    members = client.conversations_members(channel=LEADS)["members"]
    assert ANA in members and fake.bot_user_id in members and OSCAR not in members
    assert error_of(client.conversations_info, channel="CNOPE") == "channel_not_found"


# --- chat.postMessage and friends ----------------------------------------------------------


def test_posting_to_a_user_id_lands_in_their_dm(fake: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postMessage(channel=ANA, text="Your circle starts Monday")
    assert answer["channel"] == "D" + ANA == fake.dm_channel_of(ANA)
    assert answer["message"]["text"] == "Your circle starts Monday"
    assert answer["message"]["user"] == fake.bot_user_id
    [stored] = fake.messages(answer["channel"])
    assert stored["ts"] == answer["ts"] and stored["channel"] == "D" + ANA
    # chat.update needs the conversation id from the answer, not the user id
    assert error_of(client.chat_update, channel=ANA, ts=answer["ts"], text="x") == (
        "channel_not_found"
    )
    updated = client.chat_update(channel=answer["channel"], ts=answer["ts"], text="Tuesday!")
    assert updated["ts"] == answer["ts"] and updated["message"]["text"] == "Tuesday!"
    assert fake.messages("D" + ANA)[0]["text"] == "Tuesday!"


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ("CNOPE", "channel_not_found"),
        ("UNOBODY", "channel_not_found"),
        (POLLY, "cannot_dm_bot"),
        (OSCAR, "account_inactive"),
        (RANDOM, "not_in_channel"),
        (ARCHIVED, "is_archived"),
    ],
)
def test_permanent_post_errors(
    client: WebClient, fake: FakeSlack, channel: str, error: str
) -> None:
    assert error_of(client.chat_postMessage, channel=channel, text="hi") == error
    assert fake.messages() == []


def test_deactivated_recipient_error_is_configurable() -> None:
    with FakeSlack(deactivated_dm_error=None) as fake:
        fake.seed_demo_workspace()
        client = WebClient(base_url=fake.api_url, token=fake.bot_token)
        assert client.chat_postMessage(channel=OSCAR, text="hi")["channel"] == "D" + OSCAR


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_message_content_rules(client: WebClient) -> None:
    assert error_of(client.chat_postMessage, channel=GENERAL) == "no_text"
    assert error_of(client.chat_postMessage, channel=GENERAL, text="x" * 40_001) == "msg_too_long"
    assert client.chat_postMessage(channel=GENERAL, text="x" * 40_000)["ok"]


def test_fifty_blocks_is_the_limit(client: WebClient, fake: FakeSlack) -> None:
    fifty = [{"type": "divider"} for _ in range(50)]
    assert client.chat_postMessage(channel=GENERAL, text="ok", blocks=fifty)["ok"]
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=GENERAL, text="no", blocks=[*fifty, {"type": "divider"}])
    assert info.value.response["error"] == "invalid_blocks"
    messages = info.value.response["response_metadata"]["messages"]
    assert messages == ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]
    assert len(fake.messages(GENERAL)) == 1


@pytest.mark.parametrize(
    ("block", "pointer", "message"),
    [
        ({"type": "section"}, "/blocks/0", "text or fields attribute must be specified"),
        ({"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}, "/blocks/0", "150"),
        ({"type": "no_such_block"}, "/blocks/0", "unsupported type: no_such_block"),
        (
            {"type": "actions", "elements": [{"type": "teleporter", "action_id": "a"}]},
            "/blocks/0/elements/0",
            "unsupported type: teleporter",
        ),
    ],
)
def test_invalid_blocks_are_refused_with_pointers(
    client: WebClient, block: dict[str, Any], pointer: str, message: str
) -> None:
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=GENERAL, text="x", blocks=[SECTION, block])
    assert info.value.response["error"] == "invalid_blocks"
    [problem] = info.value.response["response_metadata"]["messages"]
    expected_pointer = pointer.replace("/blocks/0", "/blocks/1")
    assert message in problem and problem.endswith(f"[json-pointer:{expected_pointer}]")


def test_duplicate_block_ids_are_refused(client: WebClient) -> None:
    twice = [{**SECTION, "block_id": "same"}, {**SECTION, "block_id": "same"}]
    assert (
        error_of(client.chat_postMessage, channel=GENERAL, text="x", blocks=twice)
        == "invalid_blocks"
    )


def test_timestamps_are_unique_and_increasing_under_concurrency(fake: FakeSlack) -> None:
    clients = [WebClient(base_url=fake.api_url, token=fake.bot_token) for _ in range(10)]

    def post(i: int) -> str:
        return str(clients[i % 10].chat_postMessage(channel=LEADS, text=f"m{i}")["ts"])

    with ThreadPoolExecutor(10) as pool:
        stamps = list(pool.map(post, range(200)))
    assert len(set(stamps)) == 200
    stored = [m["ts"] for m in fake.messages(LEADS)]
    assert stored == sorted(stored, key=float) and len(stored) == 200
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    assert len(fake.calls_snapshot()) == 200


def test_update_and_delete_use_the_message_store(client: WebClient, fake: FakeSlack) -> None:
    ts = client.chat_postMessage(channel=LEADS, text="draft", blocks=[SECTION])["ts"]
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "final"}}]
    client.chat_update(channel=LEADS, ts=ts, text="final", blocks=new_blocks)
    [msg] = fake.messages(LEADS)
    assert msg["text"] == "final" and msg["blocks"][0]["text"]["text"] == "final"
    assert "edited" in msg
    assert error_of(client.chat_update, channel=LEADS, ts="1.000001", text="x") == (
        "message_not_found"
    )
    theirs = fake.add_message(LEADS, "written by Ben", user=BEN)
    assert error_of(client.chat_update, channel=LEADS, ts=theirs["ts"], text="x") == (
        "cant_update_message"
    )
    client.chat_delete(channel=LEADS, ts=ts)
    assert [m["text"] for m in fake.messages(LEADS)] == ["written by Ben"]
    assert error_of(client.chat_delete, channel=LEADS, ts=ts) == "message_not_found"


def test_threads_history_and_replies(client: WebClient, fake: FakeSlack) -> None:
    question = fake.add_message(LEADS, "Who runs Monday's check-in?", user=BEN)
    reply = client.chat_postMessage(channel=LEADS, text="Ana does", thread_ts=question["ts"])
    assert reply["message"]["thread_ts"] == question["ts"]
    assert reply["message"]["parent_user_id"] == BEN
    client.chat_postMessage(channel=LEADS, text="Top-level note")
    history = client.conversations_history(channel=LEADS)["messages"]
    assert [m["text"] for m in history] == ["Top-level note", "Who runs Monday's check-in?"]
    assert history[1]["reply_count"] == 1 and history[1]["reply_users"] == [fake.bot_user_id]
    replies = client.conversations_replies(channel=LEADS, ts=question["ts"])["messages"]
    assert [m["text"] for m in replies] == ["Who runs Monday's check-in?", "Ana does"]
    assert error_of(client.conversations_history, channel=RANDOM) == "not_in_channel"


def test_post_ephemeral(client: WebClient, fake: FakeSlack) -> None:
    answer = client.chat_postEphemeral(channel=LEADS, user=ANA, text="only you")
    assert answer["message_ts"]
    [eph] = fake.ephemerals(LEADS, user=ANA)
    assert eph["text"] == "only you"
    assert fake.messages(LEADS) == []
    fake.add_user(FakeUser(id="UOUTSIDER", name="outsider"))
    assert error_of(client.chat_postEphemeral, channel=LEADS, user="UOUTSIDER", text="x") == (
        "user_not_in_channel"
    )
    too_many = [{"type": "divider"}] * 51
    assert error_of(
        client.chat_postEphemeral, channel=LEADS, user=ANA, text="x", blocks=too_many
    ) == ("invalid_blocks")


def test_schedule_message_rules(client: WebClient, fake: FakeSlack) -> None:
    now = int(time.time())
    assert error_of(client.chat_scheduleMessage, channel=LEADS, text="x", post_at=now - 10) == (
        "time_in_past"
    )
    too_far = now + 121 * 24 * 3600
    assert error_of(client.chat_scheduleMessage, channel=LEADS, text="x", post_at=too_far) == (
        "time_too_far"
    )
    answer = client.chat_scheduleMessage(channel=LEADS, text="later", post_at=now + 3600)
    assert answer["scheduled_message_id"].startswith("Q")
    listed = client.chat_scheduledMessages_list(channel=LEADS)["scheduled_messages"]
    assert [s["id"] for s in listed] == [answer["scheduled_message_id"]]
    assert fake.messages(LEADS) == []


# --- views ---------------------------------------------------------------------------------


def test_views_open_returns_a_slack_like_view(fake: FakeSlack, client: WebClient) -> None:
    view = client.views_open(trigger_id=fake.issue_trigger_id(), view=MODAL)["view"]
    assert view["id"].startswith("V") and view["hash"]
    assert view["type"] == "modal" and view["callback_id"] == "checkin"
    assert view["root_view_id"] == view["id"] and view["state"] == {"values": {}}
    assert view["team_id"] == "T0CIRCLE" and view["bot_id"] == fake.bot_id
    assert view["blocks"][0]["block_id"] == "mood"
    assert fake.views[view["id"]]["hash"] == view["hash"]


def test_trigger_ids_are_single_use(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.issue_trigger_id()
    client.views_open(trigger_id=trigger, view=MODAL)
    assert error_of(client.views_open, trigger_id=trigger, view=MODAL) == "expired_trigger_id"
    assert error_of(client.views_open, trigger_id="123.456.abc", view=MODAL) == (
        "invalid_trigger_id"
    )


def test_trigger_ids_expire() -> None:
    with FakeSlack(trigger_ttl_seconds=0.2) as fake:
        client = WebClient(base_url=fake.api_url, token=fake.bot_token)
        trigger = fake.issue_trigger_id()
        time.sleep(0.25)
        assert error_of(client.views_open, trigger_id=trigger, view=MODAL) == ("expired_trigger_id")
        assert fake.views == {}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"title": {"type": "plain_text", "text": "t" * 25}}, "/view/title"),
        ({"submit": None}, "/view/submit"),
        ({"close": {"type": "plain_text", "text": "c" * 25}}, "/view/close"),
        ({"private_metadata": "m" * 3001}, "/view/private_metadata"),
        ({"blocks": [{"type": "divider"}] * 101}, "no more than 100 items"),
        ({"type": "home"}, "/view/type"),
        ({"title": None}, "title"),
        ({"blocks": [{"type": "section"}]}, "/view/blocks/0"),
    ],
)
def test_invalid_modals_are_refused(
    fake: FakeSlack, client: WebClient, change: dict[str, Any], fragment: str
) -> None:
    view = {k: v for k, v in {**MODAL, **change}.items() if v is not None}
    with pytest.raises(SlackApiError) as info:
        client.views_open(trigger_id=fake.issue_trigger_id(), view=view)
    assert info.value.response["error"] == "invalid_arguments"
    messages = info.value.response["response_metadata"]["messages"]
    assert any(fragment in m for m in messages), messages
    assert fake.views == {}


def test_views_update_checks_hash_and_id(fake: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(
        trigger_id=fake.issue_trigger_id(), view={**MODAL, "external_id": "checkin-1"}
    )["view"]
    second = {**MODAL, "title": {"type": "plain_text", "text": "Step 2"}}
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=second)["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert updated["title"]["text"] == "Step 2"
    stale = error_of(client.views_update, view_id=opened["id"], hash=opened["hash"], view=MODAL)
    assert stale == "hash_conflict"
    by_external = client.views_update(external_id="checkin-1", view=MODAL)["view"]
    assert by_external["id"] == opened["id"]
    assert error_of(client.views_update, view_id="VNOPE", view=MODAL) == "not_found"


def test_views_push_stacks_at_most_three(fake: FakeSlack, client: WebClient) -> None:
    root = client.views_open(trigger_id=fake.issue_trigger_id(), view=MODAL)["view"]
    second = client.views_push(trigger_id=fake.issue_trigger_id(root["id"]), view=MODAL)["view"]
    assert second["root_view_id"] == root["id"] and second["previous_view_id"] == root["id"]
    client.views_push(trigger_id=fake.issue_trigger_id(second["id"]), view=MODAL)
    assert len(fake.view_stack(root["id"])) == 3
    assert error_of(
        client.views_push, trigger_id=fake.issue_trigger_id(root["id"]), view=MODAL
    ) == ("push_limit_reached")


def test_views_publish_sets_the_home_tab(fake: FakeSlack, client: WebClient) -> None:
    first = client.views_publish(user_id=ANA, view=HOME)["view"]
    assert fake.home_view(ANA) is not None
    assert fake.home_view(BEN) is None
    newer = {"type": "home", "blocks": [{"type": "divider"}]}
    second = client.views_publish(user_id=ANA, view=newer, hash=first["hash"])["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    home = fake.home_view(ANA)
    assert home is not None and home["blocks"][0]["type"] == "divider"
    assert error_of(client.views_publish, user_id=ANA, view=HOME, hash=first["hash"]) == (
        "hash_conflict"
    )
    assert error_of(client.views_publish, user_id=ANA, view=MODAL) == "invalid_arguments"
    too_big = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert error_of(client.views_publish, user_id=ANA, view=too_big) == "invalid_arguments"


# --- rate limits and failures --------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.set_rate_limit("chat.postMessage", 2, per_seconds=60)
    client.chat_postMessage(channel=GENERAL, text="1")
    client.chat_postMessage(channel=GENERAL, text="2")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=GENERAL, text="3")
    assert info.value.response.status_code == 429
    assert info.value.response["error"] == "ratelimited"
    retry_after = int(info.value.response.headers["Retry-After"])
    assert 58 <= retry_after <= 60
    assert client.users_info(user=ANA)["ok"]  # limits are per method
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [200, 200, 429]
    assert len(fake.messages(GENERAL)) == 2


def test_rate_limit_retry_handler_waits_and_succeeds(fake: FakeSlack) -> None:
    fake.set_rate_limit("users.info", 1, per_seconds=1)
    client = WebClient(
        base_url=fake.api_url,
        token=fake.bot_token,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    client.users_info(user=ANA)
    started = time.monotonic()
    assert client.users_info(user=BEN)["user"]["id"] == BEN
    assert time.monotonic() - started >= 0.9  # it honoured Retry-After: 1
    calls = fake.calls_to("users.info")
    assert [c.status for c in calls] == [200, 429, 200]


def test_injected_error_fails_once(fake: FakeSlack, client: WebClient) -> None:
    fake.inject_error("chat.postMessage", "fatal_error")
    assert error_of(client.chat_postMessage, channel=GENERAL, text="x") == "fatal_error"
    assert client.chat_postMessage(channel=GENERAL, text="y")["ok"]
    assert [m["text"] for m in fake.messages(GENERAL)] == ["y"]


def test_injected_error_can_match_arguments(fake: FakeSlack, client: WebClient) -> None:
    fake.inject_error("users.info", "user_not_visible", times=5, match=lambda a: a["user"] == BEN)
    assert client.users_info(user=ANA)["ok"]
    assert error_of(client.users_info, user=BEN) == "user_not_visible"
    assert error_of(client.users_info, user=BEN) == "user_not_visible"


def test_injected_500_is_html_and_server_error_handler_recovers(fake: FakeSlack) -> None:
    plain = WebClient(base_url=fake.api_url, token=fake.bot_token)
    fake.inject_error("users.info", status=500)
    with pytest.raises(SlackApiError) as info:
        plain.users_info(user=ANA)
    assert info.value.response.status_code == 500
    fake.inject_error("users.info", status=503)
    retrying = WebClient(
        base_url=fake.api_url,
        token=fake.bot_token,
        retry_handlers=[
            ServerErrorRetryHandler(
                max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            )
        ],
    )
    assert retrying.users_info(user=ANA)["user"]["id"] == ANA
    assert [c.status for c in fake.calls_to("users.info")] == [500, 503, 200]
    status, headers, body = raw_post(
        fake.api_url + "users.info", b"", {"Authorization": f"Bearer {fake.bot_token}"}
    )
    assert status == 200  # the injection was used up
    fake.inject_error("users.info", status=503)
    status, headers, body = raw_post(fake.api_url + "users.info", b"", {})
    assert status == 503 and body.startswith(b"<html>")
    assert headers["Content-Type"].startswith("text/html")


def test_connection_drop_is_retried_by_the_connection_error_handler(fake: FakeSlack) -> None:
    fake.inject_connection_drop("chat.postMessage")
    quick = FixedValueRetryIntervalCalculator(0.01)
    client = WebClient(
        base_url=fake.api_url,
        token=fake.bot_token,
        retry_handlers=[ConnectionErrorRetryHandler(interval_calculator=quick)],  # the default
    )
    assert client.chat_postMessage(channel=GENERAL, text="made it")["ok"]
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [0, 200]
    fake.inject_connection_drop("chat.postMessage")
    no_retry = WebClient(base_url=fake.api_url, token=fake.bot_token, retry_handlers=[])
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        no_retry.chat_postMessage(channel=GENERAL, text="lost")
    assert [m["text"] for m in fake.messages(GENERAL)] == ["made it"]


# --- response_url --------------------------------------------------------------------------


def test_response_url_posts_are_recorded_and_limited_to_five(fake: FakeSlack) -> None:
    url = fake.new_response_url(channel_id=LEADS, user_id=ANA)
    assert url.startswith(fake.base_url + "/response/")
    hook = WebhookClient(url)
    for i in range(5):
        answer = hook.send(text=f"reply {i}", blocks=[SECTION])
        assert (answer.status_code, answer.body) == (200, "ok")
    sixth = hook.send(text="one too many")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    calls = fake.calls_to("response_url")
    assert [c.status for c in calls] == [200] * 5 + [404]
    assert calls[0].args["text"] == "reply 0" and calls[0].args["_response_url"] == url
    assert calls[0].args["blocks"] == [SECTION]
    assert [m["text"] for m in fake.ephemerals(LEADS, user=ANA)] == [f"reply {i}" for i in range(5)]


def test_response_url_expires() -> None:
    with FakeSlack(response_url_ttl_seconds=0.1) as fake:
        url = fake.new_response_url()
        time.sleep(0.15)
        answer = WebhookClient(url).send(text="late")
        assert (answer.status_code, answer.body) == (404, "expired_url")


def test_response_url_validates_blocks(fake: FakeSlack) -> None:
    url = fake.new_response_url(channel_id=LEADS, user_id=ANA)
    bad = WebhookClient(url).send(text="x", blocks=[{"type": "section"}])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    assert WebhookClient(url).send(text="fine").status_code == 200


def test_response_url_can_replace_delete_or_post_in_channel(
    fake: FakeSlack, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel=LEADS, text="Pick a slot")["ts"]
    url = fake.new_response_url(channel_id=LEADS, message_ts=ts, user_id=ANA)
    hook = WebhookClient(url)
    hook.send(text="Slot taken", replace_original=True)
    assert [m["text"] for m in fake.messages(LEADS)] == ["Slot taken"]
    hook.send(text="Everyone: slots are full", response_type="in_channel")
    assert [m["text"] for m in fake.messages(LEADS)] == ["Slot taken", "Everyone: slots are full"]
    hook.send(delete_original=True)
    assert [m["text"] for m in fake.messages(LEADS)] == ["Everyone: slots are full"]


# --- files ---------------------------------------------------------------------------------


def test_files_upload_v2_end_to_end(fake: FakeSlack, client: WebClient) -> None:
    content = b"name,tz\nana,America/New_York\n"
    answer = client.files_upload_v2(
        content=content,
        filename="circle.csv",
        title="Circle export",
        channel=LEADS,
        initial_comment="Here is the export",
    )
    file_id = answer["file"]["id"]
    assert answer["file"]["title"] == "Circle export" and answer["file"]["size"] == len(content)
    assert fake.uploaded_file(file_id) == content
    methods = [c.method for c in fake.calls]
    assert methods == ["files.getUploadURLExternal", "file_upload", "files.completeUploadExternal"]
    assert fake.calls_to("file_upload")[0].args["length"] == len(content)
    [shared] = fake.messages(LEADS)
    assert shared["text"] == "Here is the export" and shared["files"][0]["id"] == file_id


def test_file_upload_errors(fake: FakeSlack, client: WebClient) -> None:
    assert error_of(client.files_completeUploadExternal, files=[{"id": "FNOPE", "title": "x"}]) == (
        "file_not_found"
    )
    with pytest.raises(SlackApiError) as info:
        client.files_upload_v2(content=b"x", filename="a.txt", channel=RANDOM)
    assert info.value.response["error"] == "not_in_channel"


# --- recording -----------------------------------------------------------------------------


def test_wait_for_sees_calls_from_other_threads(fake: FakeSlack, client: WebClient) -> None:
    def later() -> None:
        time.sleep(0.05)
        client.chat_postMessage(channel=GENERAL, text="a")
        client.chat_postMessage(channel=LEADS, text="b")

    threading.Thread(target=later).start()
    [call] = fake.wait_for(lambda c: c.args.get("channel") == LEADS, timeout=5)
    assert call.response["ok"] and call.args["text"] == "b"
    assert len(fake.wait_for("chat.postMessage", count=2)) == 2


def test_wait_for_timeout_lists_what_happened(fake: FakeSlack, client: WebClient) -> None:
    assert error_of(client.chat_postMessage, channel=RANDOM, text="x") == "not_in_channel"
    with pytest.raises(AssertionError) as info:
        fake.wait_for("views.open", timeout=0.05)
    assert "chat.postMessage -> 200 not_in_channel" in str(info.value)
    fake.reset_calls()
    assert fake.calls == []


# --- the Slack side: signed requests to the bot --------------------------------------------


class Recorder:
    """A tiny HTTP server standing in for the bot: records requests, answers with `reply`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.reply: bytes = b""
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.requests.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recorder.reply)))
                self.end_headers()
                self.wfile.write(recorder.reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()

    def last(self) -> tuple[dict[str, str], bytes]:
        return self.requests[-1]


@pytest.fixture
def bot() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


def assert_signed(fake: FakeSlack, headers: dict[str, str], body: bytes) -> None:
    verifier = SignatureVerifier(fake.signing_secret)
    ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert verifier.is_valid(body, ts, sig)
    assert not verifier.is_valid(body + b"x", ts, sig)
    assert abs(int(ts) - time.time()) < 5


def test_slash_command_is_signed_and_shaped_like_slacks(fake: FakeSlack, bot: Recorder) -> None:
    status, _headers, _body = fake.send_slash_command(
        bot.url, user_id=ANA, channel_id=LEADS, text="members"
    )
    assert status == 200
    headers, body = bot.last()
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert_signed(fake, headers, body)
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    assert fields["command"] == "/circle" and fields["text"] == "members"
    assert fields["user_id"] == ANA and fields["user_name"] == "ana"
    assert fields["channel_id"] == LEADS and fields["channel_name"] == "product-leads"
    assert fields["team_id"] == "T0CIRCLE" and fields["team_domain"] == "circlebot-sandbox"
    assert fields["is_enterprise_install"] == "false" and fields["api_app_id"] == fake.api_app_id
    assert fields["response_url"].startswith(fake.base_url + "/response/")
    assert set(fields) >= {"token", "trigger_id"}
    # the trigger and response_url work for the bot
    client = WebClient(base_url=fake.api_url, token=fake.bot_token)
    assert client.views_open(trigger_id=fields["trigger_id"], view=MODAL)["ok"]
    assert WebhookClient(fields["response_url"]).send(text="Members: ...").status_code == 200


def test_slash_command_in_a_dm_and_with_a_bad_secret(fake: FakeSlack, bot: Recorder) -> None:
    fake.send_slash_command(bot.url, user_id=ANA, channel_id=fake.dm_channel_of(ANA), text="")
    fields = parse_qs(bot.last()[1].decode(), keep_blank_values=True)
    assert fields["channel_name"] == ["directmessage"]
    fake.send_slash_command(
        bot.url, user_id=ANA, channel_id=LEADS, text="x", signing_secret="0" * 32, timestamp=1
    )
    headers, body = bot.last()
    verifier = SignatureVerifier(fake.signing_secret)
    assert headers["X-Slack-Request-Timestamp"] == "1"
    assert verifier.generate_signature(timestamp="1", body=body) != headers["X-Slack-Signature"]


def test_slash_command_ack_is_shown_like_slack(fake: FakeSlack, bot: Recorder) -> None:
    bot.reply = json.dumps({"response_type": "in_channel", "text": "Circle created"}).encode()
    fake.send_slash_command(bot.url, user_id=ANA, channel_id=LEADS, text="create X")
    assert [m["text"] for m in fake.messages(LEADS)] == ["Circle created"]
    bot.reply = json.dumps({"text": "x", "blocks": [{"type": "section"}]}).encode()
    fake.send_slash_command(bot.url, user_id=ANA, channel_id=LEADS, text="oops")
    responses = fake.calls_to("command_response")
    assert [c.ok for c in responses] == [True, False]
    assert responses[1].error == "invalid_blocks"


def test_block_action_payload(fake: FakeSlack, client: WebClient, bot: Recorder) -> None:
    posted = client.chat_postMessage(channel=LEADS, text="Join?", blocks=[SECTION])
    [message] = fake.messages(LEADS)
    fake.send_block_action(
        bot.url, user_id=BEN, action_id="join", value="circle-7", block_id="b1", message=message
    )
    headers, body = bot.last()
    assert_signed(fake, headers, body)
    [raw] = parse_qs(body.decode())["payload"]
    payload = json.loads(raw)
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == BEN and payload["user"]["username"] == "ben"
    assert payload["team"] == {"id": "T0CIRCLE", "domain": "circlebot-sandbox"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": LEADS,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": LEADS, "name": "product-leads"}
    assert payload["message"]["ts"] == posted["ts"] and "channel" not in payload["message"]
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["block_id"]) == ("join", "circle-7", "b1")
    assert action["type"] == "button" and action["action_ts"]
    assert payload["state"] == {"values": {}} and payload["trigger_id"]
    WebhookClient(payload["response_url"]).send(text="You joined", replace_original=True)
    assert [m["text"] for m in fake.messages(LEADS)] == ["You joined"]


def test_block_action_in_a_modal_can_push(
    fake: FakeSlack, client: WebClient, bot: Recorder
) -> None:
    view = client.views_open(trigger_id=fake.issue_trigger_id(), view=MODAL)["view"]
    fake.send_block_action(
        bot.url,
        user_id=ANA,
        action_id="pick",
        action_type="static_select",
        view=view,
        selected_option={"text": {"type": "plain_text", "text": "A"}, "value": "a"},
    )
    payload = json.loads(parse_qs(bot.last()[1].decode())["payload"][0])
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"]["hash"] == view["hash"] and "response_url" not in payload
    assert payload["actions"][0]["selected_option"]["value"] == "a"
    pushed = client.views_push(trigger_id=payload["trigger_id"], view=MODAL)["view"]
    assert pushed["root_view_id"] == view["id"]


def test_view_submission_payload_and_response_actions(
    fake: FakeSlack, client: WebClient, bot: Recorder
) -> None:
    view = client.views_open(
        trigger_id=fake.issue_trigger_id(), view={**MODAL, "private_metadata": "circle=7"}
    )["view"]
    values = {"mood": {"text": {"type": "plain_text_input", "value": "Great"}}}
    bot.reply = json.dumps({"response_action": "errors", "errors": {"mood": "Too short"}}).encode()
    fake.send_view_submission(bot.url, user_id=ANA, view=view, state_values=values)
    headers, body = bot.last()
    assert_signed(fake, headers, body)
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "view_submission" and payload["user"]["id"] == ANA
    submitted = payload["view"]
    assert submitted["id"] == view["id"] and submitted["hash"] == view["hash"]
    assert submitted["callback_id"] == "checkin" and submitted["private_metadata"] == "circle=7"
    assert submitted["state"] == {"values": values} and payload["trigger_id"]
    assert fake.view_stack(view["id"]) == [view["id"]]  # errors keep it open
    changed = {**MODAL, "title": {"type": "plain_text", "text": "Thanks"}}
    bot.reply = json.dumps({"response_action": "update", "view": changed}).encode()
    fake.send_view_submission(bot.url, user_id=ANA, view=view, state_values=values)
    assert fake.view(view["id"])["title"]["text"] == "Thanks"
    bot.reply = json.dumps({"response_action": "update", "view": {"type": "modal"}}).encode()
    fake.send_view_submission(bot.url, user_id=ANA, view=view, state_values=values)
    assert [c.ok for c in fake.calls_to("response_action")] == [True, True, False]
    bot.reply = b""
    fake.send_view_submission(bot.url, user_id=ANA, view=view, state_values=values)
    assert fake.view_stack(view["id"]) == []  # an empty ack closes it
    assert error_of(client.views_update, view_id=view["id"], view=MODAL) == "not_found"


def test_events_are_signed_json_envelopes_with_retry_headers(
    fake: FakeSlack, bot: Recorder
) -> None:
    event = {"type": "app_home_opened", "user": ANA, "channel": fake.dm_channel_of(ANA)}
    fake.send_event(bot.url, event, event_id="Ev123", retry_num=1, retry_reason="http_timeout")
    headers, body = bot.last()
    assert headers["Content-Type"] == "application/json"
    assert_signed(fake, headers, body)
    assert headers["X-Slack-Retry-Num"] == "1" and headers["X-Slack-Retry-Reason"] == "http_timeout"
    envelope = json.loads(body)
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev123"
    assert envelope["team_id"] == "T0CIRCLE" and envelope["api_app_id"] == fake.api_app_id
    assert envelope["event"]["user"] == ANA and envelope["event"]["event_ts"]
    assert envelope["authorizations"][0]["user_id"] == fake.bot_user_id
    assert isinstance(envelope["event_time"], int)
    fake.send_event(bot.url, {"type": "member_joined_channel", "user": BEN, "channel": LEADS})
    headers, body = bot.last()
    assert "X-Slack-Retry-Num" not in headers
    assert json.loads(body)["event_id"].startswith("Ev")
    assert [s.kind for s in fake.sent] == ["event", "event"]


def test_sign_matches_slack_sdk(fake: FakeSlack) -> None:
    headers = fake.sign(b"payload=1", timestamp=1_700_000_000)
    expected = SignatureVerifier(fake.signing_secret).generate_signature(
        timestamp="1700000000", body=b"payload=1"
    )
    assert headers == {"X-Slack-Request-Timestamp": "1700000000", "X-Slack-Signature": expected}


# --- Bolt against the fake -----------------------------------------------------------------


def test_a_bolt_app_runs_against_the_fake(fake: FakeSlack) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    app = App(
        token=fake.bot_token,
        signing_secret=fake.signing_secret,
        client=WebClient(base_url=fake.api_url, token=fake.bot_token),
    )

    @app.command("/circle")
    def circle(ack: Any, respond: Any, body: dict[str, Any], client: WebClient) -> None:
        ack("On it")
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        respond(f"Hello <@{body['user_id']}>")

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/slack/events"
        status, _h, body = fake.send_slash_command(url, user_id=ANA, channel_id=LEADS, text="hi")
        assert status == 200 and body == b"On it"
        [reply] = fake.wait_for("response_url")
        assert reply.args["text"] == f"Hello <@{ANA}>"
        [opened] = fake.wait_for("views.open")
        assert opened.ok
        status, _h, _b = fake.send_slash_command(
            url, user_id=ANA, channel_id=LEADS, text="hi", signing_secret="f" * 32
        )
        assert status == 401
    finally:
        server.shutdown()
        server.server_close()


# --- Socket Mode ---------------------------------------------------------------------------


def test_socket_mode_client_connects_receives_and_acks() -> None:
    from slack_sdk.socket_mode import SocketModeClient
    from slack_sdk.socket_mode.client import BaseSocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse

    with FakeSlack(app_token="xapp-1-test") as fake:
        fake.seed_demo_workspace()
        received: list[SocketModeRequest] = []
        hello = threading.Event()
        web = WebClient(base_url=fake.api_url, token=fake.bot_token)
        assert error_of(web.apps_connections_open, app_token=fake.bot_token) == (
            "not_allowed_token_type"
        )
        client = SocketModeClient(app_token="xapp-1-test", web_client=web)

        def on_message(message: str) -> None:
            if json.loads(message).get("type") == "hello":
                hello.set()

        def on_request(sm: BaseSocketModeClient, req: SocketModeRequest) -> None:
            received.append(req)
            sm.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

        client.on_message_listeners.append(on_message)
        client.socket_mode_request_listeners.append(on_request)
        try:
            client.connect()
            fake.wait_for_socket_mode_connection(timeout=5)
            assert hello.wait(5)
            command = fake.build_slash_command(user_id=ANA, channel_id=LEADS, text="members")
            envelope_id = fake.send_socket_mode_envelope("slash_commands", command)
            [ack] = fake.wait_for(
                lambda c: c.method == "socket_mode_ack" and c.args["envelope_id"] == envelope_id
            )
            assert ack.args == {"envelope_id": envelope_id}
            assert received[0].type == "slash_commands"
            assert received[0].payload["text"] == "members"
            event = fake.build_event({"type": "app_home_opened", "user": ANA, "tab": "home"})
            event_envelope = fake.send_socket_mode_envelope("events_api", event)
            fake.wait_for(
                lambda c: c.method == "socket_mode_ack" and c.args["envelope_id"] == event_envelope
            )
            assert received[1].payload["event"]["user"] == ANA
            assert fake.calls_to("apps.connections.open")[-1].ok
        finally:
            # close from the server side first: the SDK's own close() otherwise waits for a
            # blocking recv() to time out (3 s)
            client.auto_reconnect_enabled = False
            fake.close_socket_mode_connections()
            deadline = time.monotonic() + 3
            while client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.01)
            client.close()


def test_recorded_call_helpers() -> None:
    ok = RecordedCall("x", {}, 200, {"ok": True}, 0.0, None)
    failed = RecordedCall("x", {}, 200, {"ok": False, "error": "nope"}, 0.0, None)
    throttled = RecordedCall("x", {}, 429, {"ok": False, "error": "ratelimited"}, 0.0, None)
    assert (ok.ok, ok.error) == (True, None)
    assert (failed.ok, failed.error) == (False, "nope")
    assert throttled.ok is False
