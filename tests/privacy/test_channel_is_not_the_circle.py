"""The channel is not the circle: a channel post quotes only what every reader of the channel
may read, whoever else is in it; when that cannot be established, it quotes nothing.

Each test plays an adversary in the channel (a leader, someone removed from the circle,
someone never in it, a member listed on the second page of `conversations.members`) against
the real bot: signed `/circle` commands, the real delivery tick, the fake Slack recording
every call. Both databases.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from bot.sandbox.fake_slack import FakeUser
from storage.models import DemoDay, DemoSignup
from tests.bot.digest.test_compose import LONG_AGO, SENT, History, block_texts, posts_to, utc
from tests.harness import ANA, BEN, CHANNEL, CHLOE, DANA, EVE, FAC, BotHarness, FakeClock

CIRCLE_TEXT = "CIRCLE-WORDS only the circle may read"
CIRCLE_ITEM = "CIRCLE-ITEM call the supplier"
LEADERS_TEXT = "LEADERS-WORDS shared with leaders too"
SIGNUP_TOPIC = "SIGNUP-TOPIC pricing experiment"
WEDNESDAY = utc(2026, 11, 18, 12)  # the week of Mon 16 Nov, in progress
CIRCLE_MEMBERS = [FAC, ANA, BEN, CHLOE]


def set_up(bot: BotHarness, clock: FakeClock) -> int:
    """Product Leads: Fran facilitates Ana, Ben and Chloé, Dana leads it. Ana shares a
    reflection with the circle (with an action item due this week), Ben one with leaders,
    Chloé signs up to demo. The harness's channel holds everyone, Dana and Eve too."""
    clock.now = utc(2026, 11, 16, 8)
    assert "Created" in bot.slash("create Product Leads").ack_text
    bot.slash(f"add <@{ANA}|ana> <@{BEN}|ben> <@{CHLOE}|chloe>")
    bot.slash(f"add <@{DANA}|dana> as leader")
    [circle] = bot.circles()
    assert circle.id is not None
    with bot.db.session() as s:
        h = History(s)
        h.reflect(
            circle,
            ANA,
            CIRCLE_TEXT,
            visibility="circle",
            named=True,
            item=(CIRCLE_ITEM, date(2026, 11, 20), None),
        )
        h.reflect(circle, BEN, LEADERS_TEXT, visibility="leaders", at=SENT + timedelta(hours=3))
        demo = DemoDay(
            team_id=circle.team_id,
            circle_id=circle.id,
            title="December demos",
            starts_at=utc(2026, 12, 3, 15),
            reminder_offsets="86400",
            created_by=FAC,
            created_at=LONG_AGO,
        )
        s.add(demo)
        s.flush()
        s.add(
            DemoSignup(
                team_id=circle.team_id,
                demo_day_id=demo.id,  # type: ignore[arg-type]
                user_id=CHLOE,
                title=SIGNUP_TOPIC,
                created_at=SENT,
                updated_at=SENT,
            )
        )
    clock.now = WEDNESDAY
    return circle.id


def channel_posts(bot: BotHarness) -> list[dict[str, object]]:
    """What the bot posted in the channel, but its hello when the circle was created."""
    return [
        p for p in posts_to(bot, CHANNEL) if "started the peer coaching circle" not in p["text"]
    ]


def send_digest(bot: BotHarness) -> str:
    """`/circle digest send`; returns the channel post's text."""
    reply = bot.slash("digest send")
    assert "Sent the digest" in reply.all_text, reply.all_text
    [post] = channel_posts(bot)
    return json.dumps(post, ensure_ascii=False)


def facilitator_dm(bot: BotHarness) -> str:
    [dm] = posts_to(bot, FAC)
    return block_texts(dm)


