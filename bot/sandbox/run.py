"""`circlebot serve --sandbox`: the real bot against the in-repo fake Slack.

A newcomer without a Slack workspace runs this first. It starts the fake Slack on a free
port with a seeded workspace, points the bot at it with generated credentials, serves the
bot on loopback, and lets people type slash commands:
- in this terminal (when it is interactive), or
- from another terminal with `circlebot sandbox send --as ana "/circle members"`, which
  talks to a small control endpoint described in `.circlebot-sandbox.json`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import shutil
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bot.app import bootstrap, build_app, shutdown, start_scheduler
from bot.core.logs import setup_logging
from bot.core.settings import ConfigError, LogLevel, Settings, load_settings
from bot.core.web import WebServer, make_wsgi_app, stop_on_signals
from bot.sandbox.fake_slack import FakeSlack
from bot.services import Services

logger = logging.getLogger(__name__)

STATE_FILE = Path(".circlebot-sandbox.json")
SANDBOX_DB = "sqlite:///circlebot-sandbox.db"
DEFAULT_SPEAKER = "fran"
DEFAULT_CHANNEL = "product-leads"


class Sandbox:
    """The fake workspace plus the bot; `say()` types a slash command as someone."""

    def __init__(self, fake: FakeSlack, services: Services, server: WebServer) -> None:
        self.fake = fake
        self.services = services
        self.server = server
        self._lock = threading.Lock()  # one conversation at a time keeps transcripts readable

    @property
    def events_url(self) -> str:
        return f"{self.server.url}/slack/events"

    def user_id(self, name: str) -> str:
        wanted = name.lstrip("@").lower()
        for user in self.fake.users.values():
            if wanted in (user.id.lower(), user.name.lower()):
                return user.id
        raise KeyError(f"no sandbox user called {name!r}; try one of: {', '.join(self.people())}")

    def channel_id(self, name: str) -> str:
        wanted = name.lstrip("#").lower()
        for channel_id, channel in self.fake.channels.items():
            if wanted in (channel_id.lower(), channel.name.lower()):
                return channel_id
        names = ", ".join("#" + c.name for c in self.fake.channels.values() if not c.is_im)
        raise KeyError(f"no sandbox channel called {name!r}; try one of: {names}")

    def people(self) -> list[str]:
        return [u.name for u in self.fake.users.values() if not u.is_bot and not u.deleted]

    def as_slack_would_send(self, text: str) -> str:
        """Escape & < > and turn @name / #channel into Slack's escaped mention forms."""
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        def person(match: re.Match[str]) -> str:
            try:
                uid = self.user_id(match.group(1))
            except KeyError:
                return match.group(0)  # unknown names stay plain text, as in Slack
            return f"<@{uid}|{self.fake.users[uid].name}>"

        def channel(match: re.Match[str]) -> str:
            try:
                cid = self.channel_id(match.group(1))
            except KeyError:
                return match.group(0)
            return f"<#{cid}|{self.fake.channels[cid].name}>"

        escaped = re.sub(r"(?<![\w<])@([\w.-]+)", person, escaped)
        return re.sub(r"(?<![\w<])#([\w-]+)", channel, escaped)

    def say(self, speaker: str, channel: str, line: str) -> list[str]:
        """Send `/circle ...` as `speaker` in `channel`; return what that person then sees."""
        line = line.strip()
        command, _, text = line.partition(" ")
        if command != "/circle":
            return ["Only /circle commands are understood here, e.g. /circle help"]
        user_id, channel_id = self.user_id(speaker), self.channel_id(channel)
        with self._lock:
            before = len(self.fake.calls)
            status, _headers, body = self.fake.send_slash_command(
                self.events_url,
                user_id=user_id,
                channel_id=channel_id,
                channel_name=self.fake.channels[channel_id].name,
                text=self.as_slack_would_send(text),
            )
            self.services.executor.wait_idle(timeout=30)
            later = self.fake.calls[before:]
        seen: list[str] = []
        if status != 200:
            seen.append(f"(the bot answered HTTP {status})")
        elif body.strip():
            ack = json.loads(body)
            if ack.get("text"):
                seen.append(self.readable(ack["text"]))
        for call in later:
            if call.method == "response_url" and call.args.get("text"):
                seen.append(self.readable(call.args["text"]))
            elif call.method == "chat.postMessage" and call.ok:
                where = self.readable(f"<#{call.response.get('channel', '')}>")
                seen.append(f"[posted in {where}] " + self.readable(str(call.args.get("text", ""))))
        return seen

    def readable(self, mrkdwn: str) -> str:
        """mrkdwn as a person reads it: names instead of ids, entities decoded."""

        def user(match: re.Match[str]) -> str:
            found = self.fake.users.get(match.group(1))
            return "@" + (found.name if found else match.group(1))

        def channel(match: re.Match[str]) -> str:
            found = self.fake.channels.get(match.group(1))
            return "#" + (found.name if found else match.group(1))

        text = re.sub(r"<@([A-Z0-9]+)(?:\|[^>]*)?>", user, mrkdwn)
        text = re.sub(r"<#([A-Z0-9]+)(?:\|[^>]*)?>", channel, text)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _control_server(sandbox: Sandbox) -> ThreadingHTTPServer:
    """POST /send {"as": "ana", "channel": "product-leads", "text": "/circle members"}."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/send":
                self.send_error(404)
                return
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                lines = sandbox.say(
                    str(request.get("as") or DEFAULT_SPEAKER),
                    str(request.get("channel") or DEFAULT_CHANNEL),
                    str(request.get("text") or ""),
                )
                answer: dict[str, Any] = {"ok": True, "seen": lines}
            except (KeyError, ValueError) as error:
                answer = {"ok": False, "error": str(error).strip("'\"")}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("control: %s", format % args)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="sandbox-control", daemon=True).start()
    return server


def run_sandbox(*, port: int | None = None, interactive: bool | None = None) -> None:

    fake = FakeSlack(team_domain="circlebot-sandbox").start()
    fake.seed_demo_workspace()
    settings = Settings(
        slack_bot_token=fake.bot_token,  # type: ignore[arg-type]
        slack_signing_secret=fake.signing_secret,  # type: ignore[arg-type]
        slack_api_url=fake.api_url,
        database_url=os.environ.get("DATABASE_URL") or SANDBOX_DB,
        port=port or 3000,  # the sandbox binds `port` or, when none is given, a free one
        log_level=_log_level(),
    )
    setup_logging(settings.log_level, settings.secrets())
    services = bootstrap(settings)
    app = build_app(services)
    server = WebServer(make_wsgi_app(app, services.db), host="127.0.0.1", port=port or 0)
    sandbox = Sandbox(fake, services, server)
    control = _control_server(sandbox)
    STATE_FILE.write_text(
        json.dumps(
            {
                "control_url": f"http://127.0.0.1:{control.server_address[1]}/send",
                "events_url": sandbox.events_url,
                "api_url": fake.api_url,
                "pid": os.getpid(),
            },
            indent=2,
        )
    )
    if interactive is None:
        interactive = sys.stdin.isatty()
    stop = server.stop
    if threading.current_thread() is threading.main_thread():
        stop_on_signals(stop, interrupt=interactive)
    web = server.start_in_thread()
    scheduler = start_scheduler(services)
    print(_banner(sandbox, services), flush=True)
    try:
        if interactive:
            _repl(sandbox, stop)
        web.join()
    finally:
        control.shutdown()
        STATE_FILE.unlink(missing_ok=True)
        shutdown(services, scheduler)
        fake.stop()


def _log_level() -> LogLevel:
    try:
        return load_settings().log_level
    except ConfigError:
        return "INFO"


def _circlebot_command() -> str:
    """How to run `circlebot` from this folder: on PATH, or the venv's script."""
    if shutil.which("circlebot"):
        return "circlebot"
    script = Path(sys.executable).parent / "circlebot"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _banner(sandbox: Sandbox, services: Services) -> str:
    cmd = _circlebot_command()
    people = ", ".join("@" + name for name in sandbox.people())
    channels = ", ".join("#" + c.name for c in sandbox.fake.channels.values() if not c.is_im)
    return f"""
Circlebot sandbox is running: the real bot against a fake Slack, no workspace needed.
  bot        {sandbox.events_url}
  fake Slack {sandbox.fake.api_url}
  database   {services.db.safe_url}
  people     {people}
  channels   {channels}

Type /circle commands here, or from another terminal in this folder:
  {cmd} sandbox send --as fran "/circle create Product Leads"
  {cmd} sandbox send --as fran "/circle add @ana @ben @chloe"
  {cmd} sandbox send --as fran "/circle add @dana as leader"
  {cmd} sandbox send --as ana  "/circle members"
In this terminal, `as ana` switches who is typing and `in #general` where. Ctrl-C stops.
"""


