"""The weekly digests, sent by the real Deliverer through the fake Slack.

One circle's week, built by hand with known times (the circle's zone is Europe/London, which
is UTC in November), is checked figure by figure against values worked out here. Its week of
Monday 16 Nov 2026 is covered by the digest that fires on Monday 23 Nov at 08:00.

The week, per participant (six of them, all members since January):

| who   | check-in, sent Mon 09:00 | reflection, week of 16 Nov      | action item      |
| ----- | ------------------------ | ------------------------------- | ---------------- |
| Ana   | answered after 2 h       | leaders, named, confidence 4    | due 20, done 19  |
| Ben   | answered after 4 h       | circle, confidence 3 (+ late)   | due Wed 25, open |
| Chloé | answered after 6 h       | private, confidence 5           | due Thu 26, open |
| Finn  | answered after 1 h       | leaders, not named, conf. 2     | due Tue 17, open |
| Eve   | skipped                  | none (nor the week before)      |                  |
| Aaron | failed: account_inactive | none (nor the week before)      |                  |

So: participation 4 of 6 = 67%; check-ins 5 sent, 4 answered, 1 skipped, response rate 80%,
median time to answer 3 h (of 1, 2, 4, 6 h); confidence (4 + 3 + 2) / 3 = 3.0 (Chloé's private
answer counts as participation only); action items 4 committed, 1 completed, 1 overdue (Finn's,
due before the week ended), 25% done within 4 weeks, median time to done over 1 person: not
enough responses yet. Ben's reflection for the week of 9 Nov arrived on 17 Nov: late.
"""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image
from sqlmodel import Session, col, select

from bot.app import make_deliverer
from bot.digest import chart
from bot.digest import compose as digest
from bot.digest.kinds import DigestKinds
from bot.sandbox.fake_slack import FakeUser
from bot.slack import text as slack_text
from storage.models import (
    ActionItem,
    Circle,
    Delivery,
    DeliveryStatus,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
    Role,
    Schedule,
    SkipDay,
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
)

FINN, AARON = "UFINN", "UAARON"
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)
WEEK, WEEK_BEFORE = date(2026, 11, 16), date(2026, 11, 9)
SENT = datetime(2026, 11, 16, 9, tzinfo=UTC)
DIGEST_AT = datetime(2026, 11, 23, 8, tzinfo=UTC)  # Monday 08:00 in London
LEADER_AT = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)  # Monday 08:00 in Kolkata (Dana)

PRIVATE = "PRIVATE-SENTENCE chloe kept this to herself"
PRIVATE_ITEM = "PRIVATE-ITEM call the bank"
CIRCLE_ONLY = "CIRCLE-SENTENCE ben told the circle <!channel> & more"
CIRCLE_ITEM = "CIRCLE-ITEM draft the roadmap"
FOR_LEADERS = "LEADERS-SENTENCE ana shared with leaders"
FOR_LEADERS_ANON = "LEADERS-ANON finn shared without his name"

