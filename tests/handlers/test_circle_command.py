"""/circle through the real path: signed HTTP into the bot, fake Slack recording the rest."""

from __future__ import annotations

import pytest

from storage.models import Role
from tests.harness import (
    ANA,
    BEN,
    BOT_USER,
    CHANNEL,
    CHLOE,
    DANA,
    EVE,
    FAC,
    GONE,
    OTHER_CHANNEL,
    TEAM,
    BotHarness,
    FakeClock,
)


def create_circle(bot: BotHarness, name: str = "Product Leads") -> int:
    reply = bot.slash(f"create {name}")
    assert reply.status == 200, reply
    [circle] = [c for c in bot.circles() if c.name == name]
    assert circle.id is not None
    return circle.id


def mention(user_id: str, name: str | None = None) -> str:
    return f"<@{user_id}|{name or user_id.lower()}>"


# --- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "", "HELP"])
def test_help_lists_every_subcommand_with_an_example(sqlite_bot: BotHarness, text: str) -> None:
    reply = sqlite_bot.slash(text, channel=OTHER_CHANNEL)
    assert reply.status == 200
    for sub in ("create", "add", "remove", "members", "rename", "archive", "help"):
        assert f"`/circle {sub}" in reply.ack_text
    assert "Example: `/circle create Product Leads`" in reply.ack_text
    assert "I don't know" not in reply.ack_text


def test_unknown_subcommand_says_so_and_shows_help(sqlite_bot: BotHarness) -> None:
    reply = sqlite_bot.slash("frobnicate <!channel>")
    assert "I don't know `frobnicate`" in reply.ack_text
    assert "`/circle add @person" in reply.ack_text
    assert sqlite_bot.circles() == []


# --- create --------------------------------------------------------------------------------


def test_create_binds_the_circle_to_the_channel_and_makes_the_caller_facilitator(
    bot: BotHarness, clock: FakeClock
) -> None:
    reply = bot.slash("create Product Leads")
    assert "Created *Product Leads* in this channel. You are its facilitator." in reply.ack_text
    [circle] = bot.circles()
    assert (circle.team_id, circle.channel_id, circle.name) == (TEAM, CHANNEL, "Product Leads")
    assert circle.created_at == clock.now and circle.created_by == FAC
    assert bot.members(circle.id) == {FAC: Role.FACILITATOR}
    # The channel hears about it, and the facilitator's profile (time zone) is stored.
    [post] = bot.calls("chat.postMessage")
    assert post.args["channel"] == CHANNEL
    assert "started the peer coaching circle *Product Leads*" in post.args["text"]
    person = bot.person(FAC)
    assert person is not None and person.tz == "Europe/London" and person.team_id == TEAM


def test_create_escapes_the_name_wherever_it_is_shown(sqlite_bot: BotHarness) -> None:
    reply = sqlite_bot.slash("create R&amp;D &lt;!channel&gt; crew")
    [circle] = sqlite_bot.circles()
    assert circle.name == "R&D <!channel> crew"  # stored as typed
    assert "*R&amp;D &lt;!channel&gt; crew*" in reply.ack_text  # shown literally, pings nobody
    [post] = sqlite_bot.calls("chat.postMessage")
    assert "<!channel>" not in post.args["text"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("create", "The circle needs a name. Use `/circle create &lt;name&gt;`"),
        ("create    ", "The circle needs a name."),
        ("create " + "x" * 81, "That name is 81 characters; the limit is 80."),
    ],
)
def test_create_refuses_bad_names(sqlite_bot: BotHarness, text: str, expected: str) -> None:
    reply = sqlite_bot.slash(text)
    assert expected in reply.ack_text
    assert sqlite_bot.circles() == []


def test_create_accepts_a_name_of_exactly_80_characters(sqlite_bot: BotHarness) -> None:
    sqlite_bot.slash("create " + "x" * 80)
    assert [c.name for c in sqlite_bot.circles()] == ["x" * 80]


