"""`circlebot demo`: weeks of a circle's life in seconds, against the in-repo fake Slack.

Everything real runs: the Bolt app behind waitress, the delivery tick, SQLite storage, the
digests and the chart. Only Slack is the fake (bot/sandbox/) and the people are simulated:

1. A workspace is generated from the seed (names, zones, titles): a facilitator, one or two
   leaders and the participants, all in one channel.
2. The facilitator types signed slash commands like a person would: `create`, `add`,
   `add … as leader`, `schedule checkin|debrief|pairing …` and `demoday …`.
3. Simulated time moves an hour at a time; each hour runs the same `Deliverer.tick` that
   `circlebot tick` and the scheduler run, at that moment (the bot's clock is the demo's).
4. Each DM the fake recorded gets a reaction from its person, decided by the seed: write the
   reflection at once or a day or more later, skip it, or let it be (then maybe answer the
   nudge). Writing clicks the DM's button (the bot opens its modal on the fake) and submits
   that modal with answers from a small bank of reflections, at the visibility the person
   tends to choose. Some people mark action items done on their App Home; some sign up for
   the demo day from its reminder in the channel.
5. At the end the output folder gets each digest's Block Kit JSON, the chart PNGs, a
   transcript of every Slack call in both directions, a summary and the log; the last
   leaders' digest is rendered as text (`blocks_to_text`).

Every decision is drawn from a random generator seeded with (seed, person, what), so the
same seed gives the same people, answers and choices whatever order the bot sends in. Dates
are relative to today: the simulation ends on this week's Monday.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import re
import shutil
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, inspect, text
from sqlmodel import col, select

from bot.app import bootstrap, build_app
from bot.core.logs import RedactPayloads, RedactSecrets
from bot.core.settings import load_settings
from bot.core.web import WebServer, make_wsgi_app
from bot.home.view import ACTION_ITEM_DONE
from bot.reflections.modal import DUE_SUFFIX, FOLLOW_UP_PREFIX, VISIBILITY_BLOCK
from bot.rhythm.messages import (
    ACTION_CHECKIN_SKIP,
    ACTION_DEMODAY_SIGNUP,
    ACTION_REFLECTION_OPEN,
    SIGNUP_TITLE_ACTION,
    SIGNUP_TITLE_BLOCK,
    SIGNUP_TRIED_ACTION,
    SIGNUP_TRIED_BLOCK,
)
from bot.sandbox.fake_slack import FakeSlack, FakeUser, RecordedCall
from bot.services import Services
from storage.models import (
    ActionItem,
    Delivery,
    DeliveryStatus,
    DemoSignup,
    Reflection,
    Schedule,
    ScheduleKind,
)

logger = logging.getLogger(__name__)

MIN_PARTICIPANTS, MAX_PARTICIPANTS = 3, 200
MIN_WEEKS, MAX_WEEKS = 1, 52
MARKER = ".circlebot-demo"  # marks a folder this command wrote, so it may write it again
DB_FILE = "circlebot-demo.db"
# What a run writes into its folder; a later run removes exactly these before writing again.
OUTPUTS = (
    MARKER,
    "digests",
    "charts",
    "transcript.jsonl",
    "summary.json",
    "demo.log",
    DB_FILE,
    DB_FILE + "-wal",
    DB_FILE + "-shm",
    DB_FILE + ".lock",
)
TEAM, CHANNEL, CHANNEL_NAME = "T0DEMO", "C0CIRCLE1", "product-circle"
CIRCLE_NAME = "Product Leads"


class DemoError(Exception):
    """A bad option or output folder; the message says what to do instead."""


class DemoFailed(DemoError):
    """The simulation itself broke (a bug): the traceback is in the demo's log."""


@dataclass(frozen=True)
class DemoConfig:
    participants: int = 12
    weeks: int = 4
    seed: int = 7
    out: Path = Path("demo-output")
    last_monday: date | None = None  # when the simulation ends; None: this week's Monday


def check_config(config: DemoConfig) -> None:
    if not MIN_PARTICIPANTS <= config.participants <= MAX_PARTICIPANTS:
        raise DemoError(
            f"--participants must be between {MIN_PARTICIPANTS} and {MAX_PARTICIPANTS}, "
            f"got {config.participants} (a digest shows figures only over 3 people or more)"
        )
    if not MIN_WEEKS <= config.weeks <= MAX_WEEKS:
        raise DemoError(f"--weeks must be between {MIN_WEEKS} and {MAX_WEEKS}, got {config.weeks}")


def prepare_out(out: Path) -> None:
    """Create the output folder, or empty a previous demo's one (only the files it wrote).

    A folder that is not empty and was not written by a demo is refused: the demo never
    deletes anything it did not make."""
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file, not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DemoError(
                f"--out {out}/ is not empty and was not written by `circlebot demo`; "
                "choose another --out (or empty that folder)"
            )
        for name in OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `circlebot demo`; a new demo run replaces this folder\n")


# =============================================================================== people

FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Dana", "Eitan", "Fran", "Gopal", "Hana", "Ines", "Jonas",
    "Kemi", "Luca", "Maya", "Nils", "Oona", "Priya", "Quinn", "Rosa", "Sami", "Tariq",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Dev",
    "Elif", "Femi", "Greta", "Hugo", "Ivy", "Jamal", "Kofi", "Lena", "Mateo", "Nadia",
)  # fmt: skip
LAST_NAMES = (
    "Souza", "Okafor", "Martin", "Whitfield", "Cohen", "Moretti", "Rao", "Kim", "Alves",
    "Berg", "Adeyemi", "Rossi", "Patel", "Larsen", "Virtanen", "Sharma", "Nguyen", "Garcia",
    "Haddad", "Aziz", "Novak", "Ivanova", "Chen", "Lopez", "Demir", "Fischer", "Tanaka",
    "Costa", "Ruiz", "Mehta", "Yilmaz", "Balogun", "Schmidt", "Laurent", "Walsh", "Osei",
    "Mensah", "Weber", "Herrera", "Karimi",
)  # fmt: skip
AREAS = (
    "Payments", "Growth", "Search", "Mobile", "Platform", "Data", "Onboarding", "Checkout",
    "Design Systems", "Billing", "Integrations", "Notifications", "Analytics", "Identity",
)  # fmt: skip
LEADER_TITLES = ("Head of Product", "VP Engineering")
ROLES = ("Product Lead", "Engineering Manager", "Design Lead", "Data Lead", "Product Manager")
ZONES = (
    "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles",
    "Asia/Kolkata", "Europe/Lisbon", "America/Sao_Paulo", "Asia/Singapore",
)  # fmt: skip


