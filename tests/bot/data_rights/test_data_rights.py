"""Data rights rules: forget-me leaves nothing of the person in any table, retention clears old
text and keeps the numbers, and the settings, the scheduler and `circlebot tick` run it.

The forget-me sweep walks EVERY table and column the database has (not only the models), so a
table added later that stores a user id or a person's words (pairings, the search index)
fails it until bot/data_rights.FORGET_STEPS knows about it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import String, inspect
from sqlmodel import Session, col, select

from bot.app import make_deliverer
from bot.core.scheduler import FileLeadership, RhythmScheduler
from bot.core.settings import ConfigError, load_settings
from bot.data_rights.export import csv_cell
from bot.data_rights.retention import (
    ARCHIVED_CIRCLE_NAME,
    PAST_DEMO_DAY_TITLE,
    RETENTION_COLUMNS,
    RetentionReport,
    retention_job,
    sweep_retention,
)
from bot.data_rights.rows import PLACEHOLDER
from bot.reflections.action_items import open_items
from storage.db import Database
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DeliveryStatus,
    DemoDay,
    DemoSignup,
    Membership,
    PairingMember,
    Person,
    Reflection,
    ReflectionAnswer,
    Schedule,
    SkipDay,
)
from tests.factories import T, make_circle
from tests.handlers.test_data_rights_commands import (
    circle_with_people,
    forget_me_view,
    mention,
    sign_up,
    write_checkin,
    write_debrief,
)
from tests.harness import (
    ANA,
    BEN,
    CHANNEL,
    CHLOE,
    DANA,
    EVE,
    FAC,
    OTHER_CHANNEL,
    TEAM,
    BotHarness,
    FakeClock,
)

# --- forget-me: nothing of the person anywhere --------------------------------------------------

# Words only ANA wrote, her id and her name: none may be left anywhere once she is forgotten.
ANAS_TRACES = (
    "uana",  # her user id, also inside her DM channel id (DUANA) and delivery keys
    "ana lima",
    "quixotic",
    "fjord",
    "llama",
    "zephyr",
    "sooner",
    "walrus",
)


def every_cell(db: Database) -> Iterator[tuple[str, str, str]]:
    """(table, column, value as lower-case text) for every non-null value in the database."""
    tables = sorted(inspect(db.engine).get_table_names())
    assert "reflection_answer" in tables and "person" in tables
    with db.engine.connect() as connection:
        for name in tables:
            if name == "alembic_version":
                continue
            # Names come from the database's own catalogue, not from input.
            result = connection.exec_driver_sql(f'SELECT * FROM "{name}"')  # noqa: S608
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):  # e.g. FTS5 index pages
                        text = bytes(value).decode("latin-1")
                    else:
                        text = str(value)
                    yield name, column, text.lower()


def traces_of_ana(db: Database) -> set[tuple[str, str, str]]:
    return {
        (name, column, trace)
        for name, column, text in every_cell(db)
        for trace in ANAS_TRACES
        if trace in text
    }


def ana_does_everything(bot: BotHarness, clock: FakeClock) -> dict[str, int]:
    """ANA as a participant of Product Leads (paired with BEN, writes, signs up) and as the
    creator of Design Crit (schedules, a skipped day, a cancelled demo day, adds people)."""
    circle_id = circle_with_people(bot)
    assert "<@UANA> and <@UBEN>" in bot.slash("pair").all_text
    bot.slash("create Design Crit", user=ANA, channel=OTHER_CHANNEL)
    bot.slash(f"add {mention(FAC)} as facilitator", user=ANA, channel=OTHER_CHANNEL)
    bot.slash(f"add {mention(BEN)}", user=ANA, channel=OTHER_CHANNEL)
    bot.slash("schedule checkin tue 10:00", user=ANA, channel=OTHER_CHANNEL)
    bot.slash("skip 2026-12-22", user=ANA, channel=OTHER_CHANNEL)  # a Tuesday
    bot.slash("demoday 2026-12-10 15:00 Crit demo", user=ANA, channel=OTHER_CHANNEL)
    with bot.db.session() as session:
        [demo_id] = session.exec(select(DemoDay.id).where(DemoDay.title == "Crit demo")).all()
    assert (
        "Cancelled"
        in bot.slash(f"demoday cancel {demo_id}", user=ANA, channel=OTHER_CHANNEL).all_text
    )

    bot.slash("checkin now")
    write_checkin(
        bot,
        ANA,
        tried="Quixotic pricing experiment with fjord customers",
        next_step="Call the llama vendor",
        due="2026-11-20",
        named=True,
    )
    write_checkin(bot, BEN, tried="Shadowed support for a day")
    clock.advance(minutes=1)
    bot.slash("debrief now")
    write_debrief(
        bot,
        ANA,
        peer=BEN,
        topic="Zephyr doubts",
        insight="Say no sooner",
        commitment="Block the mornings",
        visibility="private",
    )
    write_debrief(
        bot, BEN, peer=ANA, topic="Hiring loop", insight="Ask earlier", commitment="Draft the JD"
    )
    sign_up(bot, clock, circle_id, ANA, "Walrus onboarding")
    return {"product_leads": circle_id}


def send_digest_quoting_ana(bot: BotHarness, clock: FakeClock, circle_id: int) -> Delivery:
    """A leaders' digest already sent to DANA, quoting ANA (as the digest will do)."""
    posted = bot.services.client.chat_postMessage(
        channel=DANA, text="Leaders' digest: “Quixotic pricing experiment with fjord customers”"
    )
    with bot.db.session() as session:
        digest = Delivery(
            team_id=TEAM,
            circle_id=circle_id,
            key=f"digest:1:{DANA}:2026-11-16",
            kind="digest",
            recipient=DANA,
            due_at=clock.now,
            status=DeliveryStatus.SENT,
            sent_at=clock.now,
            channel_id=posted["channel"],
            message_ts=posted["ts"],
            created_at=clock.now,
        )
        session.add(digest)
        session.flush()
        session.refresh(digest)
        return digest