def _repl(sandbox: Sandbox, stop: Callable[[], None]) -> None:
    """Read `/circle ...`, `as NAME` and `in #CHANNEL` lines until EOF, Ctrl-C or SIGTERM."""
    speaker, channel = DEFAULT_SPEAKER, DEFAULT_CHANNEL
    try:
        while True:
            line = _read_line(f"{speaker} in #{channel}> ").strip()
            try:
                if line.startswith("as "):
                    sandbox.user_id(line[3:].strip())
                    speaker = line[3:].strip().lstrip("@")
                elif line.startswith("in "):
                    sandbox.channel_id(line[3:].strip())
                    channel = line[3:].strip().lstrip("#")
                elif line:
                    for seen in sandbox.say(speaker, channel, line):
                        print(seen)
            except KeyError as error:
                print(str(error).strip("'\""))
    except (EOFError, KeyboardInterrupt):
        print()
    finally:
        stop()


def _read_line(prompt: str) -> str:
    """`input()` that lets Ctrl-C and SIGTERM in: a process-wide signal may be delivered to
    any thread, and a main thread blocked in `input()` would then never run the handler (the
    sandbox hung on Ctrl-C about one time in three). Waiting in short selects keeps the main
    thread running Python, so the handler runs within half a second."""
    print(prompt, end="", flush=True)
    while not select.select([sys.stdin], [], [], 0.5)[0]:
        pass
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def send(text: str, *, speaker: str, channel: str, state_file: Path = STATE_FILE) -> int:
    """`circlebot sandbox send`: talk to a running sandbox; prints what the person sees."""
    import urllib.error
    import urllib.request

    if not state_file.exists():
        print(
            "No sandbox is running here. Start one with `circlebot serve --sandbox` "
            "in this folder first.",
            file=sys.stderr,
        )
        return 2
    control_url = json.loads(state_file.read_text())["control_url"]
    if not control_url.startswith("http://127.0.0.1:"):
        print(f"{state_file} does not point at a local sandbox.", file=sys.stderr)
        return 2
    request = urllib.request.Request(  # noqa: S310 (loopback http only, checked above)
        control_url,
        data=json.dumps({"as": speaker, "channel": channel, "text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            answer = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError) as error:
        print(f"The sandbox at {control_url} is not answering ({error}).", file=sys.stderr)
        return 1
    if not answer["ok"]:
        print(answer["error"], file=sys.stderr)
        return 2
    for line in answer["seen"]:
        print(line)
    return 0