@dataclass(frozen=True)
class Persona:
    """How a simulated person tends to behave; drawn once per person from the seed."""

    style: str  # engaged | busy | quiet
    visibility: tuple[float, float, float]  # weights of private, circle, leaders
    named: float  # how often they let quotes carry their name
    confidence: float  # where their confidence starts, 1 to 5


@dataclass(frozen=True)
class SimPerson:
    user: FakeUser
    area: str
    role: str  # facilitator | leader | participant
    persona: Persona

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def first_name(self) -> str:
        return self.user.real_name.split()[0]


# How each style reacts to a check-in or debrief DM: weights of the outcomes.
REACTIONS = {
    "engaged": {"answer": 82, "late": 8, "skip": 4, "ignore": 6},
    "busy": {"answer": 50, "late": 22, "skip": 12, "ignore": 16},
    "quiet": {"answer": 25, "late": 20, "skip": 15, "ignore": 40},
}


def make_people(seed: int, participants: int) -> list[SimPerson]:
    """The facilitator, the leaders (one, two from 10 participants) and the participants."""
    rng = random.Random(f"{seed}:people")
    leaders = 1 if participants < 10 else 2
    count = 1 + leaders + participants
    names = rng.sample(list(itertools.product(FIRST_NAMES, LAST_NAMES)), count)
    people = []
    for index, (first, last) in enumerate(names):
        role = "facilitator" if index == 0 else "leader" if index <= leaders else "participant"
        area = rng.choice(AREAS)
        title = LEADER_TITLES[index - 1] if role == "leader" else f"{rng.choice(ROLES)}, {area}"
        style = rng.choices(("engaged", "busy", "quiet"), weights=(50, 35, 15))[0]
        private, leaders_share = rng.uniform(0.05, 0.4), rng.uniform(0.1, 0.45)
        user = FakeUser(
            id=f"U0DEMO{index:03d}",
            name=f"{first}.{last}".lower(),
            real_name=f"{first} {last}",
            # The circle's week runs in its creator's zone: a facilitator in London.
            tz="Europe/London" if role == "facilitator" else rng.choice(ZONES),
            title=title,
            display_name=first,
            email=f"{first}.{last}@circlebot.example".lower(),
        )
        persona = Persona(
            style=style,
            visibility=(private, 1.0 - private - leaders_share, leaders_share),
            named=rng.uniform(0.1, 0.9),
            confidence=rng.uniform(1.8, 3.6),
        )
        people.append(SimPerson(user=user, area=area, role=role, persona=persona))
    return people


# =============================================================================== the words

TRIED = (
    "Ran a 30-minute problem interview with two {area} customers instead of sending a survey.",
    "Wrote the one-page brief for the {area} bet before the kickoff, not after it.",
    "Said no to a late request from sales and explained what it would push out.",
    "Moved our {area} stand-up to async updates for the whole week.",
    "Asked {peer} to review my roadmap narrative before I showed it to leadership.",
    "Cut the {area} launch scope to the two flows people actually use.",
    "Held a pre-mortem for the {area} release with design and support in the room.",
    "Blocked two mornings for deep work and kept both of them.",
    "Shared the {area} metrics dashboard in the team channel every day.",
    "Gave direct feedback to a senior engineer about missed reviews, in private, the same day.",
    "Let the team pick the next {area} experiment instead of assigning it.",
    "Replaced the status meeting with a written weekly note for {area}.",
    "Delegated the {area} vendor negotiation to my tech lead and stayed out of it.",
    "Shadowed a support shift to hear {area} complaints first hand.",
    "Tried the coaching question 'what else?' three times in my one-to-ones.",
    "Wrote down the decision and its owner at the end of every {area} meeting.",
)
OBSTACLES = (
    "An incident on Tuesday ate two days.",
    "Too many meetings; my calendar was full by Monday noon.",
    "I waited for a decision from finance that never came.",
    "I slipped back into solving the problem myself instead of asking.",
    "The team was split across three time zones for the planning.",
    "Hiring interviews took most of my afternoons.",
    "Priorities changed mid-week after the leadership offsite.",
    "Nothing big, just a lot of small interruptions.",
)
TOPICS = (
    "How to say no to a stakeholder without burning the relationship.",
    "Getting a quiet team member to speak up in {area} planning.",
    "Turning a vague {area} goal into something we can measure.",
    "Handing over the {area} on-call rota without dropping the ball.",
    "Preparing a hard conversation about a missed deadline.",
    "Running fewer meetings without losing alignment.",
    "Making the case for paying down {area} tech debt.",
    "Balancing discovery work with delivery pressure on {area}.",
)
INSIGHTS = (
    "Most of my stress comes from commitments I never wrote down.",
    "When I ask before I advise, people find better answers than mine.",
    "I avoid the hard conversation because I over-prepare it; a short honest one works better.",
    "Saying what I will stop doing is as important as what I will start.",
    "The team trusts a small, kept promise more than a big plan.",
    "Peer coaching works best when I bring a real, unfinished problem.",
    "{peer} helped me see that the real blocker was a missing owner, not missing time.",
    "Writing the decision down ends most of the debates before they start.",
    "I was optimising for being liked instead of being clear.",
    "Customer quotes move stakeholders more than any of my charts.",
)
NEXT_STEPS = (
    "Book a 1:1 with each {area} engineer to agree their goals.",
    "Write the {area} decision log and share it with the team.",
    "Run one customer interview before Friday.",
    "Decline two recurring meetings and say why.",
    "Ask my manager for feedback on the roadmap review.",
    "Pair with {peer} on the {area} quarterly plan.",
    "Draft the one-page brief for the next {area} experiment.",
    "Give the support team a preview of the {area} release.",
    "Block Friday mornings for thinking time.",
    "Share last quarter's learnings in the all-hands.",
)
DEMO_TITLES = (
    "How we halved {area} onboarding time",
    "Async stand-ups: four weeks in",
    "What a pre-mortem caught before the {area} launch",
    "Problem interviews, not surveys",
    "A decision log the team actually reads",
    "Saying no with data",
)

# A second sentence some answers get, so that quotes rarely repeat word for word.
TAILS: dict[str, tuple[str, ...]] = {
    "tried": (
        "It went better than I expected.",
        "Two people thanked me afterwards.",
        "It felt awkward at first, less so by Thursday.",
        "It took less time than I feared.",
        "Not sure yet whether it helped; I'll keep going.",
        "The team noticed before I said anything.",
    ),
    "insight": (
        "I saw it again in Tuesday's planning.",
        "{peer} had noticed the same thing in their team.",
        "It changes how I'll run my next one-to-one.",
        "Obvious in hindsight, invisible in the moment.",
        "I want to test it for a month before I believe it.",
    ),
}

