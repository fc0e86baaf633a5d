"""The App Home tab: circles, next check-in, action items with Done, last reflections with Edit,
and the facilitator's week at a glance with "Check in now", through signed events and clicks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    DemoDay,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
    Role,
)
from tests.harness import ANA, BEN, CHANNEL, CHLOE, EVE, FAC, TEAM, BotHarness, FakeClock

HOSTILE = "<!channel> <@U123> <https://evil|click> & co"
HOSTILE_ESCAPED = "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|click&gt; &amp; co"
FORBIDDEN = ("<!channel>", "<@U123>", "<https://evil")


# --- setting up ---------------------------------------------------------------------------


def circle_with_people(bot: BotHarness) -> int:
    """Fran facilitates *Product Leads*; Ana, Ben and Chloé take part."""
    bot.slash("create Product Leads")
    bot.slash(f"add <@{ANA}|ana> <@{BEN}|ben> <@{CHLOE}|chloe>")
    [circle] = bot.circles()
    assert circle.id is not None
    return circle.id


def add_item(
    bot: BotHarness,
    circle_id: int,
    text: str,
    *,
    user: str = ANA,
    due: date | None = None,
    created_at: datetime | None = None,
) -> int:
    with bot.db.session() as session:
        item = ActionItem(
            team_id=TEAM,
            circle_id=circle_id,
            user_id=user,
            question_id="next_step",
            text=text,
            due_date=due,
            created_at=created_at or bot.services.clock() - timedelta(days=7),
        )
        session.add(item)
        session.flush()
        assert item.id is not None
        return item.id


def add_reflection(
    bot: BotHarness,
    circle_id: int,
    answers: list[str | int],
    *,
    user: str = ANA,
    kind: str = "checkin",
    visibility: str = "circle",
    age: timedelta = timedelta(days=1),
    edited: bool = False,
) -> int:
    now = bot.services.clock()
    with bot.db.session() as session:
        reflection = Reflection(
            team_id=TEAM,
            circle_id=circle_id,
            user_id=user,
            kind=kind,
            prompt_set="default",
            week_start=date(2026, 11, 9),
            visibility=visibility,
            submitted_at=now - age,
            edited_at=now if edited else None,
        )
        session.add(reflection)
        session.flush()
        assert reflection.id is not None
        for number, answer in enumerate(answers):
            session.add(
                ReflectionAnswer(
                    team_id=TEAM,
                    reflection_id=reflection.id,
                    question_id=f"q{number}",
                    kind="scale" if isinstance(answer, int) else "long_text",
                    text=answer if isinstance(answer, str) else None,
                    number=answer if isinstance(answer, int) else None,
                )
            )
        return reflection.id


# --- looking and clicking -----------------------------------------------------------------


def open_home(bot: BotHarness, user: str) -> dict[str, Any]:
    """Open the Home tab as `user`; return the view Slack now shows (validated by the fake)."""
    before = len(bot.calls("views.publish"))
    bot.fake.send_event(
        bot.events_url,
        {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"},
    )
    bot.wait_idle()
    publishes = bot.calls("views.publish")[before:]
    assert [call.ok for call in publishes] == [True], [call.response for call in publishes]
    view = bot.fake.home_view(user)
    assert view is not None
    return view


def click(
    bot: BotHarness, user: str, action_id: str, value: str, view: dict[str, Any]
) -> list[Any]:
    """Click a button of `view` (a Home or a modal) as `user`; return the calls it caused."""
    before = len(bot.fake.calls)
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url, user_id=user, action_id=action_id, value=value, view=view
    )
    assert status == 200
    bot.wait_idle()
    return bot.fake.calls[before:]


def buttons(view: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in view["blocks"]:
        elements = block.get("elements", []) if block["type"] == "actions" else []
        for element in [block.get("accessory"), *elements]:
            if element and element.get("action_id") == action_id:
                found.append(element)
    return found


def texts(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def section_with(view: dict[str, Any], needle: str) -> dict[str, Any]:
    [block] = [b for b in view["blocks"] if needle in json.dumps(b, ensure_ascii=False)]
    return block


def notice(view: dict[str, Any]) -> str:
    [block] = [b for b in view["blocks"] if b.get("block_id") == "home_notice"]
    return str(block["text"]["text"])


def dms(bot: BotHarness, user: str) -> list[dict[str, Any]]:
    return [c.args for c in bot.calls("chat.postMessage") if c.ok and c.args["channel"] == user]


def item_row(bot: BotHarness, item_id: int) -> ActionItem:
    with bot.db.session() as session:
        item = session.get(ActionItem, item_id)
        assert item is not None
        return item


def date_token(moment: datetime, fallback: str) -> str:
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


# --- the main flow (both databases) -------------------------------------------------------


def test_participant_sees_circles_next_checkin_items_and_reflections_and_completes_one(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = circle_with_people(bot)
    bot.slash("schedule checkin mon 09:00")
    overdue = add_item(bot, circle_id, "Ask Ben for feedback", due=date(2026, 11, 12))
    later = add_item(bot, circle_id, "Try pairing", due=date(2026, 11, 20))
    add_item(bot, circle_id, "Ben's own thing", user=BEN)
    older = add_reflection(bot, circle_id, ["Tried a new retro"], age=timedelta(days=8))
    newer = add_reflection(
        bot, circle_id, [4, "Paired on the roadmap"], kind="debrief", edited=True
    )
    add_reflection(bot, circle_id, ["Ben wrote this"], user=BEN)  # shared with the circle
    add_reflection(bot, circle_id, ["Ben's private words"], user=BEN, visibility="private")

    home = open_home(bot, ANA)
    # Her circle, her role and her next check-in: Monday 09:00 in New York (14:00 UTC).
    circle = section_with(home, "*Product Leads* in")
    assert f"*Product Leads* in <#{CHANNEL}>\nYou are a participant." in circle["text"]["text"]
    nine_in_new_york = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)
    assert (
        "Your next check-in: "
        + date_token(nine_in_new_york, "Mon 16 Nov 2026, 09:00 (America/New_York)")
        in circle["text"]["text"]
    )
    # Open action items, oldest due first, each with Done; the overdue one says so.
    assert [b["value"] for b in buttons(home, "action_item_done")] == [str(overdue), str(later)]
    assert (
        ":warning: *overdue* since Thu 12 Nov 2026" in section_with(home, "Ask Ben")["text"]["text"]
    )
    assert "due Fri 20 Nov 2026" in section_with(home, "Try pairing")["text"]["text"]
    assert "Ben's own thing" not in texts(home)
    # Last reflections, newest first, with the first written answer and Edit.
    assert [b["value"] for b in buttons(home, "reflection_edit")] == [str(newer), str(older)]
    debrief = section_with(home, "Paired on the roadmap")["text"]["text"]
    assert debrief.startswith("*Debrief* · week of 9 Nov 2026 · *Product Leads*")
    assert "_edited_" in debrief
    assert "_edited_" not in section_with(home, "Tried a new retro")["text"]["text"]
    # Ben's reflection is not one of hers (no Edit), but it was shared with her circle, so
    # she reads it among what the circle shared; his private one appears nowhere.
    shared = section_with(home, "Ben wrote this")["text"]["text"]
    assert (
        shared
        == "*Product Leads*, the week of Mon 9 Nov\n> Ben wrote this\n— name not shared, check-in"
    )
    assert "private words" not in texts(home)
    assert buttons(home, "home_checkin_now") == []  # not a facilitator

    calls = click(bot, ANA, "action_item_done", str(overdue), home)
    done = item_row(bot, overdue)
    assert (done.status, done.done_at) == (ActionItemStatus.DONE, clock.now)
    [publish] = [c for c in calls if c.method == "views.publish"]
    assert publish.ok and publish.args["user_id"] == ANA
    home = bot.fake.home_view(ANA)
    assert home is not None
    assert notice(home) == "Done: *Ask Ben for feedback*. Nice work!"
    assert [b["value"] for b in buttons(home, "action_item_done")] == [str(later)]

    clock.advance(minutes=5)  # a second click (or a retry) changes nothing
    click(bot, ANA, "action_item_done", str(overdue), home)
    assert item_row(bot, overdue).done_at == clock.now - timedelta(minutes=5)
    home = bot.fake.home_view(ANA)
    assert home is not None
    assert notice(home) == "You had already marked *Ask Ben for feedback* as done."


# --- action items -------------------------------------------------------------------------


def test_done_by_someone_else_or_for_an_unknown_id_is_refused_and_logged(
    sqlite_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    bot = sqlite_bot
    circle_id = circle_with_people(bot)
    item = add_item(bot, circle_id, "Ana's commitment")
    home = open_home(bot, BEN)
    caplog.set_level(logging.WARNING, logger="handlers.action_items")

    click(bot, BEN, "action_item_done", str(item), home)
    assert item_row(bot, item).status == ActionItemStatus.OPEN
    assert item_row(bot, item).done_at is None
    home = bot.fake.home_view(BEN)
    assert home is not None
    assert notice(home) == "This action item belongs to someone else, so I left it alone."
    assert "Ana's commitment" not in texts(home)

    for forged in ("999999", "abc", "-1", str(2**40)):
        click(bot, BEN, "action_item_done", forged, home)
        home = bot.fake.home_view(BEN)
        assert home is not None
        assert notice(home) == "I couldn't find this action item any more, so nothing was changed."
    refusals = [r.getMessage() for r in caplog.records if r.name == "handlers.action_items"]
    assert f"action_item_done refused (not_yours): {BEN} clicked item {item}" in refusals
    assert len(refusals) == 5


def test_a_dropped_item_stays_dropped(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    item = add_item(bot, circle_with_people(bot), "Write the doc")
    home = open_home(bot, ANA)
    with bot.db.session() as session:
        row = session.get(ActionItem, item)
        assert row is not None
        row.status, row.dropped_at = ActionItemStatus.DROPPED, bot.services.clock()
    click(bot, ANA, "action_item_done", str(item), home)
    assert item_row(bot, item).status == ActionItemStatus.DROPPED
    home = bot.fake.home_view(ANA)
    assert home is not None
    assert notice(home) == "You dropped *Write the doc* earlier, so it stays dropped."


def test_done_survives_slack_and_database_failures(
    sqlite_bot: BotHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot = sqlite_bot
    circle_id = circle_with_people(bot)
    first = add_item(bot, circle_id, "First")
    second = add_item(bot, circle_id, "Second")
    home = open_home(bot, ANA)

    # Slack refuses the new Home: the item is done all the same, and the failure is logged.
    bot.fake.inject_error("views.publish", "internal_error")
    calls = click(bot, ANA, "action_item_done", str(first), home)
    assert [c.error for c in calls if c.method == "views.publish"] == ["internal_error"]
    assert item_row(bot, first).status == ActionItemStatus.DONE
    assert f"could not publish the Home of {ANA}: internal_error" in caplog.text

    # The database fails: nothing is written, and the Home says to try again.
    def broken_session() -> Any:
        raise OperationalError("UPDATE action_item", {}, Exception("database is locked"))

    monkeypatch.setattr(bot.services.db, "session", broken_session)
    click(bot, ANA, "action_item_done", str(second), home)
    monkeypatch.undo()
    assert item_row(bot, second).status == ActionItemStatus.OPEN
    home = bot.fake.home_view(ANA)
    assert home is not None
    assert notice(home).startswith("Something went wrong on my side and nothing was changed.")
    assert "Traceback" not in texts(home)


# --- the facilitator's glance and "Check in now" -------------------------------------------


def test_facilitator_sees_the_week_at_a_glance_and_checks_in_now(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_id = circle_with_people(bot)
    add_item(bot, circle_id, "one")
    add_item(bot, circle_id, "two", user=BEN)
    with bot.db.session() as session:
        session.add(
            DemoDay(
                team_id=TEAM,
                circle_id=circle_id,
                title="Show & <tell>",
                starts_at=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
                reminder_offsets="86400",
                created_by=FAC,
                created_at=clock.now,
            )
        )
    home = open_home(bot, FAC)
    glance = section_with(home, "This week")
    assert glance["text"]["text"] == (
        f"*Product Leads* in <#{CHANNEL}>\n"
        "This week (since Mon 16 Nov): sent 0 · answered 0 · skipped 0 · failed 0\n"
        "Open action items: 2 · next demo day *Show &amp; &lt;tell&gt;*, "
        + date_token(
            datetime(2026, 11, 20, 15, 0, tzinfo=UTC), "Fri 20 Nov 2026, 15:00 (Europe/London)"
        )
    )
    [button] = buttons(home, "home_checkin_now")
    assert button["value"] == str(circle_id)
    assert button["confirm"]["confirm"]["text"] == "Send"

    click(bot, FAC, "home_checkin_now", str(circle_id), home)
    for user in (ANA, BEN, CHLOE):
        assert len(dms(bot, user)) == 1
    assert dms(bot, FAC) == []
    home = bot.fake.home_view(FAC)
    assert home is not None
    assert notice(home) == "Sent the check-in of *Product Leads* to 3 of 3."
    assert "sent 3 · answered 0" in section_with(home, "This week")["text"]["text"]

    # A second click in the same minute sends nothing twice, like the slash command.
    click(bot, FAC, "home_checkin_now", str(circle_id), home)
    assert len(dms(bot, ANA)) == 1
    home = bot.fake.home_view(FAC)
    assert home is not None
    assert "already went out this minute; nothing was sent twice" in notice(home)


def test_check_in_now_with_a_forged_value_sends_nothing(
    sqlite_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    bot = sqlite_bot
    circle_id = circle_with_people(bot)
    bot.slash(f"add <@{EVE}|eve> as facilitator")
    eve_home = open_home(bot, EVE)
    assert [b["value"] for b in buttons(eve_home, "home_checkin_now")] == [str(circle_id)]
    bot.slash(f"remove <@{EVE}|eve>")  # no longer a facilitator when she clicks
    ana_home = open_home(bot, ANA)
    caplog.set_level(logging.WARNING, logger="handlers.home")

    refused = (
        "Only a facilitator of that circle can send it a check-in, so nothing was sent. "
        "Open the Home tab again to see the circles you facilitate."
    )
    for user, view, value in (
        (ANA, ana_home, str(circle_id)),  # a participant with the circle's real id
        (EVE, eve_home, str(circle_id)),  # a facilitator removed since the Home was drawn
        (ANA, ana_home, "424242"),  # a circle that does not exist
    ):
        click(bot, user, "home_checkin_now", value, view)
        home = bot.fake.home_view(user)
        assert home is not None
        assert notice(home) == refused
    click(bot, ANA, "home_checkin_now", "'; DROP TABLE circle; --", ana_home)
    home = bot.fake.home_view(ANA)
    assert home is not None
    assert notice(home) == "I couldn't find that circle; nothing was sent."

    assert [dms(bot, user) for user in (ANA, BEN, CHLOE)] == [[], [], []]
    with bot.db.session() as session:
        assert session.exec(select(Delivery)).all() == []
    logged = [r.getMessage() for r in caplog.records if r.name == "handlers.home"]
    assert f"home_checkin_now refused: {ANA} clicked circle {circle_id}" in logged
    assert f"home_checkin_now refused: {EVE} clicked circle {circle_id}" in logged
    assert len(logged) == 4


def test_check_in_now_on_a_paused_circle_says_so(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    circle_id = circle_with_people(bot)
    bot.slash("pause until 2026-12-31")
    home = open_home(bot, FAC)
    assert (
        "_Paused until 2026-12-31 (inclusive)._" in section_with(home, "This week")["text"]["text"]
    )
    click(bot, FAC, "home_checkin_now", str(circle_id), home)
    home = bot.fake.home_view(FAC)
    assert home is not None
    assert notice(home).startswith(
        "*Product Leads* is paused until 2026-12-31, so nothing is sent."
    )
    assert dms(bot, ANA) == []


# --- next check-in in each situation ------------------------------------------------------


def test_next_checkin_says_when_none_is_coming_and_why(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_with_people(bot)

    def circle_text(user: str) -> str:
        return str(section_with(open_home(bot, user), "You are a")["text"]["text"])

    assert circle_text(ANA).endswith("You are a participant. No check-in scheduled.")
    bot.slash("schedule checkin wed 10:00 tz:asia/tokyo")  # pinned: Tokyo time for everyone
    wednesday_in_tokyo = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)
    assert circle_text(BEN).endswith(
        "Your next check-in: "
        + date_token(wednesday_in_tokyo, "Wed 18 Nov 2026, 10:00 (Asia/Tokyo)")
        + "."
    )
    assert circle_text(FAC).endswith("You are a facilitator. Check-ins go to the participants.")
    bot.slash("away until 2026-11-20", user=ANA)
    assert circle_text(ANA).endswith(
        "You're away until Fri 20 Nov 2026 (inclusive). Your next check-in: "
        + date_token(wednesday_in_tokyo + timedelta(days=7), "Wed 25 Nov 2026, 10:00 (Asia/Tokyo)")
        + "."
    )
    bot.slash("skip 2026-11-18")
    assert "Wed 25 Nov 2026, 10:00 (Asia/Tokyo)" in circle_text(BEN)
    bot.slash("pause")
    assert circle_text(BEN).endswith(
        "The circle is paused until someone runs `/circle resume`. No check-in coming up."
    )


# --- limits: 100 blocks, 3000 characters, whatever the data --------------------------------


def test_huge_data_stays_within_slacks_limits_with_show_all(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    long_name = ("<&>" * 40)[:80]
    with bot.db.session() as session:
        session.merge(
            Person(team_id=TEAM, user_id=EVE, tz="America/Los_Angeles", refreshed_at=clock.now)
        )
        circle_ids = []
        for number in range(30):
            circle = Circle(
                team_id=TEAM,
                channel_id=f"CBIG{number:03d}",
                name=long_name[:-3] + f"{number:03d}",
                created_by=EVE,
                created_at=clock.now,
            )
            session.add(circle)
            session.flush()
            assert circle.id is not None
            circle_ids.append(circle.id)
            session.add(
                Membership(
                    team_id=TEAM,
                    circle_id=circle.id,
                    user_id=EVE,
                    role=Role.FACILITATOR if number % 2 else Role.PARTICIPANT,
                    added_by=EVE,
                    added_at=clock.now,
                )
            )
    huge = "&<>" * 2000
    for number in range(200):
        add_item(
            bot,
            circle_ids[number % 30],
            f"{number:03d} {huge}",
            user=EVE,
            due=date(2026, 11, 1) + timedelta(days=number),
        )
    for number in range(20):
        add_reflection(bot, circle_ids[number], [huge], user=EVE, age=timedelta(hours=number + 1))

    home = open_home(bot, EVE)  # the fake refuses views over 100 blocks or 3000-char sections
    assert len(home["blocks"]) <= 100
    assert len(json.dumps(home)) < 250_000
    assert len(buttons(home, "action_item_done")) == 10
    assert len(buttons(home, "reflection_edit")) == 5
    assert len(buttons(home, "home_checkin_now")) == 5
    show_all = {b["value"]: b["text"]["text"] for b in buttons(home, "home_show_all")}
    assert show_all == {
        "circles": "Show all 30 circles",
        "action_items": "Show all 200 action items",
        "facilitated": "Show all 15 circles you facilitate",
    }
    assert "…and 190 more." in texts(home)
    for block in home["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000

    calls = click(bot, EVE, "home_show_all", "action_items", home)
    [opened] = [c for c in calls if c.method == "views.open"]
    assert opened.ok, opened.response
    modal = opened.response["view"]
    assert len(modal["blocks"]) <= 100
    assert len(buttons(modal, "action_item_done")) == 90
    assert "Showing the first 90 of 200. …and 110 more." in texts(modal)

    for what, rows in (("circles", 30), ("facilitated", 15)):
        calls = click(bot, EVE, "home_show_all", what, home)
        [opened] = [c for c in calls if c.method == "views.open"]
        assert opened.ok, opened.response
        assert len(opened.response["view"]["blocks"]) == rows

    # Done inside the modal refreshes the modal (with the notice) and the Home.
    first = buttons(modal, "action_item_done")[0]["value"]
    calls = click(bot, EVE, "action_item_done", first, modal)
    [updated] = [c for c in calls if c.method == "views.update"]
    assert updated.ok, updated.response
    refreshed = bot.fake.view(modal["id"])
    assert notice(refreshed).startswith("Done: *000 &amp;&lt;&gt;")
    assert "Showing the first 90 of 199." in texts(refreshed)
    assert first not in [b["value"] for b in buttons(refreshed, "action_item_done")]
    assert any(c.method == "views.publish" and c.ok for c in calls)


def test_person_written_text_shows_literally_and_pings_nobody(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    circle_id = circle_with_people(bot)
    with bot.db.session() as session:
        circle = session.get(Circle, circle_id)
        assert circle is not None
        circle.name = HOSTILE
    add_item(bot, circle_id, HOSTILE)
    add_reflection(bot, circle_id, [HOSTILE])
    home = open_home(bot, ANA)
    # the circle; the item and its circle; the reflection and its circle
    assert texts(home).count(HOSTILE_ESCAPED) == 5
    for raw in FORBIDDEN:
        assert raw not in texts(home)
    fran = open_home(bot, FAC)
    assert HOSTILE_ESCAPED in section_with(fran, "This week")["text"]["text"]
    for raw in FORBIDDEN:
        assert raw not in texts(fran)
