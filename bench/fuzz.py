"""Long fuzzing runs: the reliability suite's properties with many more examples.

    python -m bench.fuzz [--examples 20000] [--http-examples N] [--only parse-any ...]
                         [--seed N] [--database-url URL]

Runs the properties of tests/reliability/fuzzing.py (the same functions the test suite runs
with a few dozen examples): `/circle` parsing of any text and of Slack-like text (pure, cheap:
`--examples` each), refusals escaping what was typed (a known bug while it is open), and
through the real HTTP path, one bot (fake Slack, waitress, a fresh SQLite file or the empty
database at `--database-url`): signed slash commands, reflection modal and demo-day sign-up
submissions (`--http-examples` each, default a tenth of `--examples`), and the privacy
property of tests/privacy/property.py (generated circles, a week through the real tick, every
message judged against the visibility rule and the leaders' totals added up).

Unlike the test suite, a failing example does not stop the run: every example runs, failures
are counted and the first few shown, and Hypothesis does not shrink them. Prints a table
(examples run, failures, what the examples did, seconds) and a verdict line per property.
Exits 1 when a property other than a known bug failed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from bot.slash.parse import CommandError
from bot.subcommands import parse_text as parse
from storage.db import Database
from tests.harness import BotHarness, FakeClock
from tests.privacy import property as privacy
from tests.reliability import fuzzing

SHOWN_FAILURES = 3


@dataclass
class Tally:
    name: str
    known_bug: str = ""  # why failures are expected while a reported bug is open
    examples: int = 0
    failures: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, outcome: str) -> None:
        self.examples += 1
        self.outcomes[outcome] += 1

    def fail(self, example: str, error: BaseException) -> None:
        self.examples += 1
        self.failures += 1
        self.outcomes["FAILED"] += 1
        if len(self.samples) < SHOWN_FAILURES:
            where = traceback.extract_tb(error.__traceback__)[-1]
            self.samples.append(
                f"{example[:400]}\n      -> {type(error).__name__}: {str(error)[:400]}"
                f" ({Path(where.filename).name}:{where.lineno})"
            )


def run_property(
    tally: Tally,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], str],
    *,
    examples: int,
    random_seed: int | None,
) -> None:
    """Run `check` on `examples` drawn examples; failures are tallied, never raised."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=random_seed is None,
        phases=(Phase.generate,),  # no shrinking: count every failing example as it came
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def property_(example: Any) -> None:
        try:
            tally.record(check(example))
        except Exception as error:
            tally.fail(repr(example), error)

    if random_seed is not None:
        property_ = seed(random_seed)(property_)
    started = time.monotonic()
    property_()
    tally.seconds += time.monotonic() - started


# --------------------------------------------------------------------------- the properties


def parse_outcome(text: str) -> str:
    command = fuzzing.check_parse(text)
    return "refused" if command is None else type(command).__name__


def escaped_outcome(text: str) -> str:
    try:
        parse(text)
    except CommandError as error:
        fuzzing.check_refusal_is_escaped(str(error))
        return "refused"
    return "parsed"


def slash_outcome(bot: BotHarness) -> Callable[[tuple[str, str, str]], str]:
    def check(example: tuple[str, str, str]) -> str:
        text, user, channel = example
        fuzzing.ensure_live_circle(bot)
        ack = fuzzing.check_slash(bot, text, user=user, channel=channel)
        return "refused" if ack.startswith(REFUSAL_STARTS) else "answered"

    return check


def http_property(
    name: str, bot: BotHarness, clock: FakeClock
) -> tuple[st.SearchStrategy[Any], Callable[[Any], str]]:
    """The strategy and check of one HTTP property, with its world set up in the bot."""
    if name == "slash-http":
        users, channels = fuzzing.SLASH_USERS, fuzzing.SLASH_CHANNELS
        strategy = st.tuples(
            fuzzing.slack_text(), st.sampled_from(users), st.sampled_from(channels)
        )
        return strategy, slash_outcome(bot)
    if name == "privacy":
        privacy.add_people(bot)
        return privacy.worlds(), functools.partial(privacy_outcome, bot)
    if name == "reflection":
        world = fuzzing.reflection_world(bot, clock)
        return fuzzing.reflection_submission(world), functools.partial(
            fuzzing.check_reflection_submission, bot
        )
    signups = fuzzing.signup_world(bot, clock)
    return fuzzing.signup_submission(signups), functools.partial(
        fuzzing.check_signup_submission, bot
    )