# Question ids of the shipped sets, and which bank answers them; other ids by kind.
BANKS: dict[str, tuple[str, ...]] = {
    "tried": TRIED,
    "obstacles": OBSTACLES,
    "topic": TOPICS,
    "insight": INSIGHTS,
    "next_step": NEXT_STEPS,
    "commitment": NEXT_STEPS,
}


def _words(template: str, person: SimPerson, peer: str) -> str:
    return template.format(area=person.area, peer=peer)


# =============================================================================== Block Kit


def mrkdwn_to_text(text: str, names: dict[str, str] | None = None) -> str:
    """Slack mrkdwn as a person reads it: mentions as names, links as their labels, dates as
    their fallback, quotes marked with a bar, no * _ ~ ` markers, entities decoded."""
    names = names or {}

    def link(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            return "@" + (names.get(user_id) or label or user_id)
        if target.startswith("#"):
            return "#" + (label or names.get(target[1:]) or target[1:])
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!subteam^"):
            return label or "@group"
        if target.startswith("!"):
            return "@" + (label or target[1:])
        return label or target

    plain = re.sub(r"<([^<>\n]+)>", link, text)
    plain = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]*?)(?<=\S)\*(?![\w*])", r"\1", plain)
    plain = re.sub(r"(?<![\w~])~(?=\S)([^~\n]*?)(?<=\S)~(?![\w~])", r"\1", plain)
    plain = re.sub(r"(?<![\w_])_(?=\S)([^_\n]*?)(?<=\S)_(?![\w_])", r"\1", plain)
    plain = re.sub(r"`([^`\n]+)`", r"\1", plain)  # inline code: Slack shows it without ticks
    plain = re.sub(r"^(?:&gt;|>) ?", "│ ", plain, flags=re.MULTILINE)  # a quoted line
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element_text(element: dict[str, Any], names: dict[str, str]) -> str:
    kind = element.get("type")
    if kind in ("mrkdwn", "plain_text"):
        text = str(element.get("text", ""))
        return mrkdwn_to_text(text, names) if kind == "mrkdwn" else text
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind == "button":
        return f"[{_element_text(element.get('text') or {}, names)}]"
    if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
        return "".join(_element_text(e, names) for e in element.get("elements", []))
    if kind == "rich_text_list":
        return "\n".join("• " + _element_text(e, names) for e in element.get("elements", []))
    if kind == "text":
        return str(element.get("text", ""))
    if kind == "user":
        user_id = str(element.get("user_id", ""))
        return "@" + names.get(user_id, user_id)
    if kind == "link":
        return str(element.get("text") or element.get("url", ""))
    if kind == "emoji":
        return f":{element.get('name', '')}:"
    return ""


def blocks_to_text(blocks: list[dict[str, Any]], names: dict[str, str] | None = None) -> str:
    """Block Kit as plain text, the way a person reads the message: headers underlined,
    sections and their fields, contexts, dividers as a rule, buttons in brackets."""
    names = names or {}
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _element_text(block.get("text") or {}, names)
            out += [title, "=" * min(len(title), 72)]
        elif kind == "section":
            parts = []
            if block.get("text"):
                parts.append(_element_text(block["text"], names))
            fields = [_element_text(f, names) for f in block.get("fields") or []]
            parts += fields
            accessory = block.get("accessory")
            if accessory:
                shown = _element_text(accessory, names)
                if shown and parts:
                    parts[-1] = f"{parts[-1]}  {shown}"
                elif shown:
                    parts.append(shown)
            out.append("\n".join(parts))
        elif kind == "context":
            out.append(
                "  ·  ".join(
                    filter(None, (_element_text(e, names) for e in block.get("elements", [])))
                )
            )
        elif kind == "divider":
            out.append("─" * 40)
        elif kind == "actions":
            out.append(
                " ".join(filter(None, (_element_text(e, names) for e in block.get("elements", []))))
            )
        elif kind == "image":
            out.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            out.append("".join(_element_text(e, names) for e in block.get("elements", [])))
        elif kind == "input":
            out.append(_element_text(block.get("label") or {}, names) + ": …")
    return "\n".join(out)


# =============================================================================== the stack


class DemoClock:
    """The bot's clock: the demo moves it; it remembers when (wall time) it did, so each
    recorded Slack call can be given the simulated moment it happened at."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._walls: list[float] = [time.time()]
        self._moments: list[datetime] = [start]

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        if moment != self.now:
            self.now = moment
            self._walls.append(time.time())
            self._moments.append(moment)

    def at(self, wall: float) -> datetime:
        """The simulated moment at wall-clock time `wall`."""
        return self._moments[max(bisect_right(self._walls, wall) - 1, 0)]


@dataclass
class Stack:
    fake: FakeSlack
    services: Services
    server: WebServer
    clock: DemoClock

    @property
    def events_url(self) -> str:
        return f"{self.server.url}/slack/events"

    def wait_idle(self) -> None:
        if not self.services.executor.wait_idle(timeout=30):
            logger.warning("listeners still running after 30 s")


@contextmanager
def running_stack(people: list[SimPerson], db_path: Path, clock: DemoClock) -> Iterator[Stack]:
    """The fake Slack with the generated workspace, and the real bot on loopback."""
    with FakeSlack(team_id=TEAM, team_domain="circlebot-demo") as fake:
        for person in people:
            fake.add_user(person.user)
        fake.add_channel(CHANNEL, CHANNEL_NAME, [p.id for p in people])
        settings = load_settings(
            _env_file=None,  # a deployment's .env is not the demo's business
            slack_bot_token=fake.bot_token,
            slack_signing_secret=fake.signing_secret,
            slack_api_url=fake.api_url,
            database_url=f"sqlite:///{db_path}",
            log_level="INFO",
            digest_chart=True,
            data_retention_days=None,
            missed_grace_hours=6,
        )
        services = bootstrap(settings, clock=clock)
        server = WebServer(
            make_wsgi_app(build_app(services), services.db), host="127.0.0.1", port=0
        )
        thread = server.start_in_thread()
        try:
            yield Stack(fake, services, server, clock)
        finally:
            server.stop()
            thread.join(timeout=5)
            services.executor.wait_idle(timeout=10)
            services.executor.shutdown(wait=True)
            services.db.dispose()


@contextmanager
def logs_to(path: Path) -> Iterator[RedactSecrets]:
    """Send every log record to a file (nothing on the terminal) for the run, then restore.
    Yields the filter that scrubs secrets, so the run can name them once it has them."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redact = RedactSecrets()
    handler.addFilter(RedactPayloads())
    handler.addFilter(redact)
    for old in saved_handlers:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet = ["slack_sdk", "alembic", "waitress"]
    saved_levels = {name: logging.getLogger(name).level for name in quiet}
    logging.getLogger("slack_sdk").setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        yield redact
    finally:
        root.removeHandler(handler)
        handler.close()
        for old in saved_handlers:
            root.addHandler(old)
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


