"""The rhythm subcommands through the real path: signed HTTP into the bot, fake Slack recording.

The clock starts on Monday 2026-11-16 09:00 UTC. Fran (the facilitator) is in Europe/London,
Ana (participant) in America/New_York, Ben (participant) in Europe/Berlin, Dana (leader) in
Asia/Kolkata and Eve, who is in no circle, in America/Los_Angeles.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from storage.models import (
    Circle,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Schedule,
    ScheduleKind,
    SkipDay,
)
from tests.harness import (
    ANA,
    BEN,
    CHANNEL,
    DANA,
    EVE,
    FAC,
    OTHER_CHANNEL,
    TEAM,
    BotHarness,
    FakeClock,
)

CHECKING_ZONE = "Checking your time zone with Slack…"


def mention(user_id: str) -> str:
    return f"<@{user_id}|{user_id.lower()}>"


def start_circle(bot: BotHarness, *, channel: str = CHANNEL, by: str = FAC) -> int:
    """A circle with Fran facilitating, Ana and Ben participating and Dana leading."""
    bot.slash("create Product Leads", user=by, channel=channel)
    if by == FAC and channel == CHANNEL:
        bot.slash(f"add {mention(ANA)} {mention(BEN)}")
        bot.slash(f"add {mention(DANA)} as leader")
    [circle] = [c for c in bot.circles() if c.channel_id == channel and not c.is_archived]
    assert circle.id is not None
    return circle.id


def schedules(bot: BotHarness, circle_id: int | None = None) -> list[Schedule]:
    with bot.db.session() as session:
        query = select(Schedule).order_by(col(Schedule.id))
        if circle_id is not None:
            query = query.where(Schedule.circle_id == circle_id)
        return list(session.exec(query).all())


def demo_days(bot: BotHarness) -> list[DemoDay]:
    with bot.db.session() as session:
        return list(session.exec(select(DemoDay).order_by(col(DemoDay.id))).all())


def skip_days(bot: BotHarness) -> list[date]:
    with bot.db.session() as session:
        return [s.day for s in session.exec(select(SkipDay).order_by(col(SkipDay.day))).all()]


def circle_row(bot: BotHarness) -> Circle:
    [circle] = [c for c in bot.circles() if c.channel_id == CHANNEL]
    return circle


def membership(bot: BotHarness, user_id: str) -> Membership:
    with bot.db.session() as session:
        row = session.exec(select(Membership).where(Membership.user_id == user_id)).first()
        assert row is not None
        return row


def rhythm_rows(bot: BotHarness) -> list[dict[str, object]]:
    rows: list[Schedule | DemoDay | Circle] = [*schedules(bot), *demo_days(bot), circle_row(bot)]
    return [row.model_dump() for row in rows]


def slack_date(moment: datetime, fallback: str) -> str:
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


# --- help ----------------------------------------------------------------------------------------


def test_help_lists_the_rhythm_subcommands_with_examples(bot: BotHarness) -> None:
    text = bot.slash("help").ack_text
    for sub in (
        "schedule checkin|debrief|digest",
        "schedules",
        "unschedule",
        "demoday &lt;YYYY-MM-DD&gt;",
        "demodays",
        "demoday cancel",
        "pause",
        "resume",
        "skip",
        "away until",
        "back",
        "set nudge",
        "checkin now",
        "debrief now",
        "status",
    ):
        assert f"• `/circle {sub}" in text, sub
    assert "Example: `/circle schedule checkin mon 09:00" in text
    assert "Example: `/circle skip 2026-12-24`" in text


# --- the default digest --------------------------------------------------------------------------


def test_a_new_circle_starts_with_a_monday_digest_in_each_leaders_zone(
    bot: BotHarness, clock: FakeClock
) -> None:
    reply = bot.slash("create Product Leads")
    assert "Leaders get a digest every Monday at 08:00 in their own time zone" in reply.ack_text
    [digest] = schedules(bot)
    assert (digest.kind, digest.weekday, digest.at_minute, digest.interval_weeks) == (
        ScheduleKind.DIGEST,
        0,
        8 * 60,
        1,
    )
    assert digest.pinned_tz is None and digest.removed_at is None
    assert (digest.created_by, digest.created_at, digest.anchor) == (
        FAC,
        clock.now,
        date(2026, 11, 16),
    )
    text = bot.slash("schedules").ack_text
    assert (
        f"• #{digest.id} leaders' digest: every Monday; each leader gets it at 08:00 in their own "
        "time zone. Next: Mon 23 Nov, 08:00 (Europe/London)"
    ) in text


# --- schedule ------------------------------------------------------------------------------------


def test_schedule_a_checkin_in_everyones_own_zone(bot: BotHarness, clock: FakeClock) -> None:
    circle_id = start_circle(bot)
    reply = bot.slash("schedule checkin mon 09:00")
    [_digest, checkin] = schedules(bot)
    assert reply.ack_text == (
        f"Scheduled the check-in (#{checkin.id}): every Monday; each participant gets it at 09:00 "
        "in their own time zone.\nNext: Mon 23 Nov, 09:00 (Europe/London)."
    )
    assert (checkin.circle_id, checkin.team_id, checkin.kind) == (circle_id, TEAM, "checkin")
    assert (checkin.weekday, checkin.at_minute, checkin.interval_weeks) == (0, 540, 1)
    assert (checkin.anchor, checkin.pinned_tz) == (date(2026, 11, 16), None)
    assert (checkin.created_by, checkin.created_at) == (FAC, clock.now)


def test_schedule_every_two_weeks_pinned_to_one_zone(bot: BotHarness) -> None:
    start_circle(bot)
    reply = bot.slash("schedule debrief Friday 4pm every 2 weeks tz:europe/berlin")
    [_digest, debrief] = schedules(bot)
    assert (debrief.kind, debrief.weekday, debrief.at_minute) == ("debrief", 4, 16 * 60)
    assert (debrief.interval_weeks, debrief.pinned_tz) == (2, "Europe/Berlin")
    # 16:00 in Berlin is 15:00 in London, where Fran is.
    assert reply.ack_text == (
        f"Scheduled the debrief (#{debrief.id}): every 2 weeks on Friday, at 16:00 "
        "Europe/Berlin for everyone.\nNext: Fri 20 Nov, 15:00 (Europe/London)."
    )


def test_a_second_schedule_of_the_same_kind_is_allowed_and_named(bot: BotHarness) -> None:
    start_circle(bot)
    bot.slash("schedule checkin mon 09:00")
    reply = bot.slash("schedule checkin thu 09:00")
    ids = [s.id for s in schedules(bot) if s.kind == "checkin"]
    assert len(ids) == 2
    assert f"This circle now has 2 check-in schedules: #{ids[0]} and #{ids[1]}." in reply.ack_text
    assert f"`/circle unschedule {ids[1]}`" in reply.ack_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "schedule",
            "Say what to schedule (checkin, debrief, digest or pairing), the day and the time.",
        ),
        (
            "schedule standup mon 09:00",
            "“standup” is not something I can schedule. Use checkin, debrief, digest or pairing, "
            "e.g. `/circle schedule checkin mon 09:00`.",
        ),
        ("schedule checkin", "Say which day and time, e.g. `/circle schedule checkin mon 09:00`"),
        ("schedule checkin mon", "A time is missing after the day"),
        ("schedule checkin funday 09:00", "“funday” is not a day. Use mon, tue, wed"),
        ("schedule checkin mon 25:00", "“25:00” is not a time: hours go from 00 to 23."),
        (
            "schedule checkin mon 09:00 tz:Mars/Olympus",
            "“Mars/Olympus” is not a time zone I know.",
        ),
        ("schedule checkin mon 09:00 tz:Europe/Berln", "Did you mean `Europe/Berlin`?"),
        (
            "schedule checkin mon 09:00 every 0 weeks",
            "the interval must be at least 1 week",
        ),
        ("schedule checkin mon 09:00 every 3 days", "schedules repeat in whole weeks only"),
        (f"schedule checkin {mention(ANA)} 09:00", "has no place in `/circle schedule`"),
        # What was typed is echoed escaped: it can't ping the channel.
        ("schedule checkin &lt;!channel&gt; 09:00", "“&lt;!channel&gt;” is not a day."),
    ],
)
def test_schedule_refuses_bad_input_with_the_correct_form(
    bot: BotHarness, text: str, expected: str
) -> None:
    start_circle(bot)
    reply = bot.slash(text)
    assert expected in reply.ack_text
    assert "<!channel>" not in reply.ack_text
    assert [s.kind for s in schedules(bot)] == ["digest"]


# --- schedules -----------------------------------------------------------------------------------


def test_schedules_lists_each_schedule_with_the_next_time_in_the_readers_zone(
    bot: BotHarness,
) -> None:
    start_circle(bot)
    bot.slash("schedule checkin wed 10:00 tz:Europe/Berlin")
    bot.slash("demoday 2026-12-10 15:00 Q4 demo day")
    [digest, checkin] = schedules(bot)

    fran = bot.slash("schedules").ack_text
    assert fran.startswith(
        "*Product Leads*: 2 schedules (next times in your time zone, Europe/London)"
    )
    assert f"• #{digest.id} leaders' digest: every Monday;" in fran
    assert (
        f"• #{checkin.id} check-in: every Wednesday, at 10:00 Europe/Berlin for everyone. "
        "Next: Wed 18 Nov, 09:00 (Europe/London)"
    ) in fran
    assert "Q4 demo day" not in fran and "Demo days are listed by `/circle demodays`" in fran

    # Ana is in New York, where it is still 04:00 on Monday: her digest is today at 08:00.
    ana = bot.slash("schedules", user=ANA).ack_text
    assert "(next times in your time zone, America/New_York)" in ana
    assert "Next: Mon 16 Nov, 08:00 (America/New_York)" in ana
    assert "Next: Wed 18 Nov, 04:00 (America/New_York)" in ana


def test_schedules_says_when_there_are_none(bot: BotHarness) -> None:
    start_circle(bot)
    [digest] = schedules(bot)
    bot.slash(f"unschedule {digest.id}")
    text = bot.slash("schedules", user=DANA).ack_text
    assert (
        "*Product Leads* has no schedules. Add one with `/circle schedule checkin mon 09:00`."
        in text
    )


# --- unschedule ----------------------------------------------------------------------------------


def test_unschedule_removes_a_schedule_and_keeps_the_row(bot: BotHarness, clock: FakeClock) -> None:
    start_circle(bot)
    bot.slash("schedule checkin mon 09:00")
    [digest, checkin] = schedules(bot)
    reply = bot.slash(f"unschedule {checkin.id}")
    assert reply.ack_text == (
        f"Removed the check-in schedule #{checkin.id} (every Monday; each participant gets it at "
        "09:00 in their own time zone). Nothing more is sent for it."
    )
    assert [s.removed_at for s in schedules(bot)] == [None, clock.now]
    assert f"#{checkin.id}" not in bot.slash("schedules").ack_text
    # Again: it is gone already.
    again = bot.slash(f"unschedule #{checkin.id}").ack_text
    assert again == (
        f"Schedule #{checkin.id} was already removed on 2026-11-16. Its schedules are "
        f"#{digest.id} (leaders' digest), e.g. `/circle unschedule {digest.id}`."
    )


def test_unschedule_refuses_ids_of_other_circles_and_unknown_ids(bot: BotHarness) -> None:
    start_circle(bot)
    start_circle(bot, channel=OTHER_CHANNEL, by=ANA)  # Ana facilitates a second circle
    [ours] = schedules(bot, circle_row(bot).id)
    [theirs] = [s for s in schedules(bot) if s.id != ours.id]
    for wrong in (theirs.id, 999):
        reply = bot.slash(f"unschedule {wrong}")
        assert reply.ack_text == (
            f"There is no schedule #{wrong} in *Product Leads*. Its schedules are "
            f"#{ours.id} (leaders' digest), e.g. `/circle unschedule {ours.id}`."
        )
    assert [s.removed_at for s in schedules(bot)] == [None, None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unschedule", "Give the schedule id from `/circle schedules`. Use `/circle unschedule"),
        (
            "unschedule abc",
            "“abc” is not a schedule id: ids are the numbers `/circle schedules` shows.",
        ),
        ("unschedule -1", "“-1” is not a schedule id"),
        ("unschedule 1 2", "Give one schedule id at a time."),
    ],
)
def test_unschedule_refuses_malformed_ids(bot: BotHarness, text: str, expected: str) -> None:
    start_circle(bot)
    assert expected in bot.slash(text).ack_text
    assert [s.removed_at for s in schedules(bot)] == [None]


# --- demo days -----------------------------------------------------------------------------------


def test_demoday_is_stored_and_shown_in_each_readers_zone(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = start_circle(bot)
    reply = bot.slash("demoday 2026-12-10 15:00 Q4 demo day remind:3d,2h")
    [demo] = demo_days(bot)
    starts = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)  # London is on GMT in December
    assert (demo.circle_id, demo.team_id, demo.title, demo.starts_at) == (
        circle_id,
        TEAM,
        "Q4 demo day",
        starts,
    )
    assert demo.reminder_offsets == "259200,7200"
    assert (demo.created_by, demo.created_at, demo.cancelled_at) == (FAC, clock.now, None)
    assert reply.ack_text == (
        f"Planned demo day #{demo.id} *Q4 demo day*: "
        f"{slack_date(starts, 'Thu 10 Dec 2026, 15:00 (Europe/London)')}.\n"
        "The channel is reminded 3 days before "
        f"({slack_date(starts - timedelta(days=3), 'Mon 7 Dec 2026, 15:00 (Europe/London)')}); "
        "2 hours before "
        f"({slack_date(starts - timedelta(hours=2), 'Thu 10 Dec 2026, 13:00 (Europe/London)')}).\n"
        f"`/circle demoday cancel {demo.id}` cancels it."
    )


def test_demoday_reads_the_time_in_the_callers_zone_with_default_reminders(
    bot: BotHarness,
) -> None:
    start_circle(bot)
    bot.slash(f"add {mention(ANA)} as facilitator")
    bot.slash("demoday 2026-12-10 15:00 Ana's demo", user=ANA)
    [demo] = demo_days(bot)
    assert demo.starts_at == datetime(2026, 12, 10, 20, 0, tzinfo=UTC)  # 15:00 in New York
    assert demo.reminder_offsets == "604800,86400,3600"


def test_demoday_title_is_escaped(bot: BotHarness) -> None:
    start_circle(bot)
    reply = bot.slash("demoday 2026-12-10 15:00 R&amp;D &lt;!channel&gt; show")
    [demo] = demo_days(bot)
    assert demo.title == "R&D <!channel> show"
    assert "*R&amp;D &lt;!channel&gt; show*" in reply.ack_text
    assert "<!channel>" not in reply.ack_text
    assert "*R&amp;D &lt;!channel&gt; show*" in bot.slash("demodays").ack_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("demoday", "Give the date, the time and a title. Use `/circle demoday"),
        (
            "demoday 2026-12-10 15:00",
            "The demo day needs a title after the time, e.g. `/circle demoday 2026-11-30 15:00 "
            "Q4 demo day remind:3d,2h`.",
        ),
        ("demoday 10/12/2026 15:00 Demo", "“10/12/2026” is not a date I can read."),
        ("demoday 2026-12-10 25:00 Demo", "“25:00” is not a time: hours go from 00 to 23."),
        ("demoday 2026-11-01 15:00 Demo", "2026-11-01 15:00 (Europe/London) is in the past."),
        ("demoday 2026-11-16 08:00 Demo", "2026-11-16 08:00 (Europe/London) is in the past."),
        (
            "demoday 2027-12-01 15:00 Demo",
            "2027-12-01 15:00 (Europe/London) is more than a year away; demo days can be "
            "scheduled up to 365 days ahead",
        ),
        ("demoday 2026-12-10 15:00 Demo remind:soon", "In `remind:` “soon” is not a duration."),
        (
            "demoday 2026-11-16 10:00 Demo remind:3d",
            "All the reminders in `remind:3d` would be in the past: the demo day starts in less "
            "time than that. Use shorter ones, e.g. `remind:1h`, or `remind:none`.",
        ),
    ],
)
def test_demoday_refuses_bad_input_with_the_correct_form(
    bot: BotHarness, text: str, expected: str
) -> None:
    start_circle(bot)
    reply = bot.slash(text)
    assert expected in reply.ack_text
    assert demo_days(bot) == []


def test_demodays_lists_upcoming_ones_with_their_sign_ups(
    bot: BotHarness, clock: FakeClock
) -> None:
    start_circle(bot)
    bot.slash("demoday 2026-11-16 12:00 Lunch demo remind:none")
    bot.slash("demoday 2027-01-14 16:00 January demo")
    bot.slash("demoday 2026-12-10 15:00 Q4 demo day")
    bot.slash("demoday 2026-12-17 15:00 Cancelled one")
    lunch, january, q4, cancelled = demo_days(bot)
    bot.slash(f"demoday cancel {cancelled.id}")
    with bot.db.session() as session:
        for user in (ANA, BEN):
            session.add(
                DemoSignup(
                    team_id=TEAM,
                    demo_day_id=q4.id,
                    user_id=user,
                    title="A thing",
                    created_at=clock.now,
                    updated_at=clock.now,
                )
            )
    clock.advance(hours=4)  # lunch is over
    text = bot.slash("demodays", user=BEN).ack_text
    assert text.splitlines() == [
        "*Product Leads*: upcoming demo days",
        f"• #{q4.id} *Q4 demo day*: "
        f"{slack_date(q4.starts_at, 'Thu 10 Dec 2026, 15:00 (UTC)')}, 2 signed up",
        f"• #{january.id} *January demo*: "
        f"{slack_date(january.starts_at, 'Thu 14 Jan 2027, 16:00 (UTC)')}, 0 signed up",
    ]
    assert lunch.id is not None


def test_demodays_says_when_there_are_none(bot: BotHarness) -> None:
    start_circle(bot)
    text = bot.slash("demodays", user=ANA).ack_text
    assert text.startswith("*Product Leads* has no upcoming demo days. Plan one with")


def test_cancelling_a_demo_day_tells_the_channel(bot: BotHarness, clock: FakeClock) -> None:
    start_circle(bot)
    bot.slash("demoday 2026-12-10 15:00 Q4 demo day")
    [demo] = demo_days(bot)
    posts_before = len(bot.calls("chat.postMessage"))
    reply = bot.slash(f"demoday cancel {demo.id}")
    assert reply.ack_text.startswith(f"Cancelled demo day #{demo.id} *Q4 demo day* (<!date^")
    assert "Its reminders won't be posted" in reply.ack_text
    assert reply.follow_ups == []
    [cancelled] = demo_days(bot)
    assert (cancelled.cancelled_at, cancelled.cancelled_by) == (clock.now, FAC)
    [post] = bot.calls("chat.postMessage")[posts_before:]
    assert post.args["channel"] == CHANNEL
    assert post.args["text"] == "Q4 demo day, the Product Leads demo day, is cancelled."
    shown = json.dumps(post.args["blocks"])
    assert f"<@{FAC}> cancelled it" in shown and "*Q4 demo day*" in shown
    # Twice: it says so, and the channel hears nothing more.
    again = bot.slash(f"demoday cancel {demo.id}")
    assert (
        again.ack_text == f"Demo day #{demo.id} *Q4 demo day* was already cancelled on 2026-11-16."
    )
    assert len(bot.calls("chat.postMessage")) == posts_before + 1


def test_a_cancellation_stands_when_the_channel_cannot_be_told(bot: BotHarness) -> None:
    start_circle(bot)
    bot.slash("demoday 2026-12-10 15:00 Q4 demo day")
    bot.fake.inject_error("chat.postMessage", "not_in_channel")
    reply = bot.slash("demoday cancel 1")
    [answer] = reply.follow_ups
    assert answer["text"].startswith(
        "I couldn't tell the channel that demo day #1 *Q4 demo day* (<!date^"
    )
    assert (
        "is cancelled (not_in_channel). It stays cancelled; please let people know"
        in answer["text"]
    )
    assert "Invite me with `/invite @Circlebot`" in answer["text"]
    [demo] = demo_days(bot)
    assert demo.cancelled_at is not None


def test_demoday_cancel_refuses_ids_not_in_this_circle_and_past_demo_days(
    bot: BotHarness, clock: FakeClock
) -> None:
    start_circle(bot)
    start_circle(bot, channel=OTHER_CHANNEL, by=ANA)
    bot.slash("demoday 2026-12-10 15:00 Theirs", user=ANA, channel=OTHER_CHANNEL)
    bot.slash("demoday 2026-11-16 10:00 Soon remind:none")
    bot.slash("demoday 2026-12-10 15:00 Ours")
    theirs, soon, ours = demo_days(bot)
    reply = bot.slash(f"demoday cancel {theirs.id}")
    assert reply.ack_text == (
        f"There is no demo day #{theirs.id} in *Product Leads*. Its upcoming demo days are "
        f"#{soon.id} (*Soon*), #{ours.id} (*Ours*), e.g. `/circle demoday cancel {soon.id}`."
    )
    clock.advance(hours=2)
    reply = bot.slash(f"demoday cancel {soon.id}")
    assert reply.ack_text.startswith(f"Demo day #{soon.id} *Soon* already took place (<!date^")
    assert all(d.cancelled_at is None for d in demo_days(bot))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("demoday cancel", "Give the demo day id from `/circle demodays`."),
        ("demoday cancel Q4", "“Q4” is not a demo day id"),
        ("demodays soon", "`/circle demodays` takes no arguments"),
    ],
)
def test_demoday_cancel_refuses_malformed_ids(bot: BotHarness, text: str, expected: str) -> None:
    start_circle(bot)
    assert expected in bot.slash(text).ack_text


# --- pause, resume -------------------------------------------------------------------------------


def test_pause_until_a_date_then_resume(bot: BotHarness, clock: FakeClock) -> None:
    start_circle(bot)
    reply = bot.slash("pause until 2026-12-31")
    assert reply.ack_text == (
        "Paused *Product Leads* until Thu 31 Dec 2026 (inclusive, Europe/London): no check-ins, "
        "debriefs, digests or demo-day reminders are sent until then. `/circle resume` ends the "
        "pause early."
    )
    circle = circle_row(bot)
    assert (circle.paused_at, circle.paused_until) == (clock.now, date(2026, 12, 31))

    clock.advance(hours=1)
    reply = bot.slash("pause")
    assert reply.ack_text.startswith(
        "It was already paused until 2026-12-31 (inclusive). Paused *Product Leads*: "
    )
    assert "until someone runs `/circle resume`" in reply.ack_text
    circle = circle_row(bot)
    assert circle.paused_at == clock.now - timedelta(hours=1)  # the pause began earlier
    assert circle.paused_until is None

    reply = bot.slash("resume")
    assert reply.ack_text == "Resumed *Product Leads*: scheduled messages go out again from now on."
    circle = circle_row(bot)
    assert (circle.paused_at, circle.paused_until) == (None, None)
    assert (
        bot.slash("resume").ack_text
        == "*Product Leads* isn't paused, so there is nothing to resume."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "pause until 2026-11-15",
            "2026-11-15 is in the past: it is 2026-11-16 in Europe/London, the circle's time "
            "zone. Use today or a later date. Use `/circle pause [until &lt;YYYY-MM-DD&gt;]`",
        ),
        ("pause until", "The date after `until` is missing."),
        ("pause until tomorrow", "“tomorrow” is not a date I can read. Use `YYYY-MM-DD`"),
        ("pause until 2026-02-30", "“2026-02-30” is not a real calendar date."),
        ("pause for a while", "I didn't understand “for a while”."),
        ("resume now", "`/circle resume` takes no arguments"),
    ],
)
def test_pause_refuses_bad_dates(bot: BotHarness, text: str, expected: str) -> None:
    start_circle(bot)
    assert expected in bot.slash(text).ack_text
    assert circle_row(bot).paused_at is None


@pytest.mark.parametrize(
    ("pause", "note"),
    [
        ("pause until 2026-12-31", "The circle is paused until 2026-12-31 (inclusive); "),
        ("pause", "The circle is paused until someone runs `/circle resume`; "),
    ],
)
def test_schedule_and_demoday_work_on_a_paused_circle_and_say_it_is_paused(
    bot: BotHarness, pause: str, note: str
) -> None:
    start_circle(bot)
    bot.slash(pause)
    reply = bot.slash("schedule checkin mon 09:00")
    assert reply.ack_text.startswith("Scheduled the check-in")
    assert reply.ack_text.endswith(note + "nothing is sent until then.")
    reply = bot.slash("demoday 2027-01-14 15:00 January demo")
    assert reply.ack_text.startswith("Planned demo day")
    assert reply.ack_text.endswith(note + "nothing is sent until then.")
    assert note in bot.slash("schedules", user=ANA).ack_text
    assert len(schedules(bot)) == 2 and len(demo_days(bot)) == 1


def test_a_pause_that_has_ended_is_not_mentioned(bot: BotHarness, clock: FakeClock) -> None:
    start_circle(bot)
    bot.slash("pause until 2026-11-17")
    clock.advance(days=2, hours=1)
    reply = bot.slash("schedule checkin mon 09:00")
    assert "paused" not in reply.all_text
    assert bot.slash("resume").ack_text.endswith("isn't paused, so there is nothing to resume.")


# --- skip ----------------------------------------------------------------------------------------


def test_skip_a_scheduled_date(bot: BotHarness, clock: FakeClock) -> None:
    start_circle(bot)
    [digest] = schedules(bot)
    reply = bot.slash("skip 2026-11-23")
    assert reply.ack_text == (
        "Skipped Mon 23 Nov 2026 (Europe/London): nothing of *Product Leads* is sent that day "
        f"(leaders' digest #{digest.id})."
    )
    with bot.db.session() as session:
        [row] = session.exec(select(SkipDay)).all()
        assert (row.day, row.circle_id, row.team_id) == (date(2026, 11, 23), digest.circle_id, TEAM)
        assert (row.created_by, row.created_at) == (FAC, clock.now)
    again = bot.slash("skip 2026-11-23")
    assert again.ack_text == "Mon 23 Nov 2026 is already skipped: nothing is sent that day."
    assert skip_days(bot) == [date(2026, 11, 23)]


def test_skip_refuses_a_date_with_nothing_scheduled_and_suggests_the_next_ones(
    bot: BotHarness,
) -> None:
    start_circle(bot)
    bot.slash("skip 2026-11-23")
    reply = bot.slash("skip 2026-11-24")
    assert reply.ack_text == (
        "Nothing of *Product Leads* is scheduled on Tue 24 Nov 2026 (Europe/London), so there is "
        "nothing to skip. The next days with something scheduled: `/circle skip 2026-11-30`, "
        "`/circle skip 2026-12-07`, `/circle skip 2026-12-14`."
    )
    assert skip_days(bot) == [date(2026, 11, 23)]


def test_skip_counts_biweekly_series_pinned_zones_and_demo_day_reminders(
    bot: BotHarness,
) -> None:
    start_circle(bot)
    # Fridays of the series: 20 Nov, 4 Dec, … (not 27 Nov).
    bot.slash("schedule debrief fri 16:00 every 2 weeks")
    # Tuesday 06:00 in Tokyo is still Monday in London: it counts on the Tuesday.
    bot.slash("schedule checkin tue 06:00 tz:Asia/Tokyo")
    bot.slash("demoday 2026-12-10 15:00 Q4 demo day")  # reminders 3, 9 and 10 Dec
    refused = bot.slash("skip 2026-11-27").ack_text
    assert refused.startswith("Nothing of *Product Leads* is scheduled on Fri 27 Nov 2026")
    assert (
        "`/circle skip 2026-11-17`, `/circle skip 2026-11-20`, `/circle skip 2026-11-23`" in refused
    )

    reply = bot.slash("skip 2026-12-04")
    assert "(debrief #2)" in reply.ack_text
    reply = bot.slash("skip 2026-11-24")
    assert "(check-in #3)" in reply.ack_text
    reply = bot.slash("skip 2026-12-09")
    assert "(a reminder of demo day #1 *Q4 demo day*)" in reply.ack_text
    assert "Nothing of" in bot.slash("skip 2026-12-02").ack_text
    assert skip_days(bot) == [date(2026, 11, 24), date(2026, 12, 4), date(2026, 12, 9)]


def test_skip_reads_dates_in_the_circles_own_zone_when_it_has_one(
    bot: BotHarness, clock: FakeClock
) -> None:
    start_circle(bot)
    bot.slash("unschedule 1")
    with bot.db.session() as session:
        circle = session.get(Circle, circle_row(bot).id)
        assert circle is not None
        circle.tz = "Pacific/Auckland"
    # 13:00 UTC on Monday 30 Nov is 02:00 on Tuesday 1 Dec in Auckland.
    bot.slash("demoday 2026-11-30 14:00 Demo remind:1h")
    refused = bot.slash("skip 2026-11-30").ack_text
    assert refused == (
        "Nothing of *Product Leads* is scheduled on Mon 30 Nov 2026 (Pacific/Auckland), so there "
        "is nothing to skip. The next days with something scheduled: `/circle skip 2026-12-01`."
    )
    assert "(a reminder of demo day #1 *Demo*)" in bot.slash("skip 2026-12-01").ack_text
    clock.advance(hours=2)  # midnight in Auckland, still Monday morning in London
    assert bot.slash("skip 2026-11-16").ack_text.startswith(
        "2026-11-16 is in the past: it is 2026-11-17 in Pacific/Auckland, the circle's time zone."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("skip", "Say which date to skip. Use `/circle skip"),
        ("skip 2026-11-15", "2026-11-15 is in the past: it is 2026-11-16 in Europe/London"),
        ("skip 24/12/2026", "“24/12/2026” is not a date I can read."),
        ("skip 2026-12-24 2026-12-31", "Skip one date at a time."),
        ("skip 2028-01-03", "2028-01-03 is more than a year away"),
    ],
)
def test_skip_refuses_bad_dates(bot: BotHarness, text: str, expected: str) -> None:
    start_circle(bot)
    assert expected in bot.slash(text).ack_text
    assert skip_days(bot) == []


def test_skip_with_nothing_scheduled_at_all_suggests_a_pause(bot: BotHarness) -> None:
    start_circle(bot)
    bot.slash("unschedule 1")
    text = bot.slash("skip 2026-11-23").ack_text
    assert "The circle has no check-ins, debriefs, digests or demo-day reminders coming up." in text
    assert "`/circle pause until 2026-11-30`" in text


# --- away, back ----------------------------------------------------------------------------------


def test_away_and_back_change_only_the_callers_membership(bot: BotHarness) -> None:
    start_circle(bot)
    reply = bot.slash("away until 2027-01-05", user=ANA)
    assert reply.ack_text == (
        "You're away until Tue 5 Jan 2027 (inclusive): *Product Leads* sends you no check-ins, "
        "debriefs, digests or nudges until then. `/circle back` ends it early."
    )
    assert membership(bot, ANA).away_until == date(2027, 1, 5)
    assert membership(bot, BEN).away_until is None
    reply = bot.slash("away 2027-01-02", user=DANA)  # `until` is optional
    assert membership(bot, DANA).away_until == date(2027, 1, 2)

    assert (
        bot.slash("back", user=ANA).ack_text
        == "Welcome back: *Product Leads* sends you its messages again."
    )
    assert membership(bot, ANA).away_until is None
    assert membership(bot, DANA).away_until == date(2027, 1, 2)
    assert bot.slash("back", user=ANA).ack_text == (
        "You aren't marked away in *Product Leads*, so nothing changed."
    )


def test_away_reads_today_in_the_callers_own_zone(bot: BotHarness, clock: FakeClock) -> None:
    clock.now = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # Sunday evening in New York
    start_circle(bot)
    assert "is in the past: it is 2026-11-16 in Europe/London, your time zone" in (
        bot.slash("away until 2026-11-15").ack_text
    )
    bot.slash("away until 2026-11-15", user=ANA)
    assert membership(bot, ANA).away_until == date(2026, 11, 15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("away", "Say until when. Use `/circle away until"),
        ("away until", "The date after `until` is missing."),
        ("away until next week", "I didn't understand “next week”."),
        (f"away {mention(BEN)} until 2027-01-05", "`/circle away` is for yourself"),
        ("back soon", "`/circle back` takes no arguments"),
    ],
)
def test_away_refuses_bad_input(bot: BotHarness, text: str, expected: str) -> None:
    start_circle(bot)
    assert expected in bot.slash(text, user=ANA).ack_text
    assert membership(bot, BEN).away_until is None
    assert membership(bot, ANA).away_until is None


@pytest.mark.parametrize("text", ["away until 2027-01-05", "back"])
def test_only_members_can_be_away_or_back(bot: BotHarness, text: str) -> None:
    start_circle(bot)
    reply = bot.slash(text, user=EVE)
    assert reply.ack_text.startswith("Only members of *Product Leads* can mark themselves")
    assert f"Ask <@{FAC}> to add you." in reply.ack_text


# --- settings ------------------------------------------------------------------------------------


def test_set_nudge_on_and_off(bot: BotHarness) -> None:
    start_circle(bot)
    assert circle_row(bot).nudge_after_minutes == 24 * 60  # the default
    reply = bot.slash("set nudge 12h")
    assert reply.ack_text == (
        "Nudges for *Product Leads*: anyone who hasn't answered a check-in gets one reminder "
        "12 hours after it."
    )
    assert circle_row(bot).nudge_after_minutes == 12 * 60
    bot.slash("set nudge 1d12h")
    assert circle_row(bot).nudge_after_minutes == 36 * 60
    reply = bot.slash("set nudge off")
    assert reply.ack_text.startswith("Nudges for *Product Leads* are off")
    assert circle_row(bot).nudge_after_minutes is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("set", "Say which setting to change. The settings are: `/circle set nudge 12h`"),
        (
            "set colour blue",
            "There is no setting called “colour”. The settings are: `/circle set nudge 12h`",
        ),
        ("set nudge", "A duration is missing."),
        ("set nudge 30m", "“30m” is too short for a nudge"),
        ("set nudge 8d", "“8d” is too long for a nudge"),
        ("set nudge soon", "“soon” is not a duration."),
        ("set nudge 12h please", "`/circle set nudge` takes one value"),
    ],
)
def test_set_refuses_unknown_settings_and_bad_values(
    bot: BotHarness, text: str, expected: str
) -> None:
    start_circle(bot)
    assert expected in bot.slash(text).ack_text
    assert circle_row(bot).nudge_after_minutes == 24 * 60


# --- who may, where ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("schedule checkin mon 09:00", "schedule check-ins, debriefs and digests"),
        ("unschedule 1", "remove schedules"),
        ("demoday 2026-12-10 15:00 Q4 demo day", "plan demo days"),
        ("demoday cancel 1", "cancel demo days"),
        ("pause until 2026-12-31", "pause it"),
        ("resume", "resume it"),
        ("skip 2026-11-23", "skip a date"),
        ("set nudge 12h", "change its settings"),
    ],
)
@pytest.mark.parametrize("who", [ANA, DANA, EVE], ids=["participant", "leader", "outsider"])
def test_only_a_facilitator_may_change_the_rhythm(
    bot: BotHarness, text: str, action: str, who: str
) -> None:
    start_circle(bot)
    bot.slash("demoday 2026-12-10 15:00 Q4 demo day")
    bot.slash("pause")
    before = rhythm_rows(bot)
    reply = bot.slash(text, user=who)
    assert reply.ack_text == f"Only a facilitator of *Product Leads* can {action}. Ask <@{FAC}>."
    assert reply.follow_ups == []
    assert rhythm_rows(bot) == before
    assert skip_days(bot) == []


@pytest.mark.parametrize(
    ("text", "action"), [("schedules", "see its schedules"), ("demodays", "see its demo days")]
)
def test_members_may_look_and_outsiders_may_not(bot: BotHarness, text: str, action: str) -> None:
    start_circle(bot)
    for who in (FAC, ANA, DANA):
        assert "*Product Leads*" in bot.slash(text, user=who).ack_text
    reply = bot.slash(text, user=EVE)
    assert (
        reply.ack_text == f"Only members of *Product Leads* can {action}. Ask <@{FAC}> to add you."
    )


@pytest.mark.parametrize(
    "text",
    [
        "schedule checkin mon 09:00",
        "schedules",
        "demoday 2026-12-10 15:00 Q4 demo day",
        "demoday cancel 1",
        "skip 2026-11-23",
        "set nudge 12h",
        "pause",
        "away until 2027-01-05",
    ],
)
def test_an_archived_circle_has_no_rhythm(bot: BotHarness, text: str) -> None:
    start_circle(bot)
    bot.slash("archive")
    reply = bot.slash(text)
    assert reply.ack_text.startswith(
        "This channel's circle *Product Leads* was archived on 2026-11-16."
    )
    assert len(schedules(bot)) == 1 and demo_days(bot) == [] and skip_days(bot) == []


def test_rhythm_commands_outside_a_circle_channel_say_where_to_run_them(
    bot: BotHarness,
) -> None:
    start_circle(bot)
    reply = bot.slash("schedule checkin mon 09:00", channel=OTHER_CHANNEL)
    assert reply.ack_text == (
        "There is no circle in this channel. Run `/circle schedule` in your circle's channel: "
        f"<#{CHANNEL}> (*Product Leads*)."
    )
    reply = bot.slash("demoday cancel 3", channel="D0FRAN")
    assert reply.ack_text.startswith(
        "There is no circle in a direct message. Run `/circle demoday cancel`"
    )


# --- time zones and the clock --------------------------------------------------------------------


def test_next_times_follow_daylight_saving_changes(bot: BotHarness, clock: FakeClock) -> None:
    """New York leaves summer time a week after London: 09:00 there is 13:00, then 14:00 here."""
    clock.now = datetime(2026, 10, 26, 10, 0, tzinfo=UTC)  # Monday; London is on GMT since Sunday
    start_circle(bot)
    reply = bot.slash("schedule checkin tue 09:00 tz:America/New_York")
    assert "Next: Tue 27 Oct, 13:00 (Europe/London)." in reply.ack_text
    clock.advance(days=7)  # Fran's cached profile is now stale: the answer follows the ack
    reply = bot.slash("schedules")
    assert reply.ack_text == CHECKING_ZONE
    assert "Next: Tue 3 Nov, 14:00 (Europe/London)" in reply.follow_ups[-1]["text"]


def test_a_time_in_the_spring_forward_gap_is_shown_when_it_really_fires(
    bot: BotHarness, clock: FakeClock
) -> None:
    clock.now = datetime(2027, 3, 22, 10, 0, tzinfo=UTC)
    start_circle(bot)
    reply = bot.slash("schedule checkin sun 01:30")  # 01:30 doesn't exist in London on 28 Mar
    assert "Next: Sun 28 Mar, 02:00 (Europe/London)." in reply.ack_text
    reply = bot.slash("schedule debrief sun 01:30 tz:America/New_York")
    assert "Next: Sun 28 Mar, 06:30 (Europe/London)." in reply.ack_text  # EDT since 14 Mar


def test_a_stale_profile_is_refreshed_after_the_ack(bot: BotHarness, clock: FakeClock) -> None:
    start_circle(bot)
    clock.advance(days=2)
    bot.fake.users[FAC].tz = "Asia/Tokyo"  # Fran moved
    lookups = len(bot.calls("users.info"))
    reply = bot.slash("schedule checkin mon 09:00")
    assert reply.ack_text == CHECKING_ZONE
    [answer] = reply.follow_ups
    assert answer["text"].startswith("Scheduled the check-in (#2)")
    assert "Next: Mon 23 Nov, 09:00 (Asia/Tokyo)." in answer["text"]
    assert len(bot.calls("users.info")) == lookups + 1
    person = bot.person(FAC)
    assert person is not None and person.tz == "Asia/Tokyo"
    assert schedules(bot)[-1].anchor == date(2026, 11, 18)  # today in Tokyo
    # Fresh now: the next answer comes straight away.
    assert bot.slash("schedules").ack_text.startswith("*Product Leads*: 2 schedules")


def test_without_slack_the_last_known_zone_is_used_and_said(
    bot: BotHarness, clock: FakeClock
) -> None:
    start_circle(bot)
    clock.advance(days=2)
    bot.fake.inject_error("users.info", "internal_error", times=50)
    reply = bot.slash("schedules")
    assert reply.ack_text == CHECKING_ZONE
    text = reply.follow_ups[-1]["text"]
    assert text.startswith(
        "_I couldn't get your time zone from Slack, so I used the one I last saw "
        "(Europe/London)._\n"
    )
    assert "(Europe/London)" in text


def test_without_slack_and_without_a_profile_utc_is_used_and_said(bot: BotHarness) -> None:
    start_circle(bot)
    with bot.db.session() as session:
        person = session.get(Person, (TEAM, FAC))
        session.delete(person)
    bot.fake.inject_error("users.info", "internal_error", times=50)
    reply = bot.slash("schedule checkin mon 09:00")
    text = reply.follow_ups[-1]["text"]
    assert text.startswith("_I couldn't get your time zone from Slack, so I used UTC._\n")
    assert "Next: Mon 23 Nov, 09:00 (UTC)." in text
    assert len(schedules(bot)) == 2


def test_a_circle_archived_while_looking_up_the_zone_gets_nothing_new(
    bot: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_circle(bot)
    clock.advance(days=2)
    from bot.slack import people

    real = people.look_up_people

    def archive_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        with bot.db.session() as session:
            circle = session.get(Circle, circle_row(bot).id)
            assert circle is not None
            circle.archived_at = clock.now
        return real(*args, **kwargs)

    monkeypatch.setattr(people, "look_up_people", archive_meanwhile)
    reply = bot.slash("schedule checkin mon 09:00")
    assert reply.ack_text == CHECKING_ZONE
    assert "was archived on" in reply.follow_ups[-1]["text"]
    assert len(schedules(bot)) == 1
