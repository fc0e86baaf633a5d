"""`circlebot serve`, `serve --sandbox` and `sandbox send` as real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.sandbox.fake_slack import FakeSlack
from tests.harness import CHANNEL, FAC, PEOPLE

pytestmark = pytest.mark.slow

ENV_KEYS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(url: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                result: dict[str, object] = json.loads(response.read())
                return result
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


APP_TOKEN = "xapp-1-A0CIRCLE-1-fakeapptoken"


def stop(process: subprocess.Popen[str], stop_signal: int = signal.SIGTERM) -> str:
    """Signal the process, wait for it to end (killing it if it hangs) and return its output."""
    try:
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            output, _ = process.communicate()
    return output


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(team_id="T0CIRCLE", app_token=APP_TOKEN) as fake:
        for person in PEOPLE:
            fake.add_user(replace(person))  # a copy: tests may edit it
        fake.add_channel(CHANNEL, "product-leads", [p.id for p in PEOPLE if not p.is_bot])
        yield fake


def start_serve(fake: FakeSlack, db_url: str, cwd: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update(
        SLACK_BOT_TOKEN=fake.bot_token,
        SLACK_SIGNING_SECRET=fake.signing_secret,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=db_url,
        LOG_LEVEL="DEBUG",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_answers_slack_and_stops_cleanly(
    fake: FakeSlack, db_url: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    process = start_serve(fake, db_url, tmp_path, port)
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz") == {
            "status": "ok",
            "database": True,
        }
        status, _h, body = fake.send_slash_command(
            f"http://127.0.0.1:{port}/slack/events",
            user_id=FAC,
            channel_id=CHANNEL,
            text="create Product Leads",
        )
        assert status == 200
        assert "Created *Product Leads*" in json.loads(body)["text"]
        fake.wait_for("chat.postMessage")
    finally:
        output = stop(process, stop_signal)
    assert process.returncode == 0, output
    assert "Circlebot stopped" in output
    assert "Traceback" not in output
    # DEBUG logging was on, and still no secret reached the log.
    assert fake.bot_token not in output
    assert fake.signing_secret not in output


def test_serve_refuses_an_invalid_token_with_one_line(
    fake: FakeSlack, sqlite_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update(
        SLACK_BOT_TOKEN="xoxb-not-the-right-one",
        SLACK_SIGNING_SECRET=fake.signing_secret,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=sqlite_url,
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Slack refused the credentials" in result.stderr
    assert "Traceback" not in result.stderr
    assert "xoxb-not-the-right-one" not in result.stderr + result.stdout


def run_send(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", "send", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sandbox_walkthrough_from_the_readme(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (*ENV_KEYS, "DATABASE_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--sandbox"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state = tmp_path / ".circlebot-sandbox.json"
    try:
        deadline = time.monotonic() + 30
        while not state.exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "sandbox did not start"
            time.sleep(0.1)
        events_url = json.loads(state.read_text())["events_url"]
        wait_for_health(events_url.replace("/slack/events", "/healthz"))

        created = run_send(tmp_path, "--as", "fran", "/circle create Product Leads")
        assert created.returncode == 0, created.stderr
        assert "Created *Product Leads* in this channel." in created.stdout
        assert "[posted in #product-leads] @fran started the peer coaching circle" in created.stdout

        added = run_send(tmp_path, "--as", "fran", "/circle add @ana @ben @chloe")
        assert "Added to *Product Leads* as participant: @ana, @ben, @chloe." in added.stdout
        leader = run_send(tmp_path, "--as", "fran", "/circle add @dana as leader")
        assert "as leader: @dana." in leader.stdout

        members = run_send(tmp_path, "--as", "ana", "/circle members")
        assert "*Product Leads*: 5 members" in members.stdout
        assert "*Participants* (3): @ana, @ben, @chloe" in members.stdout

        refused = run_send(tmp_path, "--as", "ana", "/circle add @hana")
        assert "Only a facilitator of *Product Leads* can add people. Ask @fran." in refused.stdout

        unknown = run_send(tmp_path, "--as", "nobody", "/circle help")
        assert unknown.returncode == 2 and "no sandbox user called 'nobody'" in unknown.stderr
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert "Circlebot sandbox is running" in output
    assert 'circlebot sandbox send --as fran "/circle create Product Leads"' in output
    assert "Type /circle commands here, or from another terminal" in output
    assert not state.exists()
    assert (tmp_path / "circlebot-sandbox.db").exists()  # the embedded default store


def test_sandbox_send_without_a_sandbox_says_how_to_start_one(tmp_path: Path) -> None:
    result = run_send(tmp_path, "/circle help")
    assert result.returncode == 2
    assert "Start one with `circlebot serve --sandbox`" in result.stderr


def test_socket_mode_answers_a_slash_command_and_stops_cleanly(
    fake: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update(
        SLACK_BOT_TOKEN=fake.bot_token,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=db_url,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "socket"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        fake.wait_for_socket_mode_connection(timeout=30)
        payload = fake.build_slash_command(
            user_id=FAC, channel_id=CHANNEL, text="create Product Leads"
        )
        envelope_id = fake.send_socket_mode_envelope("slash_commands", payload)
        [ack] = fake.wait_for(
            lambda c: c.method == "socket_mode_ack" and c.args.get("envelope_id") == envelope_id,
            timeout=15,
        )
        assert "Created *Product Leads*" in ack.args["payload"]["text"]
        fake.wait_for("chat.postMessage", timeout=15)
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert "connected over Socket Mode" in output and "Circlebot stopped" in output


def test_the_sandbox_prompt_answers_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """A newcomer's terminal: the prompt, a command, then Ctrl-C ends the process."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in (*ENV_KEYS, "DATABASE_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--sandbox"],
        env=env,
        cwd=tmp_path,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            import select

            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:  # the process closed the terminal
                    return

    try:
        read_until(b"fran in #product-leads> ")
        os.write(leader, b"/circle create Product Leads\n")
        read_until(b"You are its facilitator.")
        os.write(leader, b"as ana\n")
        read_until(b"ana in #product-leads> ")
        os.write(leader, b"/circle members\n")
        read_until(b"Only members of *Product Leads* can see who is in it. Ask @fran to add you.")
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            read_until(b"\x00", timeout=1)  # collect what it printed, for the report
            raise AssertionError(
                "no exit after Ctrl-C:\n" + seen.decode(errors="replace")
            ) from None
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    assert not (tmp_path / ".circlebot-sandbox.json").exists()
