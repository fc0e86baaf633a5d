"""The App Home tab, through a signed app_home_opened event."""

from __future__ import annotations

from tests.harness import ANA, CHANNEL, EVE, BotHarness


def open_home(bot: BotHarness, user: str, tab: str = "home") -> int:
    status, _h, _b = bot.fake.send_event(
        bot.events_url,
        {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": tab},
    )
    bot.wait_idle()
    return status


def test_home_lists_the_circles_a_person_is_in(bot: BotHarness) -> None:
    bot.slash("create Product &lt;Leads&gt;")
    bot.slash(f"add <@{ANA}|ana>")
    assert open_home(bot, ANA) == 200
    [publish] = bot.calls("views.publish")
    assert publish.ok and publish.args["user_id"] == ANA
    texts = str(publish.args["view"]["blocks"])
    assert f"*Product &lt;Leads&gt;* in <#{CHANNEL}>" in texts
    assert "You are a participant." in texts


def test_home_for_someone_without_a_circle_says_how_to_join(sqlite_bot: BotHarness) -> None:
    open_home(sqlite_bot, EVE)
    [publish] = sqlite_bot.calls("views.publish")
    assert "You're not in a circle yet" in str(publish.args["view"]["blocks"])


def test_the_messages_tab_publishes_nothing(sqlite_bot: BotHarness) -> None:
    assert open_home(sqlite_bot, EVE, tab="messages") == 200
    assert sqlite_bot.calls("views.publish") == []


def test_a_retried_event_is_harmless(sqlite_bot: BotHarness) -> None:
    event = {"type": "app_home_opened", "user": EVE, "channel": "DEVE", "tab": "home"}
    sqlite_bot.fake.send_event(sqlite_bot.events_url, event, event_id="Ev1")
    sqlite_bot.fake.send_event(
        sqlite_bot.events_url, event, event_id="Ev1", retry_num=1, retry_reason="http_timeout"
    )
    sqlite_bot.wait_idle()
    views = [c.args["view"] for c in sqlite_bot.calls("views.publish")]
    assert len(views) == 2 and views[0] == views[1]  # same view again, nothing else happens