def test_forget_me_leaves_nothing_of_the_person_and_keeps_everyone_elses(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = ana_does_everything(bot, clock)["product_leads"]
    digest = send_digest_quoting_ana(bot, clock, circle_id)
    before = traces_of_ana(bot.db)
    # The walk sees her everywhere first (so it can fail), including the search index.
    assert {(t, c) for t, c, _trace in before} >= {
        ("person", "user_id"),
        ("person", "real_name"),
        ("membership", "user_id"),
        ("membership", "added_by"),
        ("circle", "created_by"),
        ("schedule", "created_by"),
        ("skip_day", "created_by"),
        ("demo_day", "created_by"),
        ("demo_day", "cancelled_by"),
        ("reflection", "user_id"),
        ("reflection", "peer_user_id"),
        ("reflection_answer", "text"),
        ("action_item", "text"),
        ("demo_signup", "title"),
        ("delivery", "recipient"),
        ("delivery", "key"),
        ("pairing_member", "user_id"),
    }
    if bot.db.is_sqlite:  # the learnings search index (FTS5) holds her words too
        assert any(t.startswith("reflection_answer_fts") for t, _c, _trace in before)
    with bot.db.session() as session:
        # Design Crit has no zone of its own: it runs in its creator's (ANA's).
        assert session.exec(select(Circle.tz).where(Circle.name == "Design Crit")).one() is None
    chat_edits_before = len(bot.calls("chat.update")) + len(bot.calls("chat.delete"))

    view = forget_me_view(bot, ANA)
    status, _h, _b = bot.fake.send_view_submission(
        bot.events_url, user_id=ANA, view=view, state_values={}
    )
    bot.wait_idle()
    assert status == 200

    assert traces_of_ana(bot.db) == set()

    with bot.db.session() as session:
        # The circle she created keeps running, in the zone it had through her.
        crit = session.exec(select(Circle).where(Circle.name == "Design Crit")).one()
        assert (crit.created_by, crit.tz) == (PLACEHOLDER, "America/New_York")
        assert {
            m.user_id: m.added_by
            for m in session.exec(select(Membership).where(Membership.circle_id == crit.id))
        } == {FAC: PLACEHOLDER, BEN: PLACEHOLDER}
        crit_schedules = session.exec(select(Schedule).where(Schedule.circle_id == crit.id)).all()
        assert {s.kind for s in crit_schedules} == {"digest", "checkin"}
        assert {s.created_by for s in crit_schedules} == {PLACEHOLDER}
        assert [d.created_by for d in session.exec(select(SkipDay))] == [PLACEHOLDER]
        [demo] = session.exec(select(DemoDay).where(DemoDay.title == "Crit demo")).all()
        assert (demo.created_by, demo.cancelled_by) == (PLACEHOLDER, PLACEHOLDER)
        assert demo.cancelled_at is not None
        # BEN's reflections are his: every word stays, his peer is now the placeholder.
        bens = session.exec(
            select(Reflection).where(Reflection.user_id == BEN).order_by(col(Reflection.id))
        ).all()
        assert [r.kind for r in bens] == ["checkin", "debrief"]
        assert bens[1].peer_user_id == PLACEHOLDER
        bens_answers = {
            a.question_id: a.text
            for a in session.exec(
                select(ReflectionAnswer).where(ReflectionAnswer.reflection_id == bens[1].id)
            )
        }
        assert bens_answers == {
            "peer": PLACEHOLDER,
            "topic": "Hiring loop",
            "insight": "Ask earlier",
            "commitment": "Draft the JD",
        }
        assert [i.text for i in session.exec(select(ActionItem))] == ["Draft the JD"]
        # The digest already sent to DANA is untouched: its row and its message.
        kept = session.get(Delivery, digest.id)
        assert kept is not None
        assert (kept.recipient, kept.key, kept.status, kept.message_ts) == (
            DANA,
            digest.key,
            DeliveryStatus.SENT,
            digest.message_ts,
        )
        assert {d.recipient for d in session.exec(select(Delivery))} == {BEN, DANA}
        # The pair BEN was in stays his: its other place is the placeholder's.
        assert {m.user_id for m in session.exec(select(PairingMember))} == {BEN, PLACEHOLDER}
    assert any(
        "Quixotic pricing" in m["text"] for m in bot.fake.messages(bot.fake.dm_channel_of(DANA))
    )
    assert len(bot.calls("chat.update")) + len(bot.calls("chat.delete")) == chat_edits_before
    assert bot.members(circle_id) == {FAC: "facilitator", BEN: "participant", DANA: "leader"}


# --- retention -------------------------------------------------------------------------------

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def reflection_with_answers(
    session: Session, circle: Circle, *, days_ago: int, text: str, done: bool = False
) -> int:
    """A check-in of `days_ago` with a text, a scale and an action item; returns its id."""
    submitted = NOW - timedelta(days=days_ago)
    reflection = Reflection(
        team_id=T,
        circle_id=circle.id,  # type: ignore[arg-type]
        user_id="UFAC",
        kind="checkin",
        prompt_set="default",
        week_start=date(2026, 1, 5),
        submitted_at=submitted,
    )
    session.add(reflection)
    session.flush()
    assert reflection.id is not None
    for question_id, kind, value, number in (
        ("tried", "long_text", text, None),
        ("confidence", "scale", None, 4),
        ("next_step", "action_item", f"{text} next", None),
    ):
        session.add(
            ReflectionAnswer(
                team_id=T,
                reflection_id=reflection.id,
                question_id=question_id,
                kind=kind,
                text=value,
                number=number,
            )
        )
    session.add(
        ActionItem(
            team_id=T,
            circle_id=circle.id,  # type: ignore[arg-type]
            user_id="UFAC",
            reflection_id=reflection.id,
            question_id="next_step",
            text=f"{text} next",
            status=ActionItemStatus.DONE if done else ActionItemStatus.OPEN,
            created_at=submitted,
            done_at=submitted + timedelta(days=1) if done else None,
        )
    )
    return reflection.id


def answer_texts(db: Database) -> dict[tuple[int, str], tuple[str | None, int | None]]:
    with db.session() as session:
        return {
            (a.reflection_id, a.question_id): (a.text, a.number)
            for a in session.exec(select(ReflectionAnswer))
        }


def item_texts(db: Database) -> dict[int, tuple[str, str]]:
    with db.session() as session:
        return {i.reflection_id or 0: (i.text, i.status) for i in session.exec(select(ActionItem))}


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    yield database
    database.dispose()


def test_retention_clears_old_text_keeps_numbers_and_rows_and_is_idempotent(
    db: Database,
) -> None:
    with db.session() as session:
        circle = make_circle(session)
        session.flush()
        ids = [
            reflection_with_answers(session, circle, days_ago=40 + n, text=f"old {n}", done=n == 0)
            for n in range(3)
        ]
        new_id = reflection_with_answers(session, circle, days_ago=10, text="recent", done=True)
    report = sweep_retention(db, now=NOW, days=30, batch_size=2)  # several batches
    assert (report.answers_cleared, report.action_items_cleared) == (6, 1)

    texts = answer_texts(db)
    for reflection_id in ids:
        assert texts[(reflection_id, "tried")] == (None, None)
        assert texts[(reflection_id, "next_step")] == (None, None)
        assert texts[(reflection_id, "confidence")] == (None, 4)  # the scale is kept
    assert texts[(new_id, "tried")] == ("recent", None)
    items = item_texts(db)
    assert items[ids[0]] == ("", "done")  # closed and old: cleared, status kept
    assert items[ids[1]] == ("old 1 next", "open")  # still followed up: kept while open
    assert items[new_id] == ("recent next", "done")  # recent

    again = sweep_retention(db, now=NOW, days=30, batch_size=2)
    assert (again.answers_cleared, again.action_items_cleared) == (0, 0)
    assert answer_texts(db) == texts
    # The search index follows the table: the cleared words can't be found any more.
    with db.engine.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT rowid FROM reflection_answer_fts WHERE reflection_answer_fts MATCH 'old'"
        ).all()
    assert found == []