# =============================================================================== the people act


@dataclass(order=True)
class Action:
    at: datetime
    order: int
    what: str = field(compare=False)  # answer | skip | home_done | signup
    person: SimPerson = field(compare=False)
    ref: str = field(compare=False, default="")  # delivery id or demo day id
    late: bool = field(compare=False, default=False)


@dataclass
class Tally:
    """What the simulated people did."""

    answered: int = 0
    answered_late: int = 0
    after_nudge: int = 0
    skipped: int = 0
    ignored: int = 0
    home_done: int = 0
    signups: int = 0
    refused: int = 0  # a submission the bot answered with field errors (should be 0)
    commands: list[tuple[str, str]] = field(default_factory=list)  # (command, what the bot said)
    private_texts: set[str] = field(default_factory=set)
    shared_texts: set[str] = field(default_factory=set)


class Simulation:
    """Drives the bot like Slack and the people would; see the module docstring."""

    def __init__(
        self, stack: Stack, people: list[SimPerson], seed: int, first_monday: date
    ) -> None:
        self.stack = stack
        self.first_monday = first_monday
        self.fake = stack.fake
        self.people = {p.id: p for p in people}
        self.facilitator = people[0]
        self.participants = [p for p in people if p.role == "participant"]
        self.seed = seed
        self.queue: list[Action] = []
        self.order = itertools.count()
        self.cursor = 0  # the fake's calls seen so far
        self.sent_wall: list[tuple[float, int]] = []  # (wall time, index into fake.sent)
        self.seen: dict[str, str] = {}  # delivery id -> what its person decided
        self.tally = Tally()
        with stack.services.db.read_session() as session:
            tables = inspect(session.connection()).get_table_names()
        self.pairing_tables = "pairing_member" in tables
        self.peers: dict[str, str] = {}  # this week's peer from a pairing or debrief DM

    def rng(self, *about: object) -> random.Random:
        """A generator for one decision: the same seed decides the same way in any order."""
        return random.Random(":".join(str(part) for part in (self.seed, *about)))

    # --- talking to the bot like Slack does ------------------------------------------------

    def _sending(self) -> None:
        self.sent_wall.append((time.time(), len(self.fake.sent)))

    def slash(self, user: SimPerson, text: str) -> str:
        """Type `/circle <text>` in the circle's channel; return what the person saw."""
        before = len(self.fake.calls)
        self._sending()
        status, _headers, body = self.fake.send_slash_command(
            self.stack.events_url, user_id=user.id, channel_id=CHANNEL, text=text
        )
        self.stack.wait_idle()
        seen = []
        if body.strip().startswith(b"{"):
            seen.append(str(json.loads(body).get("text", "")))
        elif status != 200:
            seen.append(f"(HTTP {status})")
        for call in self.fake.calls[before:]:
            if call.method == "response_url" and call.args.get("text"):
                seen.append(str(call.args["text"]))
        said = "\n".join(s for s in seen if s)
        self.tally.commands.append((f"/circle {text}", said))
        logger.info("demo: %s typed /circle %s", user.user.name, text)
        return said

    def click(
        self,
        person: SimPerson,
        action_id: str,
        value: str,
        *,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Press a button; return the modal the bot opened in answer (None if none)."""
        before = len(self.fake.calls)
        self._sending()
        self.fake.send_block_action(
            self.stack.events_url,
            user_id=person.id,
            action_id=action_id,
            value=value,
            message=message,
            view=view,
            channel_id=message.get("channel") if message else None,
        )
        self.stack.wait_idle()
        opened = [c for c in self.fake.calls[before:] if c.method == "views.open" and c.ok]
        return self.fake.view(opened[-1].response["view"]["id"]) if opened else None

    def submit(self, person: SimPerson, view: dict[str, Any], values: dict[str, Any]) -> bool:
        """Submit a modal; False when the bot answered with field errors."""
        self._sending()
        status, _headers, body = self.fake.send_view_submission(
            self.stack.events_url, user_id=person.id, view=view, state_values=values
        )
        self.stack.wait_idle()
        if status != 200 or body.strip():
            answer = body.decode("utf-8", "replace")
            logger.warning("demo: %s's submission was refused: %s", person.user.name, answer)
            self.tally.refused += 1
            return False
        return True

    # --- setting the circle up -------------------------------------------------------------

    def set_up(self, demo_day: date) -> None:
        fac = self.facilitator
        leaders = [p for p in self.people.values() if p.role == "leader"]
        self.slash(fac, f"create {CIRCLE_NAME}")
        for start in range(0, len(self.participants), 25):
            chunk = self.participants[start : start + 25]
            self.slash(fac, "add " + " ".join(_mention(p) for p in chunk))
        self.slash(fac, "add " + " ".join(_mention(p) for p in leaders) + " as leader")
        self.slash(fac, "schedule checkin mon 09:00")
        self.slash(fac, "schedule debrief thu 16:00")
        # A bot without pairing refuses this; the demo then goes on without pairs.
        self.slash(fac, "schedule pairing mon 10:00 every 1 weeks")
        self.slash(fac, f"demoday {demo_day.isoformat()} 15:00 Show and tell: what we tried")

    # --- what arrives from the bot ---------------------------------------------------------

    def observe(self, now: datetime) -> None:
        """React to every message the bot posted since last time."""
        calls = self.fake.calls_snapshot()
        new, self.cursor = calls[self.cursor :], len(calls)
        arrivals: list[tuple[str, str, dict[str, Any]]] = []
        for call in new:
            if call.method != "chat.postMessage" or not call.ok:
                continue
            message = {**call.response.get("message", {}), "channel": call.response["channel"]}
            recipient = str(call.args.get("channel", ""))
            arrivals.append((recipient, str(message.get("ts", "")), message))
        # Sends run concurrently: sort, so that reactions do not depend on their order.
        for recipient, _ts, message in sorted(arrivals, key=lambda a: (a[0], a[1])):
            buttons = _buttons(message.get("blocks") or [])
            if ACTION_REFLECTION_OPEN in buttons and recipient in self.people:
                self.arrived_checkin(self.people[recipient], message, buttons, now)
            elif ACTION_DEMODAY_SIGNUP in buttons and recipient == CHANNEL:
                self.arrived_reminder(buttons[ACTION_DEMODAY_SIGNUP]["value"], now)
        self.learn_peers()

    def arrived_checkin(
        self, person: SimPerson, message: dict[str, Any], buttons: dict[str, Any], now: datetime
    ) -> None:
        button = buttons[ACTION_REFLECTION_OPEN]
        delivery_id = str(button["value"])
        label = str((button.get("text") or {}).get("text", ""))
        kind = "debrief" if "debrief" in label.lower() else "checkin"
        peer = next((u for u in _mentions(message) if u != person.id and u in self.people), None)
        if peer:
            self.peers[person.id] = peer
        if delivery_id in self.seen:  # the nudge of a check-in left alone
            if self.seen[delivery_id] == "ignore":
                rng = self.rng(person.id, delivery_id, "nudge")
                if rng.random() < 0.45:
                    self.seen[delivery_id] = "after_nudge"
                    self.plan("answer", person, delivery_id, now + _hours(rng, 1, 6), late=True)
            return
        rng = self.rng(person.id, delivery_id, kind)
        weights = REACTIONS[person.persona.style]
        choice = rng.choices(list(weights), weights=list(weights.values()))[0]
        self.seen[delivery_id] = choice
        if choice == "answer":
            self.plan("answer", person, delivery_id, now + _hours(rng, 0.2, 8))
        elif choice == "late":
            self.plan("answer", person, delivery_id, now + _hours(rng, 26, 130), late=True)
        elif choice == "skip":
            self.plan("skip", person, delivery_id, now + _hours(rng, 0.2, 20))
        else:
            self.tally.ignored += 1

    def arrived_reminder(self, demo_day_id: str, now: datetime) -> None:
        for person in self.participants:
            rng = self.rng(person.id, "demoday", demo_day_id, now.isoformat())
            if rng.random() < 0.3:
                self.plan("signup", person, demo_day_id, now + _hours(rng, 0.5, 10))

    def learn_peers(self) -> None:
        """Who meets whom this round, from the bot's pairing tables (when it has them): the
        people write their debriefs about that peer."""
        if not self.pairing_tables:
            return
        with self.stack.services.db.read_session() as session:
            rows = session.connection().execute(_LATEST_GROUPS).all()
        groups: dict[int, list[str]] = {}
        for group_no, user_id in rows:
            groups.setdefault(int(group_no), []).append(str(user_id))
        for members in groups.values():
            for person in members:
                others = [m for m in members if m != person]
                if others:
                    self.peers[person] = others[0]

    def plan(
        self, what: str, person: SimPerson, ref: str, at: datetime, *, late: bool = False
    ) -> None:
        heapq.heappush(self.queue, Action(at, next(self.order), what, person, ref, late))

    # --- the people act ---------------------------------------------------------------------

    def act_until(self, moment: datetime) -> None:
        """Do everything planned up to `moment`, each at its own minute."""
        while self.queue and self.queue[0].at <= moment:
            action = heapq.heappop(self.queue)
            self.stack.clock.set(action.at.replace(second=0, microsecond=0))
            try:
                getattr(self, "do_" + action.what)(action)
            except Exception:  # one person's hiccup must not end the demo
                logger.exception("demo: %s of %s failed", action.what, action.person.user.name)

    def do_answer(self, action: Action) -> None:
        person, delivery_id = action.person, action.ref
        dm = self.dm_of(delivery_id)
        if dm is None:
            return
        modal = self.click(person, ACTION_REFLECTION_OPEN, delivery_id, message=dm)
        if modal is None:  # the bot said why in the DM (e.g. already answered)
            return
        rng = self.rng(person.id, delivery_id, "answers")
        values, visibility, texts = self.fill_reflection(person, modal, rng)
        if self.submit(person, modal, values):
            self.tally.answered += 1
            if action.late:
                self.tally.answered_late += 1
            if self.seen.get(delivery_id) == "after_nudge":
                self.tally.after_nudge += 1
            (
                self.tally.private_texts if visibility == "private" else self.tally.shared_texts
            ).update(texts)
            # Some people tick off what they committed to on their App Home a few days later.
            items = [b for b in values if b + DUE_SUFFIX in values and values[b][b].get("value")]
            if items and rng.random() < 0.2:
                self.plan("home_done", person, "", action.at + _hours(rng, 30, 90))

    def do_skip(self, action: Action) -> None:
        dm = self.dm_of(action.ref)
        if dm is not None:
            self.click(action.person, ACTION_CHECKIN_SKIP, action.ref, message=dm)
            self.tally.skipped += 1

    def do_home_done(self, action: Action) -> None:
        """Open the App Home and press Done on the first open action item."""
        person = action.person
        self._sending()
        self.fake.send_event(
            self.stack.events_url,
            {
                "type": "app_home_opened",
                "user": person.id,
                "channel": f"D{person.id}",
                "tab": "home",
            },
        )
        self.stack.wait_idle()
        home = self.fake.home_view(person.id)
        done = _buttons((home or {}).get("blocks") or []).get(ACTION_ITEM_DONE)
        if home is not None and done is not None:
            self.click(person, ACTION_ITEM_DONE, str(done["value"]), view=home)
            self.tally.home_done += 1

    def do_signup(self, action: Action) -> None:
        person = action.person
        reminder = next(
            (
                m
                for m in reversed(self.fake.messages(CHANNEL))
                if ACTION_DEMODAY_SIGNUP in _buttons(m.get("blocks") or [])
            ),
            None,
        )
        if reminder is None:
            return
        modal = self.click(person, ACTION_DEMODAY_SIGNUP, action.ref, message=reminder)
        if modal is None:
            return  # already started, or they had signed up: the bot said so
        rng = self.rng(person.id, "signup", action.ref)
        title = _words(rng.choice(DEMO_TITLES), person, "")
        tried = _words(rng.choice(TRIED), person, "a peer")
        values = {
            SIGNUP_TITLE_BLOCK: {SIGNUP_TITLE_ACTION: {"type": "plain_text_input", "value": title}},
            SIGNUP_TRIED_BLOCK: {SIGNUP_TRIED_ACTION: {"type": "plain_text_input", "value": tried}},
        }
        if self.submit(person, modal, values):
            self.tally.signups += 1

    def dm_of(self, delivery_id: str) -> dict[str, Any] | None:
        """The newest DM whose Write button answers this delivery (the nudge, if any)."""
        with self.stack.services.db.read_session() as session:
            row = session.get(Delivery, int(delivery_id))
            if row is None or not row.channel_id or not row.message_ts:
                return None
            channel = row.channel_id
        for message in reversed(self.fake.messages(channel)):
            button = _buttons(message.get("blocks") or []).get(ACTION_REFLECTION_OPEN)
            if button is not None and str(button["value"]) == delivery_id:
                return message
        return None  # answered or skipped meanwhile: no button left

    # --- filling in the modal the bot opened --------------------------------------------------

    def fill_reflection(
        self, person: SimPerson, modal: dict[str, Any], rng: random.Random
    ) -> tuple[dict[str, Any], str, list[str]]:
        """view.state.values for the modal as opened, the visibility chosen, the texts written."""
        values: dict[str, Any] = {}
        texts: list[str] = []
        visibility = rng.choices(
            ("private", "circle", "leaders"), weights=person.persona.visibility
        )[0]
        peer_id = self.peers.get(person.id) or rng.choice(
            [p.id for p in self.participants if p.id != person.id]
        )
        peer_name = self.people[peer_id].first_name
        tz = ZoneInfo(person.user.tz)
        today = self.stack.clock.now.astimezone(tz).date()
        weeks_in = max(0, (today - self.first_monday).days // 7)
        for block in modal.get("blocks") or []:
            if block.get("type") != "input":
                continue
            block_id, element = str(block["block_id"]), block["element"]
            kind, action_id = element["type"], element["action_id"]
            optional = bool(block.get("optional"))
            state: dict[str, Any] = {"type": kind}
            if kind == "plain_text_input":
                text = None
                if not optional or rng.random() < 0.65:
                    bank = BANKS.get(block_id) or (
                        TRIED if element.get("multiline") else NEXT_STEPS
                    )
                    text = _words(rng.choice(bank), person, peer_name)
                    if block_id in TAILS and rng.random() < 0.6:
                        text += " " + _words(rng.choice(TAILS[block_id]), person, peer_name)
                    text = text[: element.get("max_length", 3000)]
                    texts.append(text)
                state["value"] = text
            elif kind == "datepicker" and block_id.endswith(DUE_SUFFIX):
                # An action item's date: only with its text (the bot refuses a date alone).
                base = block_id.removesuffix(DUE_SUFFIX)
                written = ((values.get(base) or {}).get(base) or {}).get("value")
                days = rng.randint(2, 12)
                wanted = written and rng.random() < 0.75
                state["selected_date"] = (
                    (today + timedelta(days=days)).isoformat() if wanted else None
                )
            elif kind == "datepicker":
                state["selected_date"] = (today + timedelta(days=rng.randint(1, 14))).isoformat()
            elif kind == "radio_buttons":
                options = element.get("options") or []
                state["selected_option"] = self.choose(
                    block_id, options, visibility, person, weeks_in, rng
                )
            elif kind == "users_select":
                state["selected_user"] = element.get("initial_user") or peer_id
            elif kind == "checkboxes":
                named = rng.random() < person.persona.named
                state["selected_options"] = list(element.get("options") or []) if named else []
            else:
                continue  # a kind the demo does not know: left empty
            values[block_id] = {action_id: state}
        return values, visibility, texts

    def choose(
        self,
        block_id: str,
        options: list[dict[str, Any]],
        visibility: str,
        person: SimPerson,
        weeks_in: int,
        rng: random.Random,
    ) -> dict[str, Any] | None:
        by_value = {str(o.get("value")): o for o in options}
        if block_id == VISIBILITY_BLOCK:
            return by_value.get(visibility)
        if block_id.startswith(FOLLOW_UP_PREFIX):
            answer = rng.choices(("done", "not_yet", "drop", ""), weights=(35, 40, 8, 17))[0]
            return by_value.get(answer)
        if set(by_value) == {"1", "2", "3", "4", "5"}:  # a 1-5 scale: confidence grows slowly
            level = person.persona.confidence + 0.12 * weeks_in + rng.uniform(-0.8, 0.8)
            return by_value[str(min(5, max(1, round(level))))]
        return rng.choice(options) if options else None


# The groups of the newest pairing round (pairing_member rows, group 0: not paired).
_LATEST_GROUPS = text(
    "SELECT group_no, user_id FROM pairing_member WHERE group_no > 0 "
    "AND round_id = (SELECT MAX(round_id) FROM pairing_member) ORDER BY group_no, user_id"
)


def _mention(person: SimPerson) -> str:
    return f"<@{person.id}|{person.user.name}>"


def _mentions(message: dict[str, Any]) -> list[str]:
    return re.findall(
        r"<@([UW][A-Z0-9]+)", json.dumps(message.get("blocks") or message.get("text"))
    )


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The buttons of a message or view by action id (the first of each)."""
    found: dict[str, dict[str, Any]] = {}
    for block in blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else []
        for element in [block.get("accessory"), *elements]:
            if isinstance(element, dict) and element.get("type") == "button":
                found.setdefault(str(element.get("action_id")), element)
    return found


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=round(rng.uniform(low, high) * 60))