def test_only_the_circle_in_the_channel_gets_what_was_shared_with_the_circle(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The control: with only circle members in the channel the quotes are there, so the
    tests below that find them missing can fail."""
    set_up(bot, clock)
    bot.fake.add_channel(CHANNEL, "product-leads", CIRCLE_MEMBERS)
    post = send_digest(bot)
    assert CIRCLE_TEXT in post and CIRCLE_ITEM in post and LEADERS_TEXT in post
    assert SIGNUP_TOPIC in post
    assert "members outside the circle" not in post
    assert f"*Channel:* only the circle reads <#{CHANNEL}>" in facilitator_dm(bot)


def test_a_leader_in_the_channel_never_reads_circle_text(bot: BotHarness, clock: FakeClock) -> None:
    """The reproduction: the leader sits in the channel (as in the README's walk-through)."""
    set_up(bot, clock)
    bot.fake.add_channel(CHANNEL, "product-leads", [*CIRCLE_MEMBERS, DANA])
    post = send_digest(bot)
    assert CIRCLE_TEXT not in post and CIRCLE_ITEM not in post and SIGNUP_TOPIC not in post
    assert LEADERS_TEXT in post  # what was shared with leaders, every reader may read
    line = (
        "_Some of what people shared with the circle is not quoted here, because this channel "
        "has members outside the circle. Circle members can read it on Circlebot's Home tab._"
    )
    assert line in post and DANA not in post.split(line)[0][-200:]  # names nobody
    everything_dana_got = json.dumps([c.args for c in bot.fake.calls if DANA in str(c.args)])
    assert CIRCLE_TEXT not in everything_dana_got
    assert (
        f"*Channel:* <#{CHANNEL}> has members outside the circle, so its digest leaves out "
        f"what people shared only with the circle: <@{DANA}> (leader)."
    ) in facilitator_dm(bot)


@pytest.mark.parametrize("who", ["removed", "never in the circle", "deactivated", "bot"])
def test_who_else_is_in_the_channel_decides_what_it_may_quote(
    bot: BotHarness, clock: FakeClock, who: str
) -> None:
    set_up(bot, clock)
    members = list(CIRCLE_MEMBERS)
    if who == "removed":
        bot.slash(f"remove <@{CHLOE}|chloe>")  # she stays in the channel
        why = f"<@{CHLOE}> (removed from the circle)"
    elif who == "never in the circle":
        members.append(EVE)
        why = f"<@{EVE}> (not in the circle)"
    elif who == "deactivated":
        bot.fake.add_user(FakeUser(id="UGONE2", name="gone2", real_name="Gone", deleted=True))
        members.append("UGONE2")
        why = ""
    else:
        bot.fake.add_user(FakeUser(id="UBOT2", name="polly", real_name="Polly", is_bot=True))
        members.append("UBOT2")
        why = ""
    bot.fake.add_channel(CHANNEL, "product-leads", members)
    post = send_digest(bot)
    if why:  # a person who may not read circle text: nothing of it is quoted, not even leaders'
        assert CIRCLE_TEXT not in post and LEADERS_TEXT not in post and SIGNUP_TOPIC not in post
        assert f"so its digest leaves out what people shared only with the circle: {why}." in (
            facilitator_dm(bot)
        )
    else:  # bots and deactivated accounts read nothing: the circle's own post is whole
        assert CIRCLE_TEXT in post and SIGNUP_TOPIC in post


def test_an_outsider_on_the_second_page_of_members_is_found(
    bot: BotHarness, clock: FakeClock
) -> None:
    """conversations.members answers a page at a time: the bot reads every page."""
    set_up(bot, clock)
    bots = [f"UPB{n:04d}" for n in range(150)]
    for user_id in bots:
        bot.fake.add_user(FakeUser(id=user_id, name=user_id.lower(), is_bot=True))
    bot.fake.add_channel(CHANNEL, "product-leads", [*CIRCLE_MEMBERS, *bots, EVE])
    post = send_digest(bot)
    pages = [c for c in bot.calls("conversations.members") if c.args.get("cursor")]
    assert pages, "only the first page was read"
    assert CIRCLE_TEXT not in post and LEADERS_TEXT not in post
    assert f"<@{EVE}> (not in the circle)" in facilitator_dm(bot)


@pytest.mark.parametrize(
    ("error", "status"), [("missing_scope", 200), ("channel_not_found", 200), ("fatal_error", 500)]
)
def test_when_the_members_cannot_be_read_nothing_is_quoted(
    bot: BotHarness, clock: FakeClock, error: str, status: int
) -> None:
    set_up(bot, clock)
    bot.fake.add_channel(CHANNEL, "product-leads", CIRCLE_MEMBERS)  # would be fine, if known
    bot.fake.inject_error("conversations.members", error, status=status, times=10)
    post = send_digest(bot)
    assert CIRCLE_TEXT not in post and LEADERS_TEXT not in post and SIGNUP_TOPIC not in post
    assert "I couldn't check who is in this channel" in post
    assert f"*Channel:* I couldn't read who is in <#{CHANNEL}> (`" in facilitator_dm(bot)
    if status == 200:  # Slack's own reason, so the facilitator knows what to fix
        assert f"(`{error}`)" in facilitator_dm(bot)


def test_a_connection_failure_while_reading_members_quotes_nothing(
    bot: BotHarness, clock: FakeClock
) -> None:
    set_up(bot, clock)
    bot.fake.add_channel(CHANNEL, "product-leads", CIRCLE_MEMBERS)
    bot.fake.inject_connection_drop("conversations.members", times=10)
    post = send_digest(bot)
    assert CIRCLE_TEXT not in post and LEADERS_TEXT not in post
    assert "I couldn't check who is in this channel" in post


def test_the_scheduled_digest_and_the_demo_day_reminder_follow_the_same_rule(
    bot: BotHarness, clock: FakeClock
) -> None:
    set_up(bot, clock)
    bot.fake.add_channel(CHANNEL, "product-leads", [*CIRCLE_MEMBERS, DANA])
    report = bot.services.deliverer.tick(utc(2026, 11, 23, 8))  # Monday's scheduled digest
    assert report.failed == 0
    reminder_at = utc(2026, 12, 2, 15)  # a day before the demo day
    bot.services.deliverer.tick(reminder_at)
    posts = json.dumps(channel_posts(bot), ensure_ascii=False)
    assert len(channel_posts(bot)) == 2
    assert CIRCLE_TEXT not in posts and CIRCLE_ITEM not in posts and SIGNUP_TOPIC not in posts
    assert f"<@{CHLOE}>" in posts  # who demos is said; what, only to the circle
    assert "What each person will demo is not shown here" in posts


def test_the_preview_quotes_like_the_channel_and_names_who_is_outside(
    bot: BotHarness, clock: FakeClock
) -> None:
    set_up(bot, clock)
    bot.fake.add_channel(CHANNEL, "product-leads", [*CIRCLE_MEMBERS, DANA, EVE])
    before = len(bot.calls("chat.postMessage"))
    text = bot.slash("digest preview").all_text
    channel_part = text[text.index("*The circle: a post in the channel*") :]
    channel_part = channel_part[: channel_part.index("*Facilitators: a DM")]
    assert CIRCLE_TEXT not in channel_part and LEADERS_TEXT not in channel_part
    assert f"<@{DANA}> (leader), <@{EVE}> (not in the circle)" in text
    assert len(bot.calls("chat.postMessage")) == before  # a preview sends nothing


def test_circle_members_find_the_highlights_on_their_home(
    bot: BotHarness, clock: FakeClock
) -> None:
    """What the channel had to leave out, the circle's own people read on the App Home; the
    leader does not."""
    from tests.handlers.test_home_tab import open_home, texts

    set_up(bot, clock)
    bot.fake.add_channel(CHANNEL, "product-leads", [*CIRCLE_MEMBERS, DANA])
    send_digest(bot)
    assert CIRCLE_TEXT in texts(open_home(bot, BEN))
    assert CIRCLE_TEXT in texts(open_home(bot, FAC))
    assert CIRCLE_TEXT not in texts(open_home(bot, DANA))
    assert CIRCLE_TEXT not in texts(open_home(bot, EVE))
    bot.slash(f"remove <@{CHLOE}|chloe>")
    assert CIRCLE_TEXT not in texts(open_home(bot, CHLOE))