def items_by_owner(db: Database) -> dict[str, tuple[str, str]]:
    """{owner: (text, status)} of every action item."""
    with db.session() as session:
        return {i.user_id: (i.text, i.status) for i in session.exec(select(ActionItem))}


def test_retention_clears_open_items_nobody_will_follow_up(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The reproduction: an open item of an archived circle and one of a removed member kept
    their text for ever (nothing asks about them, their owner can't close them)."""
    circle_with_people(bot)  # Product Leads: ANA and BEN participate
    bot.slash("checkin now")
    write_checkin(bot, ANA, tried="Ana tried", next_step="Ana's open step")
    write_checkin(bot, BEN, tried="Ben tried", next_step="Ben's open step")
    assert "Removed" in bot.slash(f"remove {mention(BEN)}").all_text
    bot.slash("create Design Crit", channel=OTHER_CHANNEL)
    bot.slash(f"add {mention(EVE)}", channel=OTHER_CHANNEL)
    bot.slash("checkin now", channel=OTHER_CHANNEL)
    write_checkin(bot, EVE, tried="Eve tried", next_step="Eve's open step")
    assert "Archived" in bot.slash("archive", channel=OTHER_CHANNEL).all_text
    with bot.db.session() as session:  # an item whose owner has no membership at all
        [bens] = session.exec(select(ActionItem).where(ActionItem.user_id == BEN)).all()
        session.add(
            ActionItem(
                team_id=TEAM,
                circle_id=bens.circle_id,
                user_id=CHLOE,
                question_id="next_step",
                text="Chloé's open step",
                created_at=clock.now,
            )
        )
    assert {owner: text for owner, (text, _s) in items_by_owner(bot.db).items()} == {
        ANA: "Ana's open step",
        BEN: "Ben's open step",
        EVE: "Eve's open step",
        CHLOE: "Chloé's open step",
    }

    early = sweep_retention(bot.db, now=clock.now + timedelta(days=29), days=30)
    assert early.action_items_cleared == 0  # not old yet: nothing changes

    report = sweep_retention(bot.db, now=clock.now + timedelta(days=31), days=30)
    assert report.action_items_cleared == 3
    assert items_by_owner(bot.db) == {
        ANA: ("Ana's open step", "open"),  # an active member: check-ins still ask about it
        BEN: ("", "open"),  # removed from the circle
        CHLOE: ("", "open"),  # no membership
        EVE: ("", "open"),  # the circle is archived
    }
    again = sweep_retention(bot.db, now=clock.now + timedelta(days=31), days=30)
    assert again.line() == RetentionReport().line()  # idempotent: nothing left to clear

    # Ben added back: his cleared item is not asked about (its text is gone).
    bot.slash(f"add {mention(BEN)}")
    with bot.db.session() as session:
        assert open_items(session, team_id=TEAM, user_id=BEN) == []
        assert [i.text for i in open_items(session, team_id=TEAM, user_id=ANA)] == [
            "Ana's open step"
        ]


def _demo_day(
    session: Session, circle_id: int, title: str, starts: datetime, **fields: object
) -> int:
    demo = DemoDay(
        team_id=TEAM,
        circle_id=circle_id,
        title=title,
        starts_at=starts,
        reminder_offsets="86400",
        created_by=FAC,
        created_at=starts - timedelta(days=20),
        **fields,  # type: ignore[arg-type]
    )
    session.add(demo)
    session.flush()
    assert demo.id is not None
    for user_id in (ANA, BEN):
        session.add(
            DemoSignup(
                team_id=TEAM,
                demo_day_id=demo.id,
                user_id=user_id,
                title=f"{title}: {user_id}'s topic",
                what_tried=f"{title}: what {user_id} tried",
                created_at=starts - timedelta(days=10),
                updated_at=starts - timedelta(days=10),
            )
        )
    return demo.id


def test_retention_clears_sign_up_topics_of_demo_days_over_before_the_cut_off(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = circle_with_people(bot)
    now = clock.now
    with bot.db.session() as session:
        held = _demo_day(session, circle_id, "Held long ago", now - timedelta(days=40))
        cancelled = _demo_day(
            session,
            circle_id,
            "Cancelled long ago",
            now + timedelta(days=5),
            cancelled_at=now - timedelta(days=35),
            cancelled_by=FAC,
        )
        recent = _demo_day(session, circle_id, "Held last week", now - timedelta(days=7))
        upcoming = _demo_day(session, circle_id, "Next month", now + timedelta(days=30))

    report = sweep_retention(bot.db, now=now, days=30)
    assert (report.signups_cleared, report.demo_titles_cleared) == (4, 2)
    with bot.db.session() as session:
        signups = {
            (s.demo_day_id, s.user_id): (s.title, s.what_tried)
            for s in session.exec(select(DemoSignup))
        }
        titles = {d.id: d.title for d in session.exec(select(DemoDay))}
        kept = session.exec(select(DemoDay).where(DemoDay.id == cancelled)).one()
        assert (kept.cancelled_by, kept.cancelled_at) == (FAC, now - timedelta(days=35))
    for user_id in (ANA, BEN):
        assert signups[(held, user_id)] == ("", "")
        assert signups[(cancelled, user_id)] == ("", "")
        assert signups[(recent, user_id)] == (
            f"Held last week: {user_id}'s topic",
            f"Held last week: what {user_id} tried",
        )
        assert signups[(upcoming, user_id)][0] == f"Next month: {user_id}'s topic"
    assert titles == {
        held: PAST_DEMO_DAY_TITLE,
        cancelled: PAST_DEMO_DAY_TITLE,
        recent: "Held last week",
        upcoming: "Next month",
    }
    assert len(signups) == 8  # every row stays: sign-ups are still counted
    again = sweep_retention(bot.db, now=now, days=30)
    assert (again.signups_cleared, again.demo_titles_cleared) == (0, 0)


# Written everywhere a person can write (or name something) in a circle that then ends.
MARKER = "zyzzyva"


def cells_with(db: Database, marker: str) -> set[tuple[str, str]]:
    return {(table, column) for table, column, text in every_cell(db) if marker in text}


def test_retention_leaves_no_old_words_in_any_table(bot: BotHarness, clock: FakeClock) -> None:
    """Everything people wrote in a circle that ended, in every table and text column the
    database has (the search index too), is gone after one sweep past the retention period;
    a live circle keeps what it needs."""
    circle_id = circle_with_people(bot)
    bot.slash(f"rename {MARKER} Leads")
    bot.slash(f"team {mention(ANA)} {MARKER} Platform")
    assert "Planned demo day" in bot.slash(f"demoday 2026-12-10 15:00 {MARKER} demo").all_text
    assert "<@UANA> and <@UBEN>" in bot.slash("pair").all_text
    bot.slash("checkin now")
    write_checkin(
        bot,
        ANA,
        tried=f"{MARKER} pricing experiment",
        next_step=f"Call the {MARKER} vendor",
        due="2026-11-20",
        visibility="private",
    )
    write_checkin(bot, BEN, tried=f"Shadowed {MARKER} support", next_step=f"{MARKER} done soon")
    with bot.db.session() as session:  # Ben's item is done: a closed item
        [bens] = session.exec(select(ActionItem).where(ActionItem.user_id == BEN)).all()
        bens.status, bens.done_at = ActionItemStatus.DONE, clock.now
        session.add(bens)
    clock.advance(minutes=1)
    bot.slash("debrief now")
    write_debrief(
        bot,
        ANA,
        peer=BEN,
        topic=f"{MARKER} doubts",
        insight=f"Say no to {MARKER}",
        commitment=f"Block {MARKER} mornings",
    )
    with bot.db.session() as session:
        [demo_id] = session.exec(select(DemoDay.id).where(DemoDay.circle_id == circle_id)).all()
        assert demo_id is not None
        session.add(
            DemoSignup(
                team_id=TEAM,
                demo_day_id=demo_id,
                user_id=ANA,
                title=f"{MARKER} onboarding",
                what_tried=f"Tried {MARKER} on two teams",
                created_at=clock.now,
                updated_at=clock.now,
            )
        )
        # Their Slack profiles, as users.info gave them (written by each person in Slack).
        for person in session.exec(select(Person).where(col(Person.user_id).in_([ANA, BEN]))):
            person.title, person.display_name = f"{MARKER} designer", f"{person.name} {MARKER}"
            session.add(person)
    # A live circle next door, which keeps what it needs to run.
    bot.slash("create Design Crit", channel=OTHER_CHANNEL)
    bot.slash(f"add {mention(EVE)}", channel=OTHER_CHANNEL)
    bot.slash(f"team {mention(EVE)} Research", channel=OTHER_CHANNEL)
    bot.slash("checkin now", channel=OTHER_CHANNEL)
    write_checkin(bot, EVE, tried="Eve's words", next_step="Eve's open step")
    clock.advance(days=2)
    assert "Archived" in bot.slash("archive").all_text  # Product Leads ends, 2 days later

    before = cells_with(bot.db, MARKER)
    expected = {
        ("reflection_answer", "text"),
        ("action_item", "text"),
        ("demo_signup", "title"),
        ("demo_signup", "what_tried"),
        ("circle", "name"),
        ("demo_day", "title"),
        ("membership", "team"),
        ("person", "title"),
        ("person", "display_name"),
    }
    assert {(t, c) for t, c in before if not t.startswith("reflection_answer_fts")} == expected
    if bot.db.is_sqlite:  # the search index holds the words too, so the walk can see them
        assert any(t.startswith("reflection_answer_fts") for t, _c in before)
    retention = 30

    # Written three days before `clock.now`: not old enough yet a day before the period ends.
    early = clock.now + timedelta(days=retention - 3)
    assert sweep_retention(bot.db, now=early, days=retention).line() == RetentionReport().line()
    assert cells_with(bot.db, MARKER) == before

    report = sweep_retention(bot.db, now=clock.now + timedelta(days=retention + 1), days=retention)
    assert cells_with(bot.db, MARKER) == set()
    # Every old answer (Eve's too: answers don't wait for a circle to end); Ana's two items
    # and Ben's closed one; Eve's open item stays while check-ins ask about it.
    assert report.answers_cleared > 0 and report.action_items_cleared == 3
    assert (report.signups_cleared, report.demo_titles_cleared) == (1, 1)
    assert (report.circle_names_cleared, report.team_labels_cleared) == (1, 1)
    # Everyone of Product Leads but FAC, who runs Design Crit (EVE's profile stays too).
    assert report.profiles_cleared == 3
    again = sweep_retention(bot.db, now=clock.now + timedelta(days=retention + 1), days=retention)
    assert again.line() == RetentionReport().line()

    with bot.db.session() as session:
        circles = {c.channel_id: c for c in session.exec(select(Circle))}
        assert circles[OTHER_CHANNEL].name == "Design Crit"
        assert circles[CHANNEL].name == ARCHIVED_CIRCLE_NAME
        teams = {m.user_id: m.team for m in session.exec(select(Membership))}
        assert teams[EVE] == "Research" and teams[ANA] is None
        items = {i.user_id: (i.text, i.status) for i in session.exec(select(ActionItem))}
        assert items[EVE] == ("Eve's open step", "open")
        assert items[BEN] == ("", "done")
        profiles = {p.user_id: p for p in session.exec(select(Person))}
        assert (profiles[EVE].real_name, profiles[FAC].real_name) == ("Eve Adams", "Fran Okafor")
        assert (profiles[ANA].real_name, profiles[ANA].tz) == ("", "America/New_York")
        # The numbers stay: every reflection, its scales and every item and sign-up row.
        numbers = [
            a.number
            for a in session.exec(select(ReflectionAnswer))
            if a.question_id == "confidence"
        ]
        assert sorted(numbers) == [4, 4, 4]  # type: ignore[type-var]
        assert len(session.exec(select(Reflection)).all()) == 4
        assert len(session.exec(select(DemoSignup)).all()) == 1
    if bot.db.is_sqlite:  # nor in the file's free pages (secure_delete), once the WAL is in
        path = Path(bot.db.url.database)
        bot.db.engine.dispose()
        with closing(sqlite3.connect(path, isolation_level=None)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        for file in path.parent.glob(f"{path.name}*"):
            assert file.read_bytes().lower().count(MARKER.encode()) == 0, file.name


def test_every_text_column_has_a_retention_decision(db_url: str) -> None:
    """A new text column fails this until bot/data_rights.RETENTION_COLUMNS decides what
    retention does with it (and sweep_retention clears it if people write it)."""
    database = Database(db_url)
    try:
        inspector = inspect(database.engine)
        text_columns = {
            f"{name}.{c['name']}"
            for name in inspector.get_table_names()
            if not name.startswith("reflection_answer_fts")  # the index: compacted instead
            for c in inspector.get_columns(name)
            if isinstance(c["type"], String)
        }
    finally:
        database.dispose()
    decided = [name for names in RETENTION_COLUMNS.values() for name in names]
    assert len(decided) == len(set(decided))
    assert set(decided) == text_columns


def test_the_scheduler_sweeps_once_a_day_when_retention_is_set(db: Database) -> None:
    clock = FakeClock(NOW)
    with db.session() as session:
        circle = make_circle(session)
        session.flush()
        first = reflection_with_answers(session, circle, days_ago=40, text="first")
    client = WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/")  # nothing is due
    leadership = FileLeadership(db)
    off = RhythmScheduler(make_deliverer(db, client), leadership, clock=clock)
    off.run_once()
    assert answer_texts(db)[(first, "tried")] == ("first", None)

    scheduler = RhythmScheduler(
        make_deliverer(db, client), leadership, clock=clock, daily=retention_job(db, 30)
    )
    scheduler.run_once()
    assert answer_texts(db)[(first, "tried")] == (None, None)
    with db.session() as session:
        circle = session.exec(select(Circle)).one()
        second = reflection_with_answers(session, circle, days_ago=40, text="second")
    clock.advance(hours=23)
    scheduler.run_once()  # the same day: not again
    assert answer_texts(db)[(second, "tried")] == ("second", None)
    clock.advance(hours=1)
    scheduler.run_once()
    assert answer_texts(db)[(second, "tried")] == (None, None)
    leadership.release()


@pytest.mark.parametrize(
    ("value", "expected"), [("off", None), ("", None), (" OFF ", None), ("30", 30), ("1", 1)]
)
def test_data_retention_days_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, expected: int | None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_RETENTION_DAYS", value)
    assert load_settings().data_retention_days == expected


@pytest.mark.parametrize("value", ["0", "-3", "30d", "forever"])
def test_data_retention_days_refuses_bad_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_RETENTION_DAYS", value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == (
        "DATA_RETENTION_DAYS: expected a whole number of days between 1 and 36500, or off, "
        f"got {value!r}"
    )


@pytest.mark.slow
def test_circlebot_tick_also_runs_the_retention_sweep(tmp_path: Path, sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        circle = make_circle(session)
        session.flush()
        old = reflection_with_answers(session, circle, days_ago=40, text="old words")
    database.dispose()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SLACK_") and k not in ("DATABASE_URL", "DATA_RETENTION_DAYS")
    }
    env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-1-fake",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing is due: Slack is not called
            "DATABASE_URL": sqlite_url,
            "DATA_RETENTION_DAYS": "30",
        }
    )
    command = [sys.executable, "-m", "bot", "tick", "--at", "2026-11-16T09:00:00Z"]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "retention: cleared the text of 2 answers, 0 action items and 0 demo sign-ups, "
        "0 circle names, 0 demo-day titles, 0 team labels and 0 profiles (older than 30 days)"
    )
    assert answer_texts(Database(sqlite_url))[(old, "tried")] == (None, None)


# --- export cells ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tindent", "'\tindent"),
        ('plain, with "quotes"', 'plain, with "quotes"'),
        ("a=b", "a=b"),
        (4, 4),
        (None, ""),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, expected: object) -> None:
    assert csv_cell(value) == expected
