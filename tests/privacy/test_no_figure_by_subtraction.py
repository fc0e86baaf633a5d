"""No figure lets a reader compute one that is withheld: thresholds count distinct people,
a circle under the threshold is left out of every total beside it (text and chart), choices
("kept private", late answers) are counted only over 3 or more people, and a week in
progress shows no averages. Each test reads what the fake Slack received from the real
delivery tick or `/circle` command, on both databases.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta

from sqlmodel import select

from bot.digest import chart
from bot.slack.text import day_text
from storage.models import Person, Role
from tests.bot.digest.test_compose import (
    DIGEST_AT,
    LEADER_AT,
    SENT,
    WEEK,
    WEEK_BEFORE,
    History,
    block_texts,
    posts_to,
    utc,
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
    BotHarness,
    FakeClock,
)


def section(text: str, title: str, until: str | None) -> str:
    start = text.index(f"*{title}*")
    return text[start : text.index(until, start + 1)] if until else text[start:]


def figure_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• *")]


def leader_dm(bot: BotHarness) -> str:
    [dm] = posts_to(bot, DANA)
    return block_texts(dm)


def two_circles(bot: BotHarness, *, y_people: tuple[str, ...] = (EVE,)) -> None:
    """Dana leads X (Ana, Ben, Chloé) and Y (`y_people`); everyone answers a check-in with a
    confidence; Y's people keep theirs private."""
    with bot.db.session() as s:
        h = History(s)
        x = h.circle(CHANNEL, "X")
        y = h.circle(OTHER_CHANNEL, "Y")
        for circle, people, visibility in (
            (x, (ANA, BEN, CHLOE), "leaders"),
            (y, y_people, "private"),
        ):
            h.member(circle, DANA, Role.LEADER)
            for n, user_id in enumerate(people):
                h.member(circle, user_id)
                h.checkin(circle, user_id, answered_after=timedelta(hours=1 + n))
                h.reflect(
                    circle, user_id, f"{circle.name} words", visibility=visibility, confidence=2 + n
                )
                h.reflect(  # last week too, for the trend and the change
                    circle,
                    user_id,
                    "before",
                    visibility=visibility,
                    confidence=3,
                    week=WEEK_BEFORE,
                    at=SENT - timedelta(days=7),
                )


def test_a_circle_under_the_threshold_is_not_added_into_the_totals(bot: BotHarness) -> None:
    """The reproduction: X has 3 participants, Y has 1. With Y added into the totals, the
    totals minus X's section gave Y's one person's participation, confidence and choice."""
    two_circles(bot)
    bot.services.deliverer.tick(LEADER_AT)
    text = leader_dm(bot)
    x, y, totals = (
        section(text, "X", "*Y*"),
        section(text, "Y", "*All 2 circles*"),
        section(text, "All 2 circles", None),
    )
    assert "Participation: not enough responses yet" in y
    assert "_1 of the 2 circles is not counted in these totals" in totals
    # Every figure of the totals is X's own: subtracting X leaves nothing of Y's person.
    assert figure_lines(totals) == figure_lines(x)
    assert "• *Participation:* 100% (3 of 3 participants reflected)" in totals
    assert "4 of 4" not in text and "3.5" not in text
    assert "kept private" not in text  # one person's choice, in no figure


def test_the_chart_draws_only_the_circles_shown_beside_it(bot: BotHarness) -> None:
    two_circles(bot)
    bot.services.deliverer.tick(LEADER_AT)
    bot.services.deliverer.tick(LEADER_AT + timedelta(seconds=30))  # the chart follows
    [url] = bot.calls("files.getUploadURLExternal")
    png = bot.fake.uploaded_file(url.response["file_id"])
    # X alone: every week before last 0%, last week 100%, this week 100%.
    weeks = [WEEK - timedelta(weeks=back) for back in range(7, -1, -1)]
    x_alone = chart.participation_chart(
        [day_text(monday) for monday in weeks],
        [0.0] * 6 + [1.0, 1.0],
        title=f"Participation, 8 weeks to the week of {day_text(WEEK)}",
    )
    assert png == x_alone
    [complete] = bot.calls("files.completeUploadExternal")
    assert "1 circle with fewer than 3 participants is left out" in complete.args["initial_comment"]