# =============================================================================== the run


@dataclass
class DemoResult:
    out: Path
    digest_title: str  # whose digest `digest_text` is, for which week
    digest_text: str  # the last leaders' digest, as a person reads it ("" if none was sent)
    summary: dict[str, Any]
    digests: list[Path]
    charts: list[Path]
    transcript: Path
    private_texts: set[str]  # written privately (and never shared by anyone): for checks


Progress = Callable[[int, int, datetime], None]


def this_monday(today: date | None = None) -> date:
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=today.weekday())


def run_demo(config: DemoConfig, *, progress: Progress | None = None) -> DemoResult:
    """Run the whole demo into `config.out`; DemoError for bad options or folders."""
    check_config(config)
    out = config.out
    prepare_out(out)
    started = time.monotonic()
    people = make_people(config.seed, config.participants)
    last_monday = config.last_monday or this_monday()
    first_monday = last_monday - timedelta(weeks=config.weeks)
    # Set up on the Sunday before; end once Monday's digests reached every zone.
    start = datetime.combine(first_monday - timedelta(days=1), datetime.min.time(), UTC)
    start += timedelta(hours=12)
    end = datetime.combine(last_monday, datetime.min.time(), UTC) + timedelta(hours=20)
    demo_day = first_monday + timedelta(weeks=config.weeks - 1, days=3)  # the last Thursday
    clock = DemoClock(start)
    hours = round((end - start) / timedelta(hours=1))
    with logs_to(out / "demo.log") as redact, running_stack(people, out / DB_FILE, clock) as stack:
        redact.secrets = stack.services.settings.secrets()
        logger.info(
            "demo: %s participants, %s weeks, seed %s, %s to %s",
            config.participants, config.weeks, config.seed, start, end,
        )  # fmt: skip
        try:
            sim = Simulation(stack, people, config.seed, first_monday)
            sim.set_up(demo_day)
            sim.observe(start)
            for hour in range(1, hours + 1):
                moment = start + timedelta(hours=hour)
                sim.act_until(moment)
                clock.set(moment)
                report = stack.services.deliverer.tick(moment)
                if report.sent or report.failed or report.missed:
                    logger.info("demo: tick at %s: %s", moment, report.line())
                sim.observe(moment)
                if progress is not None:
                    progress(hour, hours, moment)
            stack.wait_idle()
            return write_outputs(sim, out, config, (start, end), started)
        except Exception as error:
            logger.exception("demo: stopped by an unexpected error")
            raise DemoFailed(
                f"the demo stopped: {error!r}; the traceback is in {out / 'demo.log'}"
            ) from error


