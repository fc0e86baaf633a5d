"""`circlebot demo`: the simulation's outputs, its Block Kit renderer and its options.

One small run (5 participants, 2 weeks, a pinned end date) is shared by the tests that read
its outputs; the CLI runs once as a real process with even smaller numbers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import cli
from bot.demo.run import (
    MARKER,
    DemoConfig,
    DemoError,
    DemoResult,
    Simulation,
    blocks_to_text,
    make_people,
    mrkdwn_to_text,
    prepare_out,
    report,
    run_demo,
)
from storage.db import Database
from storage.models import Reflection, ReflectionAnswer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LAST_MONDAY = date(2026, 11, 23)
DEMO_ARGS = ("--participants", "3", "--weeks", "1", "--seed", "1", "--out", "out")


# --- the Block Kit renderer -------------------------------------------------------------------


def test_blocks_render_as_a_person_reads_them() -> None:
    names = {"U1": "Ana Souza", "C1": "product-circle"}
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your weekly digest"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Product &lt;Leads&gt;* &amp; friends, by <@U1>"},
            "fields": [
                {"type": "mrkdwn", "text": "_Participation_: 80%"},
                {"type": "plain_text", "text": "*kept as typed*"},
            ],
        },
        {"type": "divider"},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": "in <#C1>, <https://example.com/x|the guide>"},
                {"type": "mrkdwn", "text": "<!date^1700000000^{date_short}|Nov 14, 2023> ~old~"},
            ],
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Done"}, "value": "1"},
                {"type": "button", "text": {"type": "plain_text", "text": "Skip"}, "value": "2"},
            ],
        },
        {"type": "image", "image_url": "https://example.com/c.png", "alt_text": "chart"},
    ]
    assert blocks_to_text(blocks, names).splitlines() == [
        "Your weekly digest",
        "==================",
        "Product <Leads> & friends, by @Ana Souza",
        "Participation: 80%",
        "*kept as typed*",
        "─" * 40,
        "in #product-circle, the guide  ·  Nov 14, 2023 old",
        "[Done] [Skip]",
        "[image: chart]",
    ]


def test_mrkdwn_keeps_what_is_not_markup() -> None:
    assert mrkdwn_to_text("5 * 3 = 15, snake_case_name, <@U9>, <!here>") == (
        "5 * 3 = 15, snake_case_name, @U9, @here"
    )
    assert mrkdwn_to_text("&gt; a quote\n> another\n— <@U1|ana>, <http://x.test>") == (
        "│ a quote\n│ another\n— @ana, http://x.test"
    )
    assert mrkdwn_to_text("Last weeks: `  ▂▇` · `/circle help` · 2 > 1") == (
        "Last weeks:   ▂▇ · /circle help · 2 > 1"
    )
    assert mrkdwn_to_text("<@U1|ana>", {"U1": "Ana Souza"}) == "@Ana Souza"


def test_section_accessory_button_follows_its_text() -> None:
    block = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Call the bank"},
        "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Done"}},
    }
    assert blocks_to_text([block]) == "Call the bank  [Done]"


# --- people and the output folder -------------------------------------------------------------


def test_the_seed_decides_the_people() -> None:
    first, again, other = make_people(7, 12), make_people(7, 12), make_people(8, 12)
    assert first == again
    assert [p.user.real_name for p in first] != [p.user.real_name for p in other]
    assert [p.role for p in first].count("leader") == 2
    assert [p.role for p in first].count("participant") == 12
    assert len({p.user.real_name for p in first}) == len(first)
    assert len({p.id for p in make_people(7, 200)}) == 203


def test_a_previous_demos_folder_is_replaced_but_others_are_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "digests").mkdir(parents=True)
    (mine / "notes.txt").write_text("my own notes")
    with pytest.raises(DemoError, match="not empty and was not written by `circlebot demo`"):
        prepare_out(mine)
    assert (mine / "notes.txt").read_text() == "my own notes"

    previous = tmp_path / "previous"
    (previous / "digests").mkdir(parents=True)
    (previous / "digests" / "old.json").write_text("{}")
    (previous / "transcript.jsonl").write_text("old\n")
    (previous / "mine.txt").write_text("kept")
    (previous / MARKER).write_text("")
    prepare_out(previous)
    assert sorted(p.name for p in previous.iterdir()) == [MARKER, "mine.txt"]

    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(DemoError, match="is a file, not a folder"):
        prepare_out(a_file)

    prepare_out(tmp_path / "new" / "nested")
    assert (tmp_path / "new" / "nested" / MARKER).exists()


# --- one small run -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    out = tmp_path_factory.mktemp("demo") / "out"
    return run_demo(DemoConfig(participants=5, weeks=2, seed=7, out=out, last_monday=LAST_MONDAY))


def transcript(result: DemoResult) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.transcript.read_text().splitlines()]


def test_every_digest_is_written_as_block_kit(run: DemoResult) -> None:
    kinds = {path.name.split("-")[0] for path in run.digests}
    assert kinds == {"leader", "circle", "facilitator"}
    weeks = {date.fromisoformat(path.stem[-10:]) for path in run.digests}
    assert len(weeks) == 3  # the week before the first check-ins, and the two simulated
    for path in run.digests:
        message = json.loads(path.read_text())
        assert message["text"]
        assert message["blocks"] and all("type" in block for block in message["blocks"])
    assert sorted(run.digests) == sorted((run.out / "digests").iterdir())


def test_charts_are_the_pngs_the_bot_uploaded(run: DemoResult) -> None:
    assert len(run.charts) == 3  # one per leaders' digest
    for path in run.charts:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        assert path.stat().st_size > 1000


def test_the_transcript_has_both_directions_in_simulated_order(run: DemoResult) -> None:
    entries = transcript(run)
    methods = {e["method"] for e in entries if e["from"] == "bot"}
    assert {"chat.postMessage", "views.open", "chat.update", "views.publish"} <= methods
    assert {"files.getUploadURLExternal", "file_upload", "files.completeUploadExternal"} <= methods
    kinds = {e["kind"] for e in entries if e["from"] == "slack"}
    assert {"slash_command", "block_actions", "view_submission", "event"} <= kinds
    moments = [datetime.fromisoformat(e["simulated_time"]) for e in entries]
    assert moments == sorted(moments)  # simulated time only moves forward
    assert moments[0].date() < moments[-1].date()
    assert not any("token" in e.get("args", {}) or "token" in e.get("payload", {}) for e in entries)


def test_the_summary_matches_the_database(run: DemoResult) -> None:
    summary = json.loads((run.out / "summary.json").read_text())
    assert summary == json.loads(json.dumps(run.summary))
    db = Database(f"sqlite:///{run.out / 'circlebot-demo.db'}")
    try:
        with db.read_session() as session:
            reflections = session.exec(select(Reflection)).all()
    finally:
        db.dispose()
    assert summary["reflections"]["total"] == len(reflections) > 0
    # Every filled-in modal was accepted by the bot's own validation, and made one reflection.
    assert summary["people"]["submissions_refused"] == 0
    assert summary["people"]["answered"] == len(reflections)
    assert summary["messages_sent"]["checkin"] == 5 * 3  # two weeks, and the last Monday's
    assert summary["confidentiality"]["private_texts_written"] > 0
    assert summary["confidentiality"]["private_texts_found_in_digests"] == 0
    assert (run.out / "demo.log").stat().st_size > 0


def test_no_digest_quotes_what_its_readers_may_not_read(run: DemoResult) -> None:
    db = Database(f"sqlite:///{run.out / 'circlebot-demo.db'}")
    try:
        with db.read_session() as session:
            rows = session.exec(
                select(Reflection.visibility, ReflectionAnswer.text)
                .join(ReflectionAnswer, col(ReflectionAnswer.reflection_id) == Reflection.id)
                .where(
                    col(ReflectionAnswer.text).is_not(None),
                    col(ReflectionAnswer.kind).in_(["long_text", "short_text", "action_item"]),
                )
            ).all()
    finally:
        db.dispose()
    said: dict[str, set[str]] = {}
    for visibility, text in rows:
        said.setdefault(visibility, set()).add(str(text)[:60])
    private = said.get("private", set()) - said.get("circle", set()) - said.get("leaders", set())
    circle_only = said.get("circle", set()) - said.get("leaders", set())
    assert private and circle_only and said.get("leaders")  # the check below means something
    for path in run.digests:
        content = path.read_text()
        assert not [text for text in private if text in content], path.name
        if path.name.startswith("leader-"):
            assert not [text for text in circle_only if text in content], path.name
    leader_digests = "".join(p.read_text() for p in run.digests if p.name.startswith("leader-"))
    assert any(text in leader_digests for text in said["leaders"])  # quotes do get through
    printed = report(run)
    assert not [text for text in private | circle_only if text in printed]
    assert run.private_texts and not [t for t in run.private_texts if t[:60] in printed]


def test_the_printed_digest_reads_like_slack_shows_it(run: DemoResult) -> None:
    printed = report(run)
    # Every Monday at 08:00 where the leader is, about the week before.
    title = r"The leaders' digest of [\w ]+ \(Head of Product\), Mon 23 Nov 08:00 in [\w/]+, "
    assert re.fullmatch(title + "on the week of Mon 16 Nov 2026", run.digest_title)
    assert run.digest_text in printed
    assert "Product Leads" in run.digest_text and "Participation" in run.digest_text
    for markup in ("<@", "<!", "&lt;", "&gt;", "&amp;", '"blocks"'):
        assert markup not in run.digest_text
    assert f"Written to {run.out}/:" in printed


# --- the command -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--participants", "2"], "--participants must be between 3 and 200, got 2"),
        (["--participants", "201"], "--participants must be between 3 and 200, got 201"),
        (["--weeks", "0"], "--weeks must be between 1 and 52, got 0"),
        (["--weeks", "53"], "--weeks must be between 1 and 52, got 53"),
        (["--participants", "many"], "Invalid value for '--participants'"),
    ],
)
def test_bad_options_are_refused_with_a_reason(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["demo", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_folder_that_is_not_a_demos_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not empty and was not written by `circlebot demo`" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_a_crash_mid_demo_is_one_line_and_the_traceback_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Simulation, demo_day: date) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(Simulation, "set_up", broken)
    result = CliRunner().invoke(cli, ["demo", "--weeks", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.startswith("circlebot: the demo stopped: RuntimeError('injected')")
    assert "Traceback" not in result.output
    log = (tmp_path / "out" / "demo.log").read_text()
    assert "demo: stopped by an unexpected error" in log and "RuntimeError: injected" in log


@pytest.mark.slow
def test_circlebot_demo_runs_as_a_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "digests").mkdir(parents=True)
    (out / "digests" / "leader-old-2020-01-06.json").write_text("{}")
    (out / MARKER).write_text("")  # a previous demo's folder: replaced
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", *DEMO_ARGS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet: the log went to out/demo.log
    assert result.stdout.startswith("The leaders' digest "), result.stdout[:300]
    assert "Simulated 1 week of Product Leads (3 participants, seed 1)" in result.stdout
    assert "Written to out/:" in result.stdout
    assert {p.name for p in out.iterdir()} >= {
        MARKER,
        "digests",
        "charts",
        "transcript.jsonl",
        "summary.json",
        "demo.log",
        "circlebot-demo.db",
    }
    assert not (out / "digests" / "leader-old-2020-01-06.json").exists()
    assert json.loads((out / "summary.json").read_text())["options"]["seed"] == 1
    assert [p for p in (out / "charts").iterdir() if p.read_bytes().startswith(PNG_SIGNATURE)]