def test_thresholds_count_distinct_people_and_no_bots(bot: BotHarness) -> None:
    """Two people in two circles are two people; a participant whose profile says bot is
    nobody. Neither passes the threshold of 3."""
    with bot.db.session() as s:
        h = History(s)
        x = h.circle(CHANNEL, "X")
        y = h.circle(OTHER_CHANNEL, "Y")
        for circle in (x, y):
            h.member(circle, DANA, Role.LEADER)
            for user_id in (ANA, BEN):
                h.member(circle, user_id)
                h.reflect(circle, user_id, "words", visibility="leaders", confidence=4)
        h.member(x, "UROBOT")
        h.reflect(x, "UROBOT", "beep", visibility="leaders", confidence=1)
        robot = s.exec(select(Person).where(Person.user_id == "UROBOT")).one()
        robot.is_bot = True
    bot.services.deliverer.tick(LEADER_AT)
    text = leader_dm(bot)
    assert text.count("Participation: not enough responses yet") == 2
    assert "No circle has 3 or more participants this week, so there are no totals." in text
    assert "%" not in text and "out of 5" not in text


def test_kept_private_and_late_answers_are_counted_only_over_three_people(
    bot: BotHarness,
) -> None:
    with bot.db.session() as s:
        h = History(s)
        few = h.circle(CHANNEL, "Few")
        many = h.circle(OTHER_CHANNEL, "Many")
        for circle, private in ((few, (ANA, BEN)), (many, (ANA, BEN, CHLOE))):
            for user_id in (ANA, BEN, CHLOE, EVE):
                h.member(circle, user_id)
                h.reflect(
                    circle,
                    user_id,
                    "words",
                    visibility="private" if user_id in private else "circle",
                )
                if user_id in private:  # late: for the week before, written in this one
                    h.reflect(circle, user_id, "late", visibility="circle", week=WEEK_BEFORE)
    bot.services.deliverer.tick(DIGEST_AT)
    few_post = block_texts(posts_to(bot, CHANNEL)[0])
    many_post = block_texts(posts_to(bot, OTHER_CHANNEL)[0])
    assert "kept private" not in few_post and "arrived late" not in few_post
    assert "(3 kept private)" in many_post
    assert "3 answers for earlier weeks arrived late" in many_post


def test_two_previews_around_one_answer_do_not_reveal_its_score(
    bot: BotHarness, clock: FakeClock
) -> None:
    """A facilitator previews, Chloé answers with a 5, the facilitator previews again: the
    previews differ only in counts, never in an average."""
    with bot.db.session() as s:
        h = History(s)
        circle = h.circle(CHANNEL, "Three")
        for user_id in (ANA, BEN, CHLOE, EVE):
            h.member(circle, user_id)
        for user_id in (ANA, BEN, EVE):
            h.reflect(circle, user_id, "words", visibility="circle", confidence=3)
    clock.now = utc(2026, 11, 18, 12)
    first = bot.slash("digest preview").all_text
    with bot.db.session() as s:
        from storage.models import Circle

        [circle] = s.exec(select(Circle)).all()
        History(s).reflect(
            circle, CHLOE, "words", visibility="circle", confidence=5, at=utc(2026, 11, 18, 13)
        )
    clock.now = utc(2026, 11, 18, 14)
    second = bot.slash("digest preview").all_text
    assert "• *Confidence:* shown when the week is over" in first
    changed = [
        line
        for line in difflib.ndiff(first.splitlines(), second.splitlines())
        if line.startswith(("- ", "+ "))
    ]
    assert changed, "the second preview should count Chloé's answer"
    for line in changed:
        assert "out of 5" not in line and not re.search(r"\d\.\d", line), line
    # Once the week is over, the digest shows the week's average, as one release.
    bot.services.deliverer.tick(DIGEST_AT)
    assert "• *Confidence:* 3.5 out of 5" in block_texts(posts_to(bot, FAC)[-1])


def test_every_audience_reads_the_same_figures_of_a_circle(bot: BotHarness) -> None:
    """Leaders, the channel and facilitators get one circle's week from one decision, so no
    audience's figures can be set against another's."""
    two_circles(bot)
    bot.services.deliverer.tick(DIGEST_AT)
    x_leader = section(leader_dm(bot), "X", "*Y*")
    x_channel = block_texts(posts_to(bot, CHANNEL)[0])
    [x_facilitators] = [
        t for t in map(block_texts, posts_to(bot, FAC)) if t.startswith("*X: your facilitator")
    ]
    assert figure_lines(x_leader) == figure_lines(x_channel) == figure_lines(x_facilitators)
    assert figure_lines(x_leader)