def write_outputs(
    sim: Simulation,
    out: Path,
    config: DemoConfig,
    span: tuple[datetime, datetime],
    started: float,
) -> DemoResult:
    fake, clock = sim.fake, sim.stack.clock
    names = {p.id: p.user.real_name for p in sim.people.values()}
    names[CHANNEL] = CHANNEL_NAME
    calls = fake.calls_snapshot()
    posted = {
        (str(c.response.get("channel")), str(c.response.get("ts"))): c
        for c in calls
        if c.method == "chat.postMessage" and c.ok
    }
    with sim.stack.services.db.read_session() as session:
        digest_rows = session.exec(
            select(Delivery)
            .where(
                col(Delivery.kind).in_(["digest_leader", "digest_circle", "digest_facilitator"]),
                Delivery.status == DeliveryStatus.SENT,
            )
            .order_by(col(Delivery.due_at), col(Delivery.id))
        ).all()
        digests = [
            (
                row.kind,
                row.recipient,
                row.local_date,
                row.due_at,
                posted.get((str(row.channel_id), str(row.message_ts))),
            )
            for row in digest_rows
        ]
        summary = _summary(session, sim, calls)

    (out / "digests").mkdir()
    digest_files: list[Path] = []
    last_leader: tuple[str, date | None, datetime, dict[str, Any]] | None = None
    first_leader = next(p for p in sim.people.values() if p.role == "leader")
    for kind, recipient, week, due_at, call in digests:
        if call is None:
            continue
        message = {k: v for k, v in call.args.items() if k not in ("token", "channel")}
        who = sim.people[recipient].user.name if recipient in sim.people else CHANNEL_NAME
        path = out / "digests" / f"{kind.removeprefix('digest_')}-{who}-{week}.json"
        path.write_text(json.dumps(message, indent=2, ensure_ascii=False) + "\n")
        digest_files.append(path)
        if kind == "digest_leader" and recipient == first_leader.id:
            last_leader = (recipient, week, due_at, message)

    chart_files = _write_charts(fake, calls, out, sim)
    transcript = _write_transcript(fake, calls, clock, sim, out / "transcript.jsonl")

    # Texts only ever written privately (a shared answer may start with the same template):
    # none may appear in any digest. Quotes are clipped, so their first 60 characters count.
    shared = {text[:60] for text in sim.tally.shared_texts}
    private_only = {text for text in sim.tally.private_texts if text[:60] not in shared}
    contents = {path.name: path.read_text() for path in digest_files}
    found = sorted(
        {text for text in private_only for content in contents.values() if text[:60] in content}
    )
    leaked = sorted(
        name for name, content in contents.items() if any(t[:60] in content for t in found)
    )
    summary["confidentiality"] = {
        "digests_checked": len(digest_files),
        "private_texts_written": len(private_only),
        "private_texts_found_in_digests": len(found),
        "files_with_private_text": leaked,
    }
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    summary["simulated"] = {"from": span[0].isoformat(), "to": span[1].isoformat()}
    summary["options"] = {
        "participants": config.participants,
        "weeks": config.weeks,
        "seed": config.seed,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")

    title, text = "", ""
    if last_leader is not None:
        recipient, week, due_at, message = last_leader
        person = sim.people[recipient]
        # When it was due: the real scheduler sends within 30 s, the demo's hourly tick later.
        when = due_at.astimezone(ZoneInfo(person.user.tz))
        title = (
            f"The leaders' digest of {person.user.real_name} ({person.user.title})"
            + f", {when:%a} {when.day} {when:%b %H:%M} in {person.user.tz}"
            + (f", on the week of {week:%a} {week.day} {week:%b %Y}" if week else "")
        )
        text = blocks_to_text(message.get("blocks") or [], names)
    return DemoResult(
        out=out,
        digest_title=title,
        digest_text=text,
        summary=summary,
        digests=digest_files,
        charts=chart_files,
        transcript=transcript,
        private_texts=private_only,
    )


def _write_charts(
    fake: FakeSlack, calls: list[RecordedCall], out: Path, sim: Simulation
) -> list[Path]:
    """Each chart the bot uploaded, as the bytes the fake received."""
    (out / "charts").mkdir()
    names = {
        str(c.response.get("file_id")): str(c.args.get("filename", "chart.png"))
        for c in calls
        if c.method == "files.getUploadURLExternal" and c.ok
    }
    written = []
    for call in calls:
        if call.method != "files.completeUploadExternal" or not call.ok:
            continue
        channel = str(call.args.get("channel_id", ""))
        person = sim.people.get(channel.removeprefix("D"))
        for item in call.args.get("files") or []:
            file_id = str(item.get("id"))
            try:
                data = fake.uploaded_file(file_id)
            except KeyError:
                continue
            stem = Path(names.get(file_id, f"{file_id}.png")).stem
            who = person.user.name if person else channel
            path = out / "charts" / f"{stem}-{who}.png"
            path.write_bytes(data)
            written.append(path)
    return written


def _write_transcript(
    fake: FakeSlack, calls: list[RecordedCall], clock: DemoClock, sim: Simulation, path: Path
) -> Path:
    """Every Web API call the bot made (`"from": "bot"`) and every request Slack sent it
    (`"from": "slack"`), in order, with the wall time and the simulated time."""
    entries: list[tuple[float, int, dict[str, Any]]] = []
    for index, call in enumerate(calls):
        args = {k: v for k, v in call.args.items() if k != "token"}
        entry = {
            "from": "bot",
            "method": call.method,
            "args": args,
            "ok": call.ok,
            "error": call.error,
        }
        entries.append((call.at, index, entry))
    sent = fake.sent
    stamps = sim.sent_wall
    for number, (wall, index) in enumerate(stamps):
        if index >= len(sent):
            continue
        request = sent[index]
        payload = {k: v for k, v in request.payload.items() if k != "token"}
        entries.append(
            (
                wall,
                -len(stamps) + number,
                {
                    "from": "slack",
                    "kind": request.kind,
                    "payload": payload,
                    "status": request.status,
                },
            )
        )
    entries.sort(key=lambda e: (e[0], e[1]))
    with path.open("w", encoding="utf-8") as stream:
        for wall, _order, entry in entries:
            entry = {
                "time": datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds"),
                "simulated_time": clock.at(wall).isoformat(),
                **entry,
            }
            stream.write(json.dumps(entry, ensure_ascii=False, default=_jsonable) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def _summary(session: Any, sim: Simulation, calls: list[RecordedCall]) -> dict[str, Any]:
    """Counts of what happened, from the bot's own tables and the fake's records."""

    def counted(query: Any) -> dict[str, int]:
        return {str(key): int(count) for key, count in session.exec(query).all()}

    deliveries = counted(
        select(Delivery.kind, func.count())
        .where(Delivery.status == DeliveryStatus.SENT)
        .group_by(Delivery.kind)
    )
    not_sent = counted(
        select(Delivery.status, func.count())
        .where(Delivery.status != DeliveryStatus.SENT)
        .group_by(Delivery.status)
    )
    reflections = counted(select(Reflection.kind, func.count()).group_by(Reflection.kind))
    visibility = counted(
        select(Reflection.visibility, func.count()).group_by(Reflection.visibility)
    )
    named = session.exec(select(func.count()).where(col(Reflection.named).is_(True))).one()
    items = counted(select(ActionItem.status, func.count()).group_by(ActionItem.status))
    signups = session.exec(select(func.count()).select_from(DemoSignup)).one()
    tally = sim.tally
    pairing_scheduled = session.exec(
        select(func.count()).where(
            Schedule.kind == ScheduleKind.PAIRING, col(Schedule.removed_at).is_(None)
        )
    ).one()
    pairing_said = next(
        (
            said
            for command, said in tally.commands
            if command.startswith("/circle schedule pairing")
        ),
        "",
    )
    return {
        "slack_calls": dict(sorted(Counter(c.method for c in calls).items())),
        "messages_sent": deliveries,
        "deliveries_not_sent": not_sent,
        "reflections": {
            "total": sum(reflections.values()),
            **reflections,
            "by_visibility": visibility,
            "named": int(named),
        },
        "people": {
            "answered": tally.answered,
            "answered_a_day_or_more_late": tally.answered_late,
            "answered_after_the_nudge": tally.after_nudge,
            "skipped": tally.skipped,
            "left_unanswered": tally.ignored - tally.after_nudge,
            "done_on_app_home": tally.home_done,
            "demo_day_signups": tally.signups,
            "submissions_refused": tally.refused,
        },
        "action_items": {"total": sum(items.values()), **items},
        "demo_day_signups": int(signups),
        "pairing": {
            "schedule_answer": mrkdwn_to_text(pairing_said),
            "scheduled": bool(pairing_scheduled),
            "groups_formed": _pairing_groups(session),
        },
        "commands": [{"typed": c, "answer": mrkdwn_to_text(s)} for c, s in tally.commands],
    }


def _pairing_groups(session: Any) -> int | None:
    """Pairs and trios the bot formed (None: this version of the bot has no pairing tables)."""
    connection = session.connection()
    if "pairing_member" not in inspect(connection).get_table_names():
        return None
    query = text(
        "SELECT COUNT(*) FROM (SELECT DISTINCT round_id, group_no FROM pairing_member "
        "WHERE group_no > 0) AS g"
    )
    return int(connection.execute(query).scalar_one())


def report(result: DemoResult) -> str:
    """What `circlebot demo` prints: the leaders' digest as text, a summary, where files are."""
    summary, out = result.summary, result.out
    options, people, items = summary["options"], summary["people"], summary["action_items"]
    reflections = summary["reflections"]
    shared = reflections["by_visibility"]
    secret = summary["confidentiality"]
    pairing = summary["pairing"]
    if pairing["groups_formed"]:
        paired = f"{plural(pairing['groups_formed'], 'peer coaching group')} formed"
    elif pairing["scheduled"]:
        paired = "pairing scheduled, but no pairs were formed (see demo.log)"
    else:
        said = " ".join(pairing["schedule_answer"].split()) or "nothing"
        paired = f"no pairing (the bot said: {said})"
    rule = "─" * 72
    lines = []
    if result.digest_text:
        lines += [result.digest_title + ":", rule, result.digest_text, rule, ""]
    else:
        lines += ["No leaders' digest was sent (too few weeks simulated?).", ""]
    lines += [
        f"Simulated {plural(options['weeks'], 'week')} of {CIRCLE_NAME} "
        f"({options['participants']} participants, seed {options['seed']}) "
        f"in {summary['wall_seconds']} s:",
        f"  {plural(reflections['total'], 'reflection')} ({shared.get('private', 0)} private, "
        f"{shared.get('circle', 0)} shared with the circle, "
        f"{shared.get('leaders', 0)} with leaders), "
        f"{people['answered_a_day_or_more_late']} of them a day or more late; "
        f"{people['skipped']} skipped, {people['left_unanswered']} left unanswered",
        f"  {plural(items['total'], 'action item')} ({items.get('done', 0)} done, "
        f"{people['done_on_app_home']} of them on the App Home); "
        f"{plural(summary['demo_day_signups'], 'demo-day sign-up')}; {paired}",
        f"  confidentiality: {secret['private_texts_found_in_digests']} of "
        f"{secret['private_texts_written']} private answers found in "
        f"{plural(secret['digests_checked'], 'digest')}",
        "",
        f"Written to {out}/:",
        f"  digests/           {plural(len(result.digests), 'digest')} as Block Kit JSON "
        "(<audience>-<recipient>-<week>.json)",
        f"  charts/            {plural(len(result.charts), 'participation chart')} (PNG), "
        "sent with the leaders' digests",
        "  transcript.jsonl   every request between the bot and the fake Slack, in order",
        "  summary.json       the counts above and more",
        "  demo.log           the bot's log",
        f"  {DB_FILE:<18} the bot's SQLite database",
    ]
    return "\n".join(lines)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