NAMES = {
    FAC: "Fran Okafor",
    ANA: "Ana Lima",
    BEN: "Ben Weber",
    CHLOE: "Chloé Martin",
    DANA: "Dana Rao",
    EVE: "Eve Adams",
    FINN: "Finn Berg",
    AARON: "Aaron Zed",
}
ZONES = {DANA: "Asia/Kolkata"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class History:
    """Rows of circles and their weeks, written directly (no Slack round trip needed)."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.n = 0

    def person(self, user_id: str) -> None:
        self.s.merge(
            Person(
                team_id=TEAM,
                user_id=user_id,
                real_name=NAMES.get(user_id, user_id),
                tz=ZONES.get(user_id, "Europe/London"),
                refreshed_at=LONG_AGO,
            )
        )

    def circle(self, channel_id: str, name: str, **fields: Any) -> Circle:
        circle = Circle(
            team_id=TEAM,
            channel_id=channel_id,
            name=name,
            created_by=FAC,
            created_at=LONG_AGO,
            tz="Europe/London",
            **fields,
        )
        self.s.add(circle)
        self.s.flush()
        self.member(circle, FAC, Role.FACILITATOR)
        self.s.add(
            Schedule(
                team_id=TEAM,
                circle_id=circle.id,  # type: ignore[arg-type]
                kind="digest",
                weekday=0,
                at_minute=8 * 60,
                anchor=date(2026, 1, 5),
                created_by=FAC,
                created_at=LONG_AGO,
            )
        )
        return circle

    def member(self, circle: Circle, user_id: str, role: Role = Role.PARTICIPANT) -> None:
        self.person(user_id)
        self.s.add(
            Membership(
                team_id=TEAM,
                circle_id=circle.id,  # type: ignore[arg-type]
                user_id=user_id,
                role=role,
                added_by=FAC,
                added_at=LONG_AGO,
            )
        )

    def checkin(
        self,
        circle: Circle,
        user_id: str,
        *,
        answered_after: timedelta | None = None,
        skipped: bool = False,
        failed: str | None = None,
    ) -> None:
        self.n += 1
        self.s.add(
            Delivery(
                team_id=TEAM,
                circle_id=circle.id,  # type: ignore[arg-type]
                key=f"checkin:test:{user_id}:{self.n}",
                kind="checkin",
                recipient=user_id,
                due_at=SENT,
                status=DeliveryStatus.FAILED if failed else DeliveryStatus.SENT,
                error=failed,
                sent_at=None if failed else SENT,
                answered_at=SENT + answered_after if answered_after else None,
                skipped_at=SENT + timedelta(hours=1) if skipped else None,
                created_at=SENT,
            )
        )

    def reflect(
        self,
        circle: Circle,
        user_id: str,
        words: str,
        *,
        visibility: str,
        named: bool = False,
        confidence: int | None = None,
        week: date = WEEK,
        at: datetime = SENT + timedelta(hours=2),
        item: tuple[str, date, datetime | None] | None = None,
    ) -> None:
        reflection = Reflection(
            team_id=TEAM,
            circle_id=circle.id,  # type: ignore[arg-type]
            user_id=user_id,
            kind="checkin",
            prompt_set="default",
            week_start=week,
            visibility=visibility,
            named=named,
            submitted_at=at,
        )
        self.s.add(reflection)
        self.s.flush()
        answers: list[tuple[str, str, str | None, int | None]] = [
            ("tried", "long_text", words, None)
        ]
        if confidence is not None:
            answers.append(("confidence", "scale", None, confidence))
        if item is not None:
            answers.append(("next_step", "action_item", item[0], None))
        for question_id, kind, text, number in answers:
            self.s.add(
                ReflectionAnswer(
                    team_id=TEAM,
                    reflection_id=reflection.id,  # type: ignore[arg-type]
                    question_id=question_id,
                    kind=kind,
                    text=text,
                    number=number,
                )
            )
        if item is not None:
            text, due, done_at = item
            self.s.add(
                ActionItem(
                    team_id=TEAM,
                    circle_id=circle.id,  # type: ignore[arg-type]
                    user_id=user_id,
                    reflection_id=reflection.id,
                    question_id="next_step",
                    text=text,
                    due_date=due,
                    status="done" if done_at else "open",
                    created_at=at,
                    done_at=done_at,
                )
            )


def the_week(bot: BotHarness) -> int:
    """The circle of the module docstring, led by Dana; returns its id."""
    bot.fake.add_user(FakeUser(id=FINN, name="finn", real_name=NAMES[FINN]))
    bot.fake.add_user(FakeUser(id=AARON, name="aaron", real_name=NAMES[AARON]))
    with bot.db.session() as s:
        h = History(s)
        circle = h.circle(CHANNEL, "Product Leads")
        h.member(circle, DANA, Role.LEADER)
        for user_id in (ANA, BEN, CHLOE, FINN, EVE, AARON):
            h.member(circle, user_id)
        h.checkin(circle, ANA, answered_after=timedelta(hours=2))
        h.checkin(circle, BEN, answered_after=timedelta(hours=4))
        h.checkin(circle, CHLOE, answered_after=timedelta(hours=6))
        h.checkin(circle, FINN, answered_after=timedelta(hours=1))
        h.checkin(circle, EVE, skipped=True)
        h.checkin(circle, AARON, failed="account_inactive")
        h.reflect(
            circle,
            ANA,
            FOR_LEADERS,
            visibility="leaders",
            named=True,
            confidence=4,
            item=("Ask for feedback", date(2026, 11, 20), utc(2026, 11, 19, 10)),
        )
        h.reflect(
            circle,
            BEN,
            CIRCLE_ONLY,
            visibility="circle",
            confidence=3,
            item=(CIRCLE_ITEM, date(2026, 11, 25), None),
        )
        h.reflect(
            circle,
            CHLOE,
            PRIVATE,
            visibility="private",
            confidence=5,
            item=(PRIVATE_ITEM, date(2026, 11, 26), None),
        )
        h.reflect(
            circle,
            FINN,
            FOR_LEADERS_ANON,
            visibility="leaders",
            confidence=2,
            item=("Write the brief", date(2026, 11, 17), None),
        )
        h.reflect(  # late: for the week before, written in this one
            circle,
            BEN,
            "Late words about the week before",
            visibility="circle",
            week=WEEK_BEFORE,
            at=utc(2026, 11, 17, 12),
        )
        demo = DemoDay(
            team_id=TEAM,
            circle_id=circle.id,  # type: ignore[arg-type]
            title="December demos",
            starts_at=utc(2026, 12, 3, 15),
            reminder_offsets="",
            created_by=FAC,
            created_at=LONG_AGO,
        )
        s.add(demo)
        s.flush()
        for user_id, title in ((ANA, "Pricing page test"), (BEN, "Roadmap <b>v2</b>")):
            s.add(
                DemoSignup(
                    team_id=TEAM,
                    demo_day_id=demo.id,  # type: ignore[arg-type]
                    user_id=user_id,
                    title=title,
                    created_at=utc(2026, 11, 18),
                    updated_at=utc(2026, 11, 18),
                )
            )
        assert circle.id is not None
        return circle.id


def only_the_circle_in_the_channel(bot: BotHarness) -> None:
    """The harness's channel holds everyone (Dana the leader, too): keep just the circle of
    `the_week`, so its post may quote what was shared with the circle."""
    bot.fake.add_channel(CHANNEL, "product-leads", [FAC, ANA, BEN, CHLOE, FINN, EVE, AARON])


# --- reading what the fake Slack received ----------------------------------------------------


def posts_to(bot: BotHarness, channel: str) -> list[dict[str, Any]]:
    return [
        c.args for c in bot.calls("chat.postMessage") if c.ok and c.args.get("channel") == channel
    ]


def everything_sent(bot: BotHarness) -> str:
    """Every argument of every Web API call the bot made, as one JSON text."""
    return json.dumps([c.args for c in bot.fake.calls], ensure_ascii=False, default=str)


def text_of(message: dict[str, Any]) -> str:
    """The full Block Kit JSON text of one message (plus its fallback)."""
    return json.dumps(message, ensure_ascii=False)


def block_texts(message: dict[str, Any]) -> str:
    parts: list[str] = []
    for block in message["blocks"]:
        if block["type"] == "section":
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts += [e["text"] for e in block["elements"]]
    return "\n".join(parts)


def only(messages: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(messages) == 1, messages
    return messages[0]


# --- the figures, audience by audience --------------------------------------------------------


def test_the_circle_post_has_the_weeks_figures_worked_out_by_hand(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    the_week(bot)
    only_the_circle_in_the_channel(bot)
    report = bot.services.deliverer.tick(DIGEST_AT + timedelta(seconds=30))
    assert report.failed == 0
    post = only(posts_to(bot, CHANNEL))
    text = block_texts(post)
    assert post["text"] == "Product Leads: the week of Mon 16 Nov"
    assert "*Product Leads: the week of Mon 16 Nov*" in text
    assert "• *Participation:* 67% (4 of 6 participants reflected)" in text
    assert "• *Check-ins:* 5 sent, 4 answered, 1 skipped · response rate 80% · " in text
    assert "median time to answer 3 h" in text
    # One person kept theirs private: fewer than 3, so that count is not shown.
    assert "• *Reflections:* 4 check-ins, 0 debriefs\n" in text and "private)" not in text
    assert (
        "• *Action items:* 4 committed, 1 completed, 1 overdue · done within 4 weeks "
        "(since Mon 26 Oct): 25% · median time to done not enough responses yet"
    ) in text
    assert "• *Confidence:* 3.0 out of 5 (no comparison: not enough responses" in text
    assert "arrived late" not in text  # one person's late answer: fewer than 3 people
    assert "*Next demo day: December demos*" in text
    assert f"• <@{ANA}>: Pricing page test" in text
    assert f"• <@{BEN}>: Roadmap &lt;b&gt;v2&lt;/b&gt;" in text
    assert len(post["blocks"]) <= 50


def test_the_8_week_trend_is_a_sparkline_with_gaps(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    the_week(bot)
    bot.services.deliverer.tick(DIGEST_AT)
    text = block_texts(only(posts_to(bot, CHANNEL)))
    # Weeks 1-6: nobody reflected (0% each, ▁); week 7 (9 Nov): Ben's late answer, 1 of 6
    # (17% -> ▂); week 8: 67% (▆).
    assert "• *Last 8 weeks:* `▁▁▁▁▁▁▂▆`" in text


# --- who reads what ------------------------------------------------------------------------------


def test_each_audience_reads_only_what_it_may(sqlite_bot: BotHarness) -> None:
    """A private sentence appears in no digest, a circle one never in the leaders' digest,
    and the facilitators' digest quotes nobody: checked over the whole JSON of every call."""
    bot = sqlite_bot
    the_week(bot)
    only_the_circle_in_the_channel(bot)
    bot.services.deliverer.tick(DIGEST_AT)
    bot.services.deliverer.tick(DIGEST_AT + timedelta(seconds=30))  # the chart
    everything = everything_sent(bot)
    for secret in ("PRIVATE-SENTENCE", "PRIVATE-ITEM"):
        assert secret not in everything

    leaders = text_of(only(posts_to(bot, DANA)))
    assert "CIRCLE-SENTENCE" not in leaders and "CIRCLE-ITEM" not in leaders
    assert FOR_LEADERS in leaders and FOR_LEADERS_ANON in leaders
    quotes = block_texts(only(posts_to(bot, DANA)))
    assert f"> {FOR_LEADERS}\n— <@{ANA}>, check-in" in quotes  # Ana chose to be named
    assert f"> {FOR_LEADERS_ANON}\n— name not shared, check-in" in quotes
    assert f"<@{FINN}>" not in quotes

    circle = block_texts(only(posts_to(bot, CHANNEL)))
    assert "CIRCLE-SENTENCE ben told the circle &lt;!channel&gt; &amp; more" in circle
    assert FOR_LEADERS in circle
    assert "• CIRCLE-ITEM draft the roadmap · name not shared · due Wed 25 Nov" in circle
    assert "• 1 item not shared with everyone who reads this channel (counted only)" in circle
    assert "<!channel>" not in text_of(only(posts_to(bot, CHANNEL)))

    facilitator = text_of(only(posts_to(bot, FAC)))
    for sentence in ("SENTENCE", "LEADERS-ANON", "-ITEM", "Ask for feedback", "Write the brief"):
        assert sentence not in facilitator


def test_the_facilitators_digest_names_people_to_support_not_rank(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    the_week(bot)
    bot.services.deliverer.tick(DIGEST_AT)
    text = block_texts(only(posts_to(bot, FAC)))
    assert "*Product Leads: your facilitator's digest for the week of Mon 16 Nov*" in text
    # Aaron Zed before Eve Adams: alphabetical by name, not by id or activity.
    assert f"(alphabetical; maybe worth a friendly word)\n<@{AARON}>, <@{EVE}>" in text
    assert f"• check-in to <@{AARON}>: `account_inactive`" in text
    assert f"*Overdue action items* (how many, per person)\n<@{FINN}>: 1" in text
    assert "no leaders yet" not in text


def test_k_anonymity_a_circle_of_two_shows_no_figure(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    with bot.db.session() as s:
        h = History(s)
        circle = h.circle(CHANNEL, "Pair")
        h.member(circle, DANA, Role.LEADER)
        for user_id, confidence in ((ANA, 5), (BEN, 1)):
            h.member(circle, user_id)
            h.checkin(circle, user_id, answered_after=timedelta(hours=1))
            h.reflect(circle, user_id, "two of us", visibility="leaders", confidence=confidence)
    bot.services.deliverer.tick(DIGEST_AT)
    for reader in (CHANNEL, FAC, DANA):
        text = block_texts(only(posts_to(bot, reader)))
        assert "Participation: not enough responses yet" in text
        assert "%" not in text and "out of 5" not in text and "answered" not in text


def test_a_leader_of_two_circles_gets_one_dm_with_both_and_the_totals(
    sqlite_bot: BotHarness,
) -> None:
    """Two circles of two participants each: too few in each, four people in the totals."""
    bot = sqlite_bot
    with bot.db.session() as s:
        h = History(s)
        first = h.circle(CHANNEL, "Alpha")
        second = h.circle(OTHER_CHANNEL, "Beta")
        for circle, people in ((first, (ANA, BEN)), (second, (CHLOE, EVE))):
            h.member(circle, DANA, Role.LEADER)
            for user_id in people:
                h.member(circle, user_id)
                h.checkin(circle, user_id, answered_after=timedelta(hours=2))
            h.reflect(circle, people[0], f"{circle.name} words", visibility="leaders", confidence=4)
        first_id = first.id
    report = bot.services.deliverer.tick(DIGEST_AT)
    assert report.failed == 0
    dm = only(posts_to(bot, DANA))
    text = block_texts(dm)
    assert "The 2 circles you sponsor, each in figures, then the totals" in text
    assert text.index("*Alpha*") < text.index("*Beta*") < text.index("*All 2 circles*")
    alpha, beta, totals = (
        text[text.index("*Alpha*") : text.index("*Beta*")],
        text[text.index("*Beta*") : text.index("*All 2 circles*")],
        text[text.index("*All 2 circles*") :],
    )
    assert "not enough responses yet" in alpha and "not enough responses yet" in beta
    assert "Alpha words" in alpha and "Beta words" in beta
    # Each circle is under the threshold, so neither is added into totals (which would sit
    # beside their complement): the totals say so and show no figure.
    assert "_2 of the 2 circles are not counted in these totals" in totals
    assert "No circle has 3 or more participants this week, so there are no totals." in totals
    assert "%" not in text and "answered" not in text
    with bot.db.session() as s:
        [row] = s.exec(select(Delivery).where(Delivery.kind == "digest_leader")).all()
    assert row.circle_id == first_id  # the lowest of their circles
    assert row.key == f"digest:leader:{TEAM}:{DANA}:2026-11-16"
    assert row.due_at == LEADER_AT  # 08:00 in Dana's own zone, the first moment of the two


# --- exactly once ---------------------------------------------------------------------------------


def test_each_digest_goes_out_once_across_ticks_restarts_and_schedulers(bot: BotHarness) -> None:
    the_week(bot)
    deliverer = bot.services.deliverer
    assert deliverer.tick(LEADER_AT - timedelta(seconds=1)).sent == 0
    assert deliverer.tick(LEADER_AT).sent == 1  # Dana's, at 08:00 in Kolkata
    assert deliverer.tick(DIGEST_AT - timedelta(seconds=1)).sent == 1  # then her chart
    first = deliverer.tick(DIGEST_AT)
    assert (first.registered, first.sent) == (2, 2)  # the channel post and Fran's DM
    again = deliverer.tick(DIGEST_AT + timedelta(seconds=30))
    assert (again.registered, again.sent) == (0, 0)

    # A restart (a new Deliverer) and four schedulers at once: still nothing twice.
    restarted = [make_deliverer(bot.db, bot.services.client) for _ in range(4)]
    threads = [
        threading.Thread(target=d.tick, args=(DIGEST_AT + timedelta(minutes=1),)) for d in restarted
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(posts_to(bot, CHANNEL)) == 1
    assert len(posts_to(bot, FAC)) == 1
    assert len(posts_to(bot, DANA)) == 1
    assert len([c for c in bot.calls("files.completeUploadExternal") if c.ok]) == 1
    with bot.db.session() as s:
        every = s.exec(select(Delivery).where(col(Delivery.kind).startswith("digest"))).all()
    # Last week's digests fell in the first tick's look-back, long past: missed, never sent.
    assert {r.status for r in every if r.local_date == WEEK_BEFORE} == {DeliveryStatus.MISSED}
    rows = [r for r in every if r.local_date == WEEK]
    assert sorted(r.kind for r in rows) == [
        "digest_chart",
        "digest_circle",
        "digest_facilitator",
        "digest_leader",
    ]
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    by_kind = {r.kind: r for r in rows}
    assert (
        by_kind["digest_circle"].key
        == f"digest:circle:{by_kind['digest_circle'].circle_id}:2026-11-16"
    )
    assert by_kind["digest_circle"].local_date == WEEK


# --- the chart ------------------------------------------------------------------------------------


def test_the_chart_follows_the_leaders_digest_as_a_png(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    the_week(bot)
    bot.services.deliverer.tick(DIGEST_AT)
    assert bot.calls("files.getUploadURLExternal") == []  # only once the digest is sent
    bot.services.deliverer.tick(DIGEST_AT + timedelta(seconds=30))
    [url] = bot.calls("files.getUploadURLExternal")
    [complete] = bot.calls("files.completeUploadExternal")
    assert url.ok and complete.ok
    dm_channel = only(
        [c.response for c in bot.calls("chat.postMessage") if c.args["channel"] == DANA]
    )["channel"]
    assert complete.args["channel_id"] == dm_channel  # the leader's DM, after the digest
    assert "Participation over the last 8 weeks" in complete.args["initial_comment"]
    png = bot.fake.uploaded_file(url.response["file_id"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert image.size == (chart.WIDTH, chart.HEIGHT)


def test_a_failing_chart_upload_leaves_the_digest_sent_and_shows_in_status(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    the_week(bot)
    bot.fake.inject_error("files.completeUploadExternal", "invalid_auth")  # permanent
    bot.services.deliverer.tick(DIGEST_AT)
    report = bot.services.deliverer.tick(DIGEST_AT + timedelta(seconds=30))
    assert (report.sent, report.failed) == (0, 1)
    assert len(posts_to(bot, DANA)) == 1
    with bot.db.session() as s:
        rows = {r.kind: r for r in s.exec(select(Delivery)).all()}
    assert rows["digest_leader"].status == DeliveryStatus.SENT
    assert (rows["digest_chart"].status, rows["digest_chart"].error) == (
        DeliveryStatus.FAILED,
        "invalid_auth",
    )
    bot.services.clock.now = DIGEST_AT + timedelta(minutes=5)  # type: ignore[attr-defined]
    status = bot.slash("status").ack_text
    assert "• digest chart for leaders: sent 0, failed 1" in status
    assert f"failed for <@{DANA}>: `invalid_auth`" in status
    assert "• digest for leaders: sent 1, failed 0" in status
    # The next facilitators' digest (here: a preview) lists it too.
    preview = bot.slash("digest preview").all_text
    assert f"• digest chart to <@{DANA}>: `invalid_auth`" in preview


def test_the_chart_setting_turns_the_chart_off(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    the_week(bot)
    deliverer = make_deliverer(bot.db, bot.services.client, charts=False)
    deliverer.tick(DIGEST_AT)
    deliverer.tick(DIGEST_AT + timedelta(seconds=30))
    assert len(posts_to(bot, DANA)) == 1
    assert bot.calls("files.getUploadURLExternal") == []


# --- bad input ------------------------------------------------------------------------------------


def test_a_paused_circle_or_skipped_day_gets_no_scheduled_digest(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    with bot.db.session() as s:
        h = History(s)
        paused = h.circle(CHANNEL, "Paused", paused_at=utc(2026, 11, 1), paused_until=None)
        skipping = h.circle(OTHER_CHANNEL, "Skipping")
        s.add(
            SkipDay(
                team_id=TEAM,
                circle_id=skipping.id,  # type: ignore[arg-type]
                day=date(2026, 11, 23),
                created_by=FAC,
                created_at=LONG_AGO,
            )
        )
        for circle in (paused, skipping):
            h.member(circle, DANA, Role.LEADER)
    report = bot.services.deliverer.tick(DIGEST_AT)
    assert (report.registered, report.sent) == (0, 0)
    assert bot.calls("chat.postMessage") == []


def test_no_members_no_leaders_no_answers_still_says_what_is_missing(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    with bot.db.session() as s:
        History(s).circle(CHANNEL, "Empty")
    report = bot.services.deliverer.tick(DIGEST_AT)
    assert (report.sent, report.failed) == (2, 0)  # the channel and Fran; no leader to DM
    post = block_texts(only(posts_to(bot, CHANNEL)))
    assert "No participants yet, so there is nothing to measure." in post
    assert "_Nobody shared a reflection with the circle this week._" in post
    assert "*Action items due this week:* none" in post
    assert "*Next demo day:* none planned." in post
    facilitator = block_texts(only(posts_to(bot, FAC)))
    assert (
        "*Leaders:* no leaders yet, so no leader's digest goes out. "
        "Add one with `/circle add @person as leader`."
    ) in facilitator


def test_a_leader_who_left_slack_is_skipped_and_named(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    the_week(bot)
    with bot.db.session() as s:
        dana = s.get(Person, (TEAM, DANA))
        assert dana is not None
        dana.deleted = True
    bot.services.deliverer.tick(DIGEST_AT)
    assert posts_to(bot, DANA) == []
    facilitator = block_texts(only(posts_to(bot, FAC)))
    assert f"*Left Slack, so no digest for them:* <@{DANA}>" in facilitator


def test_a_leader_of_many_circles_gets_one_message_within_50_blocks(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    with bot.db.session() as s:
        h = History(s)
        for n in range(14):
            circle = h.circle(f"C{n:03d}", f"Circle {n:02d}")
            h.member(circle, DANA, Role.LEADER)
            for user_id in (ANA, BEN, CHLOE):
                h.member(circle, user_id)
                h.reflect(circle, user_id, f"words {n}", visibility="leaders")
    bot.services.deliverer.tick(LEADER_AT)
    dm = only(posts_to(bot, DANA))
    assert len(dm["blocks"]) <= 50
    text = block_texts(dm)
    assert "*Circle 09*" in text and "*Circle 10*" not in text
    assert "…and 4 more circles (Circle 10, Circle 11, Circle 12, Circle 13)" in text
    assert "*All 14 circles*" in text
    # The same 3 people in 14 circles are 3 people, not 42.
    assert "• *Participation:* 100% (3 of 3 participants reflected)" in text


def test_the_deliverer_routes_every_digest_kind_here() -> None:
    assert {*digest.DIGEST_KINDS, digest.DIGEST_CHART} == DigestKinds.kinds


def test_people_friendly_formats() -> None:
    assert slack_text.day_text(date(2026, 12, 7)) == "Mon 7 Dec"
    assert slack_text.day_text(date(2026, 12, 7), year=True) == "Mon 7 Dec 2026"
    assert digest.percent(2 / 3) == "67%"
    assert slack_text.rounded_duration(timedelta(minutes=25)) == "25 min"
    assert slack_text.rounded_duration(timedelta(hours=3, minutes=10)) == "3 h"
    assert slack_text.rounded_duration(timedelta(days=4)) == "4 days"
    london = ZoneInfo("Europe/London")
    # The Monday 08:00 digest covers the week before; a Friday one, this week to date.
    assert digest.digest_week(datetime(2026, 12, 7, 8, tzinfo=UTC), london) == date(2026, 11, 30)
    assert digest.digest_week(datetime(2026, 12, 11, 8, tzinfo=UTC), london) == date(2026, 12, 7)


def test_quiet_means_two_full_weeks_without_a_reflection(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    with bot.db.session() as s:
        h = History(s)
        circle = h.circle(CHANNEL, "Quiet")
        for user_id in (ANA, BEN, CHLOE):
            h.member(circle, user_id)
        h.reflect(circle, ANA, "the week before", visibility="private", week=WEEK_BEFORE)
        h.reflect(circle, BEN, "three weeks ago", visibility="circle", week=date(2026, 11, 2))
        new = s.exec(select(Membership).where(Membership.user_id == CHLOE)).one()
        new.added_at = utc(2026, 11, 12)  # joined last week: not two weeks in the circle yet
    bot.services.deliverer.tick(DIGEST_AT)
    text = block_texts(only(posts_to(bot, FAC)))
    assert f"(alphabetical; maybe worth a friendly word)\n<@{BEN}>\n" in text


def test_digest_chart_setting_is_read_from_the_environment() -> None:
    from bot.core.settings import load_settings

    assert load_settings(digest_chart="false").digest_chart is False
    assert load_settings().digest_chart is True