def test_create_is_refused_when_the_channel_already_has_a_circle(bot: BotHarness) -> None:
    create_circle(bot)
    reply = bot.slash("create Another One", user=ANA)
    assert "This channel already has a circle: *Product Leads*" in reply.ack_text
    assert [c.name for c in bot.circles()] == ["Product Leads"]


def test_create_in_a_direct_message_says_where_to_run_it(sqlite_bot: BotHarness) -> None:
    reply = sqlite_bot.slash("create Product Leads", channel="D0FRAN")
    assert "Circles live in channels" in reply.ack_text
    assert sqlite_bot.circles() == []


def test_create_in_a_channel_without_the_bot_asks_to_invite_it(sqlite_bot: BotHarness) -> None:
    sqlite_bot.fake.add_channel("CNOBOT", "secret-project", [FAC], bot_is_member=False)
    reply = sqlite_bot.slash("create Hidden", channel="CNOBOT")
    assert "Created *Hidden*" in reply.ack_text
    assert any("Invite me with `/invite @Circlebot`" in t for t in reply.texts[1:])
    assert [c.name for c in sqlite_bot.circles()] == ["Hidden"]


# --- add -----------------------------------------------------------------------------------


def test_add_participants_then_a_leader(bot: BotHarness) -> None:
    circle_id = create_circle(bot)
    reply = bot.slash(f"add {mention(ANA)} {mention(BEN)} {mention(CHLOE)}")
    assert reply.ack_text == "Adding 3 people to the circle…"
    assert reply.follow_ups[-1]["response_type"] == "ephemeral"
    assert f"as participant: <@{ANA}>, <@{BEN}>, <@{CHLOE}>." in reply.follow_ups[-1]["text"]

    reply = bot.slash(f"add {mention(DANA)} as leader")
    assert f"as leader: <@{DANA}>." in reply.all_text
    assert bot.members(circle_id) == {
        FAC: Role.FACILITATOR,
        ANA: Role.PARTICIPANT,
        BEN: Role.PARTICIPANT,
        CHLOE: Role.PARTICIPANT,
        DANA: Role.LEADER,
    }
    # Names and time zones come from users.info and are stored with the team id.
    ana = bot.person(ANA)
    assert ana is not None and (ana.real_name, ana.tz, ana.team_id) == (
        "Ana Lima",
        "America/New_York",
        TEAM,
    )


def test_adding_someone_already_there_says_so_without_error(bot: BotHarness) -> None:
    circle_id = create_circle(bot)
    bot.slash(f"add {mention(ANA)}")
    reply = bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    assert f"<@{ANA}> is already a participant here." in reply.all_text
    assert f"as participant: <@{BEN}>." in reply.all_text
    assert bot.members(circle_id)[ANA] == Role.PARTICIPANT


def test_adding_an_existing_member_with_another_role_changes_the_role(bot: BotHarness) -> None:
    circle_id = create_circle(bot)
    bot.slash(f"add {mention(ANA)}")
    reply = bot.slash(f"add {mention(ANA)} as facilitator")
    assert f"<@{ANA}> is now a facilitator (was a participant)." in reply.all_text
    assert bot.members(circle_id)[ANA] == Role.FACILITATOR