def privacy_outcome(bot: BotHarness, world: privacy.World) -> str:
    """tests/privacy/property.py: no text to a reader the rule forbids, totals add up."""
    verdict = privacy.check(bot, world, privacy.play(bot, world))
    if verdict.problems:
        raise AssertionError("; ".join(verdict.problems[:3]))
    return "quoted" if verdict.quoted else "nothing quoted"


REFUSAL_STARTS = ("Only ", "There is no", "Use ", "I don't know", "“", "`/circle")


@contextlib.contextmanager
def bot_on(database_url: str | None) -> Iterator[tuple[BotHarness, FakeClock]]:
    with tempfile.TemporaryDirectory(prefix="circlebot-fuzz-") as directory:
        url = database_url or f"sqlite:///{Path(directory) / 'circlebot.db'}"
        db = Database(url)
        db.upgrade()
        db.dispose()
        clock = FakeClock()
        with BotHarness.running(url, clock) as bot:
            yield bot, clock


# --------------------------------------------------------------------------- the report


def print_table(tallies: list[Tally]) -> None:
    header = f"{'property':<22} {'examples':>9} {'failures':>9} {'seconds':>8} {'ex/s':>7}  what"
    print("\n" + header)
    print("-" * len(header))
    for t in tallies:
        rate = t.examples / t.seconds if t.seconds else 0.0
        what = ", ".join(f"{k} {v}" for k, v in t.outcomes.most_common(6))
        print(
            f"{t.name:<22} {t.examples:>9,} {t.failures:>9,} {t.seconds:>8.1f} {rate:>7.0f}  {what}"
        )
    for t in tallies:
        for sample in t.samples:
            print(f"\n{t.name} failed on:\n  {sample}")
    print()
    for t in tallies:
        verdict = "met" if t.failures == 0 else "NOT met"
        if t.known_bug:
            verdict += ", a known bug" if t.failures else ": drop it from the known bugs"
            verdict += f": {t.known_bug}"
        print(f"{t.name}: {t.failures} failures in {t.examples:,} (target 0: {verdict})")


PROPERTIES = (
    "parse-any",
    "parse-slack",
    "refusals-escaped",
    "slash-http",
    "reflection",
    "signup",
    "privacy",
)
HTTP_PROPERTIES = ("slash-http", "reflection", "signup", "privacy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000, help="per pure property")
    parser.add_argument("--http-examples", type=int, help="per HTTP property (default: 1/10)")
    parser.add_argument("--only", nargs="+", choices=PROPERTIES, help="run only these")
    parser.add_argument("--seed", type=int, help="random seed (default: derandomized)")
    parser.add_argument("--database-url", help="an empty database to migrate and use")
    args = parser.parse_args()
    http_examples = args.http_examples or max(1, args.examples // 10)
    chosen = [name for name in PROPERTIES if not args.only or name in args.only]
    logging.basicConfig(level=logging.CRITICAL)  # refusals are logged as warnings on purpose
    print(
        f"fuzzing {', '.join(chosen)}: {args.examples:,} examples per pure property, "
        f"{http_examples:,} per HTTP property",
        flush=True,
    )
    tallies: list[Tally] = []

    def pure(name: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], str]) -> None:
        known = (
            "bot/slash/parse.py echoes typed words unescaped" if name == "refusals-escaped" else ""
        )
        tally = Tally(name, known_bug=known)
        run_property(tally, strategy, check, examples=args.examples, random_seed=args.seed)
        tallies.append(tally)
        print(f"  {name}: {tally.examples:,} examples in {tally.seconds:.1f} s", flush=True)

    if "parse-any" in chosen:
        pure("parse-any", fuzzing.any_text(), parse_outcome)
    if "parse-slack" in chosen:
        pure("parse-slack", fuzzing.slack_text(), parse_outcome)
    if "refusals-escaped" in chosen:
        pure("refusals-escaped", fuzzing.slack_text(long_text=False), escaped_outcome)
    http = [name for name in chosen if name in HTTP_PROPERTIES]
    if http:
        with bot_on(args.database_url) as (bot, clock):
            for name in http:
                strategy, check = http_property(name, bot, clock)
                tally = Tally(name)
                run_property(tally, strategy, check, examples=http_examples, random_seed=args.seed)
                tallies.append(tally)
                print(f"  {name}: {tally.examples:,} examples in {tally.seconds:.1f} s", flush=True)
    print_table(tallies)
    if any(t.failures and not t.known_bug for t in tallies):
        sys.exit(1)


if __name__ == "__main__":
    main()
