"""Ack latency benchmark: how fast `circlebot serve` answers Slack, next to a bare Bolt app.

    python bench/ack_latency.py [--clients 50] [--requests 3000] [--port 0] [--members 12]

Starts the fake Slack, `circlebot serve` (a real process, a fresh SQLite file) and a bare Bolt
app whose listeners only ack, served by the same stack (bot.core.web's waitress server, same
thread count, same Bolt settings, same signing secret); each in its own process. The fake
Slack seeds a circle the way people would (`/circle create`, `/circle add`, schedules and a
demo day, all signed requests). A separate load process then keeps CLIENTS keep-alive
connections busy with signed requests with fresh timestamps: `/circle members`,
`/circle schedules`, `/circle help` and demo-day sign-up modal submissions (valid ones that
save and DM after the ack, an empty title, a demo day that does not exist), and times each
request until its HTTP response (the ack) has been read.

Each server gets REQUESTS measured requests in two halves, in the order bare, bot, bot, bare,
so a noisy machine weighs on both alike; every half starts with unmeasured warm-up requests.
Prints requests, non-200 answers and unexpected bodies (all must be 0), throughput, p50, p99
and max, and the verdict. Targets (issue 7): p99 under 100 ms and at most 1.5x the bare
app's p99 (Slack gives up after 3 seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.sandbox.fake_senders import (
    SlackIdentity,
    form_body,
    interaction_body,
    sign,
    slash_command_payload,
    view_submission_payload,
)

if TYPE_CHECKING:
    from bot.sandbox.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
TEAM = "T0BENCH01"
CHANNEL = "C0BENCH01"
CHANNEL_NAME = "bench-circle"
FACILITATOR = "U0BENCHFAC"
LEADER = "U0BENCHLDR"
CIRCLE_NAME = "Bench circle"
EVENTS_PATH = "/slack/events"
MISSING_DEMO_DAY = 999_999
P99_TARGET_MS = 100.0
RATIO_TARGET = 1.5
SERVER_ENV_KEYS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL")

# What the load sends, with weights: (kind, weight). Commands are answered in the ack;
# a valid sign-up writes to the database before its ack and DMs the person after it.
MIX: tuple[tuple[str, int], ...] = (
    ("members", 25),
    ("schedules", 20),
    ("help", 15),
    ("signup", 20),
    ("signup_empty_title", 10),
    ("signup_missing_demo_day", 10),
)


def member_ids(count: int) -> list[str]:
    return [f"U0BENCH{i:03d}" for i in range(count)]


# ============================================================================ the fake Slack


def run_fake(members: int) -> None:
    """The fake Slack in its own process; a line protocol on stdin/stdout drives it."""
    from bot.sandbox.fake_slack import FakeSlack, FakeUser

    people = [FACILITATOR, LEADER, *member_ids(members)]
    with FakeSlack(team_id=TEAM) as fake:
        for user_id in people:
            fake.add_user(FakeUser(id=user_id, name=user_id.lower(), tz="Europe/London"))
        fake.add_channel(CHANNEL, CHANNEL_NAME, people)
        identity = fake.identity
        print(
            json.dumps(
                {
                    "api_url": fake.api_url,
                    "base_url": fake.base_url,
                    "token": fake.bot_token,
                    "signing_secret": fake.signing_secret,
                    "identity": identity.__dict__,
                }
            ),
            flush=True,
        )
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "stop":
                break
            if words[0] == "seed":
                print(json.dumps(seed(fake, words[1], words[2], members)), flush=True)
            elif words[0] == "calls":
                print(len(fake.calls_snapshot()), flush=True)


def seed(fake: FakeSlack, url: str, demo_date: str, members: int) -> dict[str, Any]:
    """Set up the circle through the bot, as its facilitator would type it."""
    mentions = " ".join(f"<@{uid}|{uid.lower()}>" for uid in member_ids(members))
    commands = [
        f"create {CIRCLE_NAME}",
        f"add {mentions}",
        f"add <@{LEADER}|{LEADER.lower()}> as leader",
        "schedule checkin mon 09:00",
        "schedule debrief fri 16:00 every 2 weeks",
        f"demoday {demo_date} 15:00 Bench demo day",
    ]
    answers: list[str] = []
    for text in commands:
        before = len(fake.calls_to("response_url"))
        status, _headers, body = fake.send_slash_command(
            url, user_id=FACILITATOR, channel_id=CHANNEL, text=text
        )
        ack = json.loads(body).get("text", "") if status == 200 and body.strip() else ""
        answers.append(f"{status} {ack}")
        if status != 200:
            return {"ok": False, "answers": answers}
        if "…" in ack:  # a follow-up answers through the response_url
            posts = fake.wait_for("response_url", count=before + 1, timeout=30)
            answers.append(f"  -> {posts[-1].args.get('text', '')}")
    return {"ok": True, "answers": answers}


# ============================================================================ the bare app


def run_bare(port: int, folder: str) -> None:
    """A Bolt app whose listeners only ack, on bot.core.web: the fastest answer Bolt can give.

    Bolt's settings are bot.app.build_app's (process_before_response=True, the same executor
    and token check); its listeners ack inline in the request thread, with no hop to the
    executor, so it is a strict baseline for the bot's prompt-ack wrapper.
    """
    from slack_bolt import Ack, App

    from bot.app import build_web_client
    from bot.core.logs import setup_logging
    from bot.core.settings import load_settings
    from bot.core.web import WebServer, make_wsgi_app, stop_on_signals
    from bot.rhythm.messages import SIGNUP_CALLBACK_ID
    from bot.services import TrackedExecutor
    from storage.db import Database

    settings = load_settings()
    setup_logging(settings.log_level, settings.secrets())
    assert settings.slack_signing_secret is not None
    executor = TrackedExecutor()
    app = App(
        client=build_web_client(settings),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        request_verification_enabled=True,
        process_before_response=True,
        listener_executor=executor,
        token_verification_enabled=True,
    )

    def only_ack(ack: Ack) -> None:
        ack()

    app.command("/circle")(only_ack)
    app.view(SIGNUP_CALLBACK_ID)(only_ack)
    db = Database(f"sqlite:///{folder}/bare-health.db")  # only /healthz touches it
    server = WebServer(make_wsgi_app(app, db), host="127.0.0.1", port=port)
    stop_on_signals(server.stop)
    try:
        server.serve_forever()
    finally:
        executor.shutdown(wait=True)
        db.dispose()


# ============================================================================ the load


@dataclass(frozen=True)
class LoadSpec:
    url: str
    clients: int
    requests: int
    warmup: int
    signing_secret: str
    identity: dict[str, str]
    fake_base_url: str
    members: list[str]
    demo_day_id: int
    expect_bot: bool
    seed: int
    rate: float


class Client:
    """One keep-alive HTTP/1.1 connection: POST a body, read the whole answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head += [f"Content-Length: {len(body)}", "", ""]
        self.writer.write("\r\n".join(head).encode("latin-1") + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        answer_headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        if "content-length" in answer_headers:
            content = await self.reader.readexactly(int(answer_headers["content-length"]))
        elif answer_headers.get("transfer-encoding", "").lower() == "chunked":
            content = b""
            while size := int((await self.reader.readline()).strip() or b"0", 16):
                content += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readline()
        else:
            content = await self.reader.read()
            answer_headers["connection"] = "close"
        if answer_headers.get("connection", "").lower() == "close":
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None


class Requests:
    """Builds the next signed request of the mix, with a fresh timestamp and fresh ids."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.identity = SlackIdentity(**spec.identity)
        self.random = random.Random(spec.seed)
        self.kinds = [kind for kind, _ in MIX]
        self.weights = [weight for _, weight in MIX]

    def next(self) -> tuple[str, bytes, dict[str, str]]:
        kind = self.random.choices(self.kinds, self.weights)[0]
        user_id = self.random.choice(self.spec.members)
        if kind in ("members", "schedules", "help"):
            fields = slash_command_payload(
                self.identity,
                user_id=user_id,
                user_name=user_id.lower(),
                channel_id=CHANNEL,
                channel_name=CHANNEL_NAME,
                team_id=self.identity.team_id,
                command="/circle",
                text=kind,
                # These three are answered in the ack, so the response_url stays unused.
                response_url=f"{self.spec.fake_base_url}/response/{secrets.token_hex(12)}",
                trigger_id=f"{self.random.randrange(10**12)}.{secrets.token_hex(8)}",
            )
            body = form_body(fields)
        else:
            body = interaction_body(self._submission(kind, user_id))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers.update(sign(body, int(time.time()), self.spec.signing_secret))
        return kind, body, headers

    def _submission(self, kind: str, user_id: str) -> dict[str, Any]:
        from bot.rhythm.messages import (
            SIGNUP_TITLE_ACTION,
            SIGNUP_TITLE_BLOCK,
            SIGNUP_TRIED_ACTION,
            SIGNUP_TRIED_BLOCK,
            demoday_signup_modal,
        )

        demo_day_id = (
            MISSING_DEMO_DAY if kind == "signup_missing_demo_day" else self.spec.demo_day_id
        )
        view = demoday_signup_modal(
            demo_day_id=demo_day_id,
            circle_name=CIRCLE_NAME,
            title="Bench demo day",
            starts_at=datetime.now(UTC) + timedelta(days=30),
        )
        # A new title each time: the sign-up is updated and the person gets a DM after the ack.
        title = "" if kind == "signup_empty_title" else f"Demo {self.random.randrange(10**6)}"
        values = {
            SIGNUP_TITLE_BLOCK: {SIGNUP_TITLE_ACTION: {"type": "plain_text_input", "value": title}},
            SIGNUP_TRIED_BLOCK: {
                SIGNUP_TRIED_ACTION: {"type": "plain_text_input", "value": "A pricing page test"}
            },
        }
        return view_submission_payload(
            self.identity,
            user_id=user_id,
            user_name=user_id.lower(),
            view=view,
            state_values=values,
            trigger_id=f"{self.random.randrange(10**12)}.{secrets.token_hex(8)}",
        )


def expected_ack(kind: str, members: int) -> str:
    """Words the bot's ack must contain for this kind, so a refusal or an apology is caught."""
    return {
        "members": f"*{CIRCLE_NAME}*: {members + 2} members",  # + facilitator and leader
        "schedules": " schedules (next times in your time zone",
        "help": "/circle members",
        "signup_empty_title": "Give your demo a title",
        "signup_missing_demo_day": "couldn't find this demo day",
    }[kind]


def answer_is_expected(kind: str, body: bytes, expect_bot: bool, members: int) -> bool:
    """The ack says what the bot (or the bare app: nothing) should say for this request."""
    text = body.decode("utf-8", "replace").strip()
    if not expect_bot or kind == "signup":  # a saved sign-up closes the modal: empty body
        return not text
    try:
        answer = json.loads(text)
    except ValueError:
        return False
    said = answer.get("text") or " ".join(map(str, (answer.get("errors") or {}).values()))
    return isinstance(said, str) and expected_ack(kind, members) in said


async def drive(spec: LoadSpec) -> dict[str, Any]:
    host, _, rest = spec.url.removeprefix("http://").partition(":")
    port = int(rest.split("/", 1)[0])
    requests = Requests(spec)
    clients = [Client(host, port) for _ in range(spec.clients)]
    samples: list[tuple[str, float, float]] = []  # kind, latency, wall-clock start
    statuses: dict[str, int] = {}
    unexpected: dict[str, int] = {}
    failures: list[str] = []
    remaining = {"warmup": spec.warmup, "measured": spec.requests}

    async def one(client: Client, measured: bool, due: float | None = None) -> None:
        kind, body, headers = requests.next()
        if due is not None:  # open loop: wait for this request's arrival time
            await asyncio.sleep(due - time.perf_counter())
        # From the arrival time, not the send: a late send is the server's delay too.
        begin = time.perf_counter() if due is None else due
        try:
            status, content = await client.post(EVENTS_PATH, body, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            await client.close()
            status, content = 0, b""
            failures.append(f"{kind}: {error!r}")
        elapsed = time.perf_counter() - begin
        if not measured:
            return
        samples.append((kind, elapsed, time.time() - elapsed))
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200 and not answer_is_expected(
            kind, content, spec.expect_bot, len(spec.members)
        ):
            unexpected[kind] = unexpected.get(kind, 0) + 1
            if len(failures) < 5:
                failures.append(f"{kind}: {content[:200]!r}")

    arrivals = random.Random(spec.seed + 1000)
    next_arrival = [0.0]

    async def send(client: Client, phase: str) -> None:
        while remaining[phase] > 0:
            remaining[phase] -= 1
            due = None
            if spec.rate:  # Poisson arrivals at `rate` per second, shared by all clients
                next_arrival[0] += arrivals.expovariate(spec.rate)
                due = next_arrival[0]
            await one(client, measured=phase == "measured", due=due)

    next_arrival[0] = time.perf_counter()
    await asyncio.gather(*(send(c, "warmup") for c in clients))
    started = next_arrival[0] = time.perf_counter()
    await asyncio.gather(*(send(c, "measured") for c in clients))
    finished = time.perf_counter()
    for client in clients:
        await client.close()
    return {
        "samples": samples,
        "statuses": statuses,
        "unexpected": unexpected,
        "failures": failures[:5],
        "seconds": finished - started,
    }


def run_load() -> None:
    spec = LoadSpec(**json.loads(sys.stdin.readline()))
    print(json.dumps(asyncio.run(drive(spec))), flush=True)


# ============================================================================ orchestration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{url} did not start; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop_server(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then wait (kill only if it hangs); the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_quiet(fake: subprocess.Popen[str], settle: float = 0.5, timeout: float = 30) -> None:
    """Wait until the fake Slack has seen no new call for `settle` seconds (follow-ups done)."""
    assert fake.stdin is not None and fake.stdout is not None
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        fake.stdin.write("calls\n")
        fake.stdin.flush()
        count = int(fake.stdout.readline())
        if count == last:
            return
        last = count
        time.sleep(settle)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_seeded(database: Path, members: int, answers: list[str]) -> int:
    """Stop unless the commands built the circle; the demo day's id."""
    con = sqlite3.connect(database)
    try:
        active = con.execute("SELECT count(*) FROM membership WHERE removed_at IS NULL").fetchone()
        schedules = con.execute("SELECT count(*) FROM schedule").fetchone()
        demo_day = con.execute("SELECT max(id) FROM demo_day").fetchone()
    finally:
        con.close()
    if active[0] != members + 2 or schedules[0] < 2 or demo_day[0] is None:
        raise SystemExit(
            f"seeding left {active[0]} members, {schedules[0]} schedules, demo day "
            f"{demo_day[0]}; the bot answered:\n" + "\n".join(answers)
        )
    return int(demo_day[0])


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, round(share * len(sorted_values) + 0.5 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Tally:
    name: str
    samples: list[tuple[str, float, float]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the server process's CPU time, warm-up and follow-ups included
    cpu_requests: int = 0

    def add(self, result: dict[str, Any]) -> None:
        self.samples += [(kind, seconds, at) for kind, seconds, at in result["samples"]]
        for key, value in result["statuses"].items():
            self.statuses[key] = self.statuses.get(key, 0) + value
        for key, value in result["unexpected"].items():
            self.unexpected[key] = self.unexpected.get(key, 0) + value
        self.failures += result["failures"]
        self.seconds += result["seconds"]

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != "200")

    @property
    def requests(self) -> int:
        return len(self.samples)

    def ms(self, share: float, kind: str | None = None) -> float:
        chosen = [s for k, s, _at in self.samples if kind is None or k == kind]
        return percentile(sorted(chosen), share) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per server")
    parser.add_argument("--port", type=int, default=0, help="circlebot's port (bare: +1); 0: free")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="requests per second (Poisson arrivals, timed from arrival); 0: each client"
        " sends its next request as soon as its last one is answered",
    )
    parser.add_argument("--members", type=int, default=12, help="participants in the circle")
    parser.add_argument(
        "--samples", type=Path, help="write every measured request to this file (JSON lines)"
    )
    parser.add_argument("--role", choices=("fake", "bare", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "fake":
        return run_fake(args.members)
    if args.role == "bare":
        return run_bare(args.port, args.folder)
    if args.role == "load":
        return run_load()
    if args.clients < 1 or args.requests < 2:
        parser.error("--clients must be at least 1 and --requests at least 2")
    # SIGTERM (e.g. from `python -m bench`) unwinds like Ctrl-C: servers stopped, files removed.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="ack-bench-") as folder:
        bench(args, Path(folder))


def bench(args: argparse.Namespace, folder: Path) -> None:
    me = [sys.executable, str(Path(__file__).resolve())]
    fake = subprocess.Popen(
        [*me, "--role", "fake", "--members", str(args.members)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert fake.stdin is not None and fake.stdout is not None
    slack = json.loads(fake.stdout.readline())
    bot_port = args.port or free_port()
    bare_port = args.port + 1 if args.port else free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_KEYS}
    env.update(
        SLACK_BOT_TOKEN=slack["token"],
        SLACK_SIGNING_SECRET=slack["signing_secret"],
        SLACK_API_URL=slack["api_url"],
        DATABASE_URL=f"sqlite:///{folder}/circlebot.db",
        LOG_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    servers: dict[str, tuple[subprocess.Popen[bytes], Path, str]] = {}
    try:
        for name, command, port in (
            (
                "circlebot serve",
                [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"],
                bot_port,
            ),
            ("bare Bolt app", [*me, "--role", "bare", "--folder", str(folder)], bare_port),
        ):
            log = folder / f"{name.split()[0]}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [*command, "--port", str(port)],
                    env=env,
                    cwd=folder,  # no stray .env from the working directory
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            servers[name] = (process, log, f"http://127.0.0.1:{port}")
        for process, log, url in servers.values():
            wait_healthy(url, process, log)
        demo_date = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        fake.stdin.write(f"seed {servers['circlebot serve'][2]}{EVENTS_PATH} {demo_date}\n")
        fake.stdin.flush()
        seeded = json.loads(fake.stdout.readline())
        if not seeded["ok"]:
            raise SystemExit("seeding failed:\n" + "\n".join(seeded["answers"]))
        wait_quiet(fake)
        demo_day_id = check_seeded(folder / "circlebot.db", args.members, seeded["answers"])
        pace = (
            f"arriving at {args.rate:g}/s" if args.rate else "each sent when the last is answered"
        )
        print(
            f"ack latency: {args.clients} clients, {args.requests} signed requests per server "
            f"({pace}; + warm-up), circle of {args.members + 2} on SQLite; {os.cpu_count()} CPUs"
        )
        tallies = run_legs(args, me, servers, slack, demo_day_id, fake)
    finally:
        codes = {name: stop_server(process) for name, (process, _log, _url) in servers.items()}
        if fake.poll() is None:
            fake.stdin.write("stop\n")
            fake.stdin.flush()
            try:
                fake.wait(timeout=10)
            except subprocess.TimeoutExpired:
                fake.kill()
    report(tallies, codes, {name: log for name, (_p, log, _u) in servers.items()}, args.rate)
    if args.samples:
        with args.samples.open("w") as out:
            for tally in tallies.values():
                for kind, seconds, at in tally.samples:
                    out.write(
                        json.dumps(
                            {"server": tally.name, "kind": kind, "at": at, "ms": seconds * 1000}
                        )
                        + "\n"
                    )


def run_legs(
    args: argparse.Namespace,
    me: list[str],
    servers: dict[str, tuple[subprocess.Popen[bytes], Path, str]],
    slack: dict[str, Any],
    demo_day_id: int,
    fake: subprocess.Popen[str],
) -> dict[str, Tally]:
    tallies = {name: Tally(name) for name in ("circlebot serve", "bare Bolt app")}
    half = args.requests // 2
    order = ("bare Bolt app", "circlebot serve", "circlebot serve", "bare Bolt app")
    for leg, name in enumerate(order):
        size = half if leg < 2 else args.requests - half
        spec = LoadSpec(
            url=servers[name][2],
            clients=args.clients,
            requests=size,
            warmup=max(100, 2 * args.clients),
            signing_secret=slack["signing_secret"],
            identity=slack["identity"],
            fake_base_url=slack["base_url"],
            members=member_ids(args.members),
            demo_day_id=demo_day_id,
            expect_bot=name == "circlebot serve",
            seed=leg,
            rate=args.rate,
        )
        process = servers[name][0]
        cpu_before = cpu_seconds(process.pid)
        done = subprocess.run(
            [*me, "--role", "load"],
            input=json.dumps(spec.__dict__) + "\n",
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
        )
        if done.returncode != 0:
            raise SystemExit(f"the load process failed:\n{done.stderr[-3000:]}")
        tallies[name].add(json.loads(done.stdout))
        wait_quiet(fake)  # the bot's work after the ack (DMs) ends before the next leg
        tallies[name].cpu_seconds += cpu_seconds(process.pid) - cpu_before
        tallies[name].cpu_requests += spec.requests + spec.warmup
    return tallies


def report(
    tallies: dict[str, Tally], codes: dict[str, int], logs: dict[str, Path], rate: float
) -> None:
    bot, bare = tallies["circlebot serve"], tallies["bare Bolt app"]
    bare_p99 = bare.ms(0.99)
    print(
        f"{'server':<17}{'requests':>9}{'non-200':>8}{'wrong':>6}{'req/s':>7}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'p99 vs bare':>12}{'CPU ms/req':>11}"
    )
    for tally in (bot, bare):
        p99 = tally.ms(0.99)
        print(
            f"{tally.name:<17}{tally.requests:>9}{tally.errors:>8}"
            f"{sum(tally.unexpected.values()):>6}{tally.requests / tally.seconds:>7.0f}"
            f"{tally.ms(0.5):>8.1f}{p99:>8.1f}{tally.ms(1.0):>8.1f}{p99 / bare_p99:>11.2f}x"
            f"{tally.cpu_seconds / tally.cpu_requests * 1000:>11.2f}"
        )
    if not rate:
        print(
            "(closed loop: every client waits for its answer, so latency ~ clients / req/s;"
            " --rate N times requests arriving at N per second instead)"
        )
    print("circlebot serve by request (p50 / p99 ms; bare app alongside):")
    for kind, _weight in MIX:
        print(
            f"  {kind:<26}{bot.ms(0.5, kind):>7.1f} /{bot.ms(0.99, kind):>6.1f}"
            f"   bare {bare.ms(0.5, kind):>5.1f} /{bare.ms(0.99, kind):>6.1f}"
        )
    for failure in (bot.failures + bare.failures)[:5]:
        print(f"  unexpected: {failure}")
    for name, log in logs.items():
        text = log.read_text(errors="replace")
        warnings = Counter(  # alike messages counted together (numbers and ids blurred)
            re.sub(r"\b[A-Z0-9]*\d[A-Z0-9]*\b", "N", line.split(": ", 1)[-1])
            for line in text.splitlines()
            if " WARNING " in line or " ERROR " in line
        )
        for message, count in warnings.most_common(3):
            print(f"  {name} logged {count} x {message!r}")
        if "Traceback" in text or codes[name] != 0:
            print(f"  {name} exited with {codes[name]}; end of its log:\n{text[-2000:]}")
    bot_p99 = bot.ms(0.99)
    ratio = bot_p99 / bare_p99
    clean = bot.errors == 0 and not bot.unexpected and bare.errors == 0 and not bare.unexpected
    met = bot_p99 < P99_TARGET_MS and ratio <= RATIO_TARGET and clean
    print(
        f"circlebot p99 {bot_p99:.1f} ms (target < {P99_TARGET_MS:.0f} ms), "
        f"{ratio:.2f}x the bare app's {bare_p99:.1f} ms (target <= {RATIO_TARGET}x), "
        f"{bot.errors} non-200, {sum(bot.unexpected.values())} wrong:"
        f" target {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