def test_bots_deactivated_and_unknown_users_are_refused_by_name(bot: BotHarness) -> None:
    circle_id = create_circle(bot)
    reply = bot.slash(
        f"add {mention(ANA)} {mention(BOT_USER, 'deploybot')} {mention(GONE, 'gone')} "
        f"{mention('UNOBODY', 'nobody')}"
    )
    text = reply.follow_ups[-1]["text"]
    assert f"as participant: <@{ANA}>." in text
    assert "Deploy Bot is a bot" in text
    assert "Gus Gone's account is deactivated" in text
    assert "I can't find @nobody in this workspace" in text
    assert bot.members(circle_id) == {FAC: Role.FACILITATOR, ANA: Role.PARTICIPANT}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add", "Mention at least one person. Use `/circle add @person"),
        ("add @ghost", "I can't find a Slack user called @ghost"),
        ("add <#C123|general>", "#general is not a person"),
        ("add <!here>", "@here is not a person"),
        ("add <!subteam^S123|@leads>", "@leads is not a person"),
        ("add ana", "“ana” is not a mention of a person"),
        (
            f"add {mention(ANA)} as boss",
            "“boss” is not a role. Use leader, facilitator or participant",
        ),
        (f"add {mention(ANA)} as", "After `as`, name one role"),
    ],
)
def test_add_refuses_malformed_arguments(sqlite_bot: BotHarness, text: str, expected: str) -> None:
    circle_id = create_circle(sqlite_bot)
    reply = sqlite_bot.slash(text)
    assert expected in reply.ack_text
    assert reply.follow_ups == []
    assert sqlite_bot.members(circle_id) == {FAC: Role.FACILITATOR}
    assert sqlite_bot.calls("users.info") == [
        c for c in sqlite_bot.calls("users.info") if c.args.get("user") == FAC
    ]


def test_thirty_mentions_are_acked_before_slack_is_asked_about_them(bot: BotHarness) -> None:
    """The ack can't wait for 30 users.info calls: it goes first, the answer follows."""
    create_circle(bot)
    ids = [f"UP{i:03d}" for i in range(30)]
    from bot.sandbox.fake_slack import FakeUser

    for i, uid in enumerate(ids):
        bot.fake.add_user(FakeUser(id=uid, name=f"p{i}", real_name=f"Person {i}"))
    bot.fake.set_rate_limit("users.info", 10, per_seconds=1)  # forces 429s and Retry-After waits
    text = "add " + " ".join(mention(uid) for uid in ids)
    import json
    import time

    started = time.monotonic()
    status, _h, body = bot.fake.send_slash_command(
        bot.events_url, user_id=FAC, channel_id=CHANNEL, text=text
    )
    acked = time.time()
    assert status == 200 and json.loads(body)["text"] == "Adding 30 people to the circle…"
    assert time.monotonic() - started < 3  # Slack's own limit, not a performance target
    bot.wait_idle()
    lookups = [c for c in bot.calls("users.info") if c.args["user"] in ids and c.status == 200]
    assert len(lookups) == 30
    assert max(c.at for c in lookups) > acked  # lookups were still running after the ack
    [answer] = [c.args for c in bot.calls("response_url")]
    assert answer["text"].count("<@UP") == 30


def test_slack_failing_during_lookup_adds_nobody(bot: BotHarness) -> None:
    circle_id = create_circle(bot)
    bot.fake.inject_error("users.info", status=500, times=50)
    reply = bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    assert "I couldn't reach Slack to look those people up, so nobody was added" in reply.all_text
    assert bot.members(circle_id) == {FAC: Role.FACILITATOR}


def test_database_failing_midway_writes_nothing(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    circle_id = create_circle(bot)
    from sqlalchemy.exc import OperationalError

    from bot.circles import rules as circles

    real_add = circles.add_people

    def add_then_fail(session, circle, people, role, **kw):  # type: ignore[no-untyped-def]
        real_add(session, circle, people, role, **kw)  # rows are flushed...
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))  # ...then it dies

    monkeypatch.setattr(circles, "add_people", add_then_fail)
    reply = bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    assert "Something went wrong on my side and nothing was changed" in reply.all_text
    assert "Traceback" not in reply.all_text
    assert bot.members(circle_id) == {FAC: Role.FACILITATOR}


def test_profiles_are_refreshed_only_when_older_than_a_day(
    bot: BotHarness, clock: FakeClock
) -> None:
    create_circle(bot)
    bot.slash(f"add {mention(ANA)}")
    lookups = len([c for c in bot.calls("users.info") if c.args["user"] == ANA])
    assert lookups == 1
    bot.fake.users[ANA].tz = "Europe/Lisbon"  # Ana moved

    clock.advance(hours=23)
    bot.slash(f"add {mention(ANA)}")
    assert len([c for c in bot.calls("users.info") if c.args["user"] == ANA]) == 1
    assert bot.person(ANA).tz == "America/New_York"  # type: ignore[union-attr]

    clock.advance(hours=2)
    bot.slash(f"add {mention(ANA)}")
    assert len([c for c in bot.calls("users.info") if c.args["user"] == ANA]) == 2
    assert bot.person(ANA).tz == "Europe/Lisbon"  # type: ignore[union-attr]


# --- authorisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "action"),
    [
        (f"add {mention(EVE)}", "add people"),
        (f"remove {mention(BEN)}", "remove people"),
        ("rename Takeover", "rename it"),
        ("archive", "archive it"),
    ],
)
@pytest.mark.parametrize("who", [ANA, DANA, EVE], ids=["participant", "leader", "outsider"])
def test_only_a_facilitator_may_change_the_circle(
    bot: BotHarness, text: str, action: str, who: str
) -> None:
    circle_id = create_circle(bot)
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    bot.slash(f"add {mention(DANA)} as leader")
    before = bot.members(circle_id)
    reply = bot.slash(text, user=who)
    assert f"Only a facilitator of *Product Leads* can {action}. Ask <@{FAC}>." in reply.ack_text
    assert bot.members(circle_id) == before
    [circle] = bot.circles()
    assert circle.name == "Product Leads" and not circle.is_archived


@pytest.mark.parametrize("who", [FAC, ANA, DANA], ids=["facilitator", "participant", "leader"])
def test_any_member_may_list_members_grouped_by_role(bot: BotHarness, who: str) -> None:
    create_circle(bot)
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    bot.slash(f"add {mention(DANA)} as leader")
    reply = bot.slash("members", user=who)
    text = reply.ack_text
    assert text.startswith("*Product Leads*: 4 members")
    assert f"*Facilitators* (1): <@{FAC}>" in text
    assert f"*Leaders* (1): <@{DANA}>" in text
    assert f"*Participants* (2): <@{ANA}>, <@{BEN}>" in text
    assert text.index("Facilitators") < text.index("Leaders") < text.index("Participants")


def test_outsiders_may_not_list_members(sqlite_bot: BotHarness) -> None:
    create_circle(sqlite_bot)
    reply = sqlite_bot.slash("members", user=EVE)
    assert f"Only members of *Product Leads* can see who is in it. Ask <@{FAC}>" in reply.ack_text


# --- remove, rename, archive -------------------------------------------------------------------


def test_remove_keeps_history_and_reports_non_members(bot: BotHarness) -> None:
    circle_id = create_circle(bot)
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    reply = bot.slash(f"remove {mention(BEN)} {mention(EVE)}")
    assert f"Removed from *Product Leads*: <@{BEN}>." in reply.ack_text
    assert f"Not in this circle, so nothing to do: <@{EVE}>." in reply.ack_text
    assert bot.members(circle_id) == {FAC: Role.FACILITATOR, ANA: Role.PARTICIPANT}
    assert BEN in bot.members(circle_id, active_only=False)  # the row is kept
    # Re-adding brings them back.
    bot.slash(f"add {mention(BEN)}")
    assert bot.members(circle_id)[BEN] == Role.PARTICIPANT


def test_the_last_facilitator_cannot_leave(bot: BotHarness) -> None:
    circle_id = create_circle(bot)
    reply = bot.slash(f"remove {mention(FAC)}")
    assert "A circle needs at least one facilitator" in reply.ack_text
    reply = bot.slash(f"add {mention(FAC)} as participant")
    assert "A circle needs at least one facilitator" in reply.all_text
    assert bot.members(circle_id) == {FAC: Role.FACILITATOR}
    bot.slash(f"add {mention(ANA)} as facilitator")
    bot.slash(f"remove {mention(FAC)}")
    assert bot.members(circle_id) == {ANA: Role.FACILITATOR}


def test_rename(bot: BotHarness) -> None:
    create_circle(bot)
    reply = bot.slash("rename Product Leaders 2027")
    assert reply.ack_text == "Renamed *Product Leads* to *Product Leaders 2027*."
    assert [c.name for c in bot.circles()] == ["Product Leaders 2027"]
    assert "The circle needs a name" in bot.slash("rename").ack_text
    assert "limit is 80" in bot.slash("rename " + "y" * 90).ack_text


def test_archive_stops_the_circle_keeps_data_and_frees_the_channel(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = create_circle(bot)
    bot.slash(f"add {mention(ANA)}")
    reply = bot.slash("archive")
    assert "Archived *Product Leads*" in reply.ack_text
    [circle] = bot.circles()
    assert circle.is_archived and circle.archived_at == clock.now
    assert bot.members(circle_id) == {FAC: Role.FACILITATOR, ANA: Role.PARTICIPANT}
    reply = bot.slash("members", user=ANA)
    assert "This channel's circle *Product Leads* was archived on 2026-11-16." in reply.ack_text
    assert "nobody" not in reply.ack_text
    # A new circle may start in the same channel.
    bot.slash("create Product Leads II")
    assert [c.name for c in bot.circles()] == ["Product Leads", "Product Leads II"]


@pytest.mark.parametrize("text", ["archive now", "members please"])
def test_commands_without_arguments_refuse_extra_words(sqlite_bot: BotHarness, text: str) -> None:
    create_circle(sqlite_bot)
    reply = sqlite_bot.slash(text)
    assert "takes no arguments" in reply.ack_text
    assert not sqlite_bot.circles()[0].is_archived


# --- where commands run ----------------------------------------------------------------------


def test_commands_outside_a_circle_channel_say_where_to_run_them(bot: BotHarness) -> None:
    create_circle(bot)
    bot.slash(f"add {mention(ANA)}")
    reply = bot.slash("members", user=ANA, channel=OTHER_CHANNEL)
    assert reply.ack_text == (
        f"There is no circle in this channel. Run `/circle members` in your circle's channel: "
        f"<#{CHANNEL}> (*Product Leads*)."
    )
    reply = bot.slash(f"add {mention(BEN)}", user=FAC, channel="D0FRAN")
    assert reply.ack_text.startswith("There is no circle in a direct message. Run `/circle add`")
    reply = bot.slash("members", user=EVE, channel=OTHER_CHANNEL)
    assert "start one there with `/circle create &lt;name&gt;`" in reply.ack_text


# --- persistence -------------------------------------------------------------------------------


def test_everything_survives_a_restart(db_url: str, clock: FakeClock) -> None:
    with BotHarness.running(db_url, clock) as first:
        create_circle(first)
        first.slash(f"add {mention(ANA)} {mention(BEN)}")
    with BotHarness.running(db_url, clock) as second:
        reply = second.slash("members", user=BEN)
        assert "*Product Leads*: 3 members" in reply.ack_text
        assert f"*Participants* (2): <@{ANA}>, <@{BEN}>" in reply.ack_text


def test_no_refusal_carries_raw_angle_brackets(sqlite_bot: BotHarness) -> None:
    """Placeholders like <name> would be parsed by Slack as markup; they must be escaped."""
    texts = [
        sqlite_bot.slash(text).all_text
        for text in ("create", "add", "add ana", "rename", "members now", "create x", "create y")
    ]
    texts.append(sqlite_bot.slash("create z", channel="D0FRAN").all_text)
    for text in texts:
        for token in ("<name>", "<id>", "<YYYY-MM-DD>", "<time>"):
            assert token not in text, text
