"""Run every benchmark in bench/, each in its own process, then summarise them against targets.

    python -m bench [--full] [--only fanout pairing ...]

Runs fanout, digest, pairing and ack_latency (those that exist), with quick sizes unless
--full is given, in which case each runs at its own defaults (the sizes the targets are
stated for). Every bench prints its own table as it runs; the summary at the end repeats
the headline figures and each target's verdict. Exits 1 if a bench failed to run.
`fuzz` (long property-based runs, bench/fuzz.py) runs only when named: `--only fuzz`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
ORDER = ("fanout", "digest", "pairing", "ack_latency")
# Run only when named with --only: fuzz checks behaviour, not speed, and takes minutes.
OPT_IN = ("fuzz",)

# Quick sizes, passed only when the bench has the option (see its --help).
QUICK: dict[str, list[str]] = {
    "fanout": ["--people", "500"],
    "digest": ["--circles", "200"],
    "ack_latency": ["--requests", "2000"],
    "fuzz": ["--examples", "2000"],
}


@dataclass
class Outcome:
    name: str
    arguments: list[str]
    status: int
    seconds: float
    lines: list[str] = field(default_factory=list)


def supported(script: Path, arguments: list[str]) -> list[str]:
    """The quick arguments whose option the script's --help mentions (pairs of option, value)."""
    if not arguments:
        return []
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    ).stdout
    chosen: list[str] = []
    for option, value in zip(arguments[::2], arguments[1::2], strict=True):
        if re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text):
            chosen += [option, value]
    return chosen


def run(name: str, arguments: list[str]) -> Outcome:
    """Run one bench, echoing its output line by line as it comes, and keep the lines."""
    print(f"\n=== {name} {' '.join(arguments)}".rstrip(), flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-u", str(BENCH_DIR / f"{name}.py"), *arguments],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
        status = process.wait()
    except KeyboardInterrupt:
        process.terminate()  # each bench stops its own servers on SIGTERM
        process.wait(timeout=30)
        raise
    return Outcome(name, arguments, status, time.monotonic() - started, lines)


def fanout_summary(lines: list[str]) -> list[str]:
    """Headline of bench/fanout.py's table (it prints no verdict of its own)."""
    rows = {line.split()[0]: line.split() for line in lines if line.startswith(("limit", "no "))}
    limited, unlimited = rows.get("limit"), rows.get("no")
    if limited is None or unlimited is None:
        return []
    # columns: case (2 words) | msg/s | allowed | of allowed | lost | dup | 429s | tick s | ...
    rate, allowed, share, lost, dup = limited[2], limited[3], limited[4], limited[5], limited[6]
    free_rate, free_lost, free_dup = unlimited[2], unlimited[5], unlimited[6]
    share_met = share.endswith("%") and float(share[:-1]) >= 90
    clean = lost == dup == free_lost == free_dup == "0"
    return [
        f"rate-limited: {rate} msg/s of {allowed} allowed = {share}"
        f" (target >= 90%: {verdict(share_met)})",
        f"unlimited: {free_rate} msg/s (target >= 300: {verdict(float(free_rate) >= 300)})",
        f"lost {int(lost) + int(free_lost)}, duplicated {int(dup) + int(free_dup)}"
        f" (target 0: {verdict(clean)})",
    ]


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def digest_summary(lines: list[str]) -> list[str]:
    """Headline per database of bench/digest.py's tables (it states its targets once)."""
    figures: list[str] = []
    db, circles, first_row = "", 0, True
    for line in lines:
        if match := re.match(r"(\w+): digest metrics of ([\d,]+) circles", line):
            db, circles, first_row = match[1], int(match[2].replace(",", "")), True
        elif db and first_row and (match := re.search(r"([\d.]+)s\s+([\d.]+)s$", line)):
            first_row = False  # the longest history comes first
            total, batched = float(match[1]), float(match[2])
            judged = verdict(total < 10) if circles == 1000 else "not judged, it is for 1,000"
            figures.append(
                f"{db}: all {circles:,} digests {total:.2f} s one by one, {batched:.2f} s batched"
                f" (target < 10 s: {judged})"
            )
        elif db and (match := re.search(r"per-digest ratio.*: ([\d.]+)x", line)):
            figures.append(
                f"{db}: 52 weeks / 1 week per digest {match[1]}x"
                f" (target <= 1.5x: {verdict(float(match[1]) <= 1.5)})"
            )
        elif db and (match := re.search(r"peak memory.*: (\d+) MB", line)):
            figures.append(
                f"{db}: peak memory {match[1]} MB (target < 300 MB: {verdict(int(match[1]) < 300)})"
            )
        elif "skip" in line.lower():
            figures.append(line.strip())
    return figures


def headline(outcome: Outcome) -> list[str]:
    if outcome.status != 0:
        return [f"FAILED (exit status {outcome.status}); see its output above"]
    if outcome.name in ("fanout", "digest"):
        figures = (fanout_summary if outcome.name == "fanout" else digest_summary)(outcome.lines)
    else:  # the other benches end with their own verdict lines, which mention the target
        figures = [line.strip() for line in outcome.lines if "target" in line.lower()]
    return figures or [outcome.lines[-1] if outcome.lines else "(no output)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="each bench at its own default (target) sizes"
    )
    parser.add_argument(
        "--only", nargs="+", choices=ORDER + OPT_IN, help="run only these benches (fuzz: only so)"
    )
    args = parser.parse_args()
    chosen = [name for name in ORDER + OPT_IN if name in (args.only or ORDER)]
    present = [name for name in chosen if (BENCH_DIR / f"{name}.py").exists()]
    missing = [name for name in chosen if name not in present]
    sizes = "their default sizes" if args.full else "quick sizes (--full: the target sizes)"
    print(f"running {', '.join(present)} with {sizes}", flush=True)
    outcomes = []
    for name in present:
        quick = [] if args.full else supported(BENCH_DIR / f"{name}.py", QUICK.get(name, []))
        outcomes.append(run(name, quick))
    print("\n=== summary")
    for outcome in outcomes:
        print(
            f"{outcome.name} ({outcome.seconds:.0f} s{', ' if outcome.arguments else ''}"
            f"{' '.join(outcome.arguments)}):"
        )
        for line in headline(outcome):
            print(f"  {line}")
    for name in missing:
        print(f"{name}: not run (bench/{name}.py does not exist yet)")
    if any(outcome.status != 0 for outcome in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
