"""Peer pairing end to end: `/circle pair`, `nopair`, `pair-me`, `team` and pairing schedules,
through signed requests into the real bot; the group DMs as the fake Slack records them
(conversations.open with the members, then chat.postMessage), rounds read back from the
database."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

from sqlmodel import col, select

from bot.app import make_deliverer
from bot.delivery.engine import Deliverer
from bot.pairing.rotation import Participant, PastPairing, pair_round
from bot.pairing.rounds import round_seed
from storage.models import Delivery, Membership, PairingMember, PairingRound
from tests.handlers.test_data_rights_commands import forget_me_view, mention, the_upload_to
from tests.harness import ANA, BEN, CHANNEL, CHLOE, DANA, EVE, FAC, BotHarness, FakeClock

Groups = list[frozenset[str]]


def circle_with(bot: BotHarness, *people: str) -> int:
    """*Product Leads* in CHANNEL, FAC facilitating, `people` participating."""
    bot.slash("create Product Leads")
    if people:
        bot.slash("add " + " ".join(mention(p) for p in people))
    [circle] = [c for c in bot.circles() if c.channel_id == CHANNEL]
    assert circle.id is not None
    return circle.id


def pair(bot: BotHarness, clock: FakeClock, user: str = FAC) -> str:
    """`/circle pair`, then a minute passes (a round per minute); returns the whole answer."""
    reply = bot.slash("pair", user=user)
    clock.advance(minutes=1)
    return reply.all_text


def rounds(bot: BotHarness) -> list[Groups]:
    """Each round's groups, oldest first."""
    with bot.db.session() as session:
        rows = session.exec(
            select(PairingRound.round_no, PairingMember.group_no, PairingMember.user_id)
            .join(PairingRound, col(PairingRound.id) == col(PairingMember.round_id))
            .where(col(PairingMember.group_no) > 0)
            .order_by(col(PairingRound.round_no), col(PairingMember.group_no))
        ).all()
    by_round: dict[int, dict[int, set[str]]] = {}
    for round_no, group_no, user_id in rows:
        by_round.setdefault(round_no, {}).setdefault(group_no, set()).add(user_id)
    return [[frozenset(g) for g in groups.values()] for _n, groups in sorted(by_round.items())]


def pairs_in(groups: Groups) -> list[frozenset[str]]:
    return [frozenset(p) for g in groups for p in combinations(sorted(g), 2)]


def group_dms(bot: BotHarness) -> list[tuple[frozenset[str], dict[str, Any]]]:
    """(members, the message) of every group DM the bot opened and posted to, in order."""
    channels: dict[str, frozenset[str]] = {}
    for call in bot.calls("conversations.open"):
        users = str(call.args.get("users", ""))
        if "," in users and call.ok:
            channels[call.response["channel"]["id"]] = frozenset(users.split(","))
    messages = [m for channel in channels for m in bot.fake.messages(channel)]
    return [(channels[m["channel"]], m) for m in sorted(messages, key=lambda m: float(m["ts"]))]


def dm_texts(bot: BotHarness, user: str) -> list[str]:
    return [m.get("text", "") for m in bot.fake.messages(bot.fake.dm_channel_of(user))]


def pairing_rows(bot: BotHarness) -> tuple[int, int, int]:
    with bot.db.session() as session:
        return (
            len(session.exec(select(PairingRound)).all()),
            len(session.exec(select(PairingMember)).all()),
            len(
                session.exec(
                    select(Delivery).where(
                        col(Delivery.kind).in_(["pairing_intro", "pairing_skipped"])
                    )
                ).all()
            ),
        )


# --- rotation over several rounds ---------------------------------------------------------------


def test_four_people_meet_everyone_in_three_rounds_before_anyone_meets_again(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = circle_with(bot, ANA, BEN, CHLOE, EVE)
    answers = [pair(bot, clock) for _ in range(4)]
    played = rounds(bot)
    assert len(played) == 4
    for groups in played:
        assert sorted(len(g) for g in groups) == [2, 2]
        assert set().union(*groups) == {ANA, BEN, CHLOE, EVE}  # nobody left out
    first_three = [p for groups in played[:3] for p in pairs_in(groups)]
    assert len(set(first_three)) == 6  # all six possible pairs, none twice
    assert all(Counter(first_three)[p] == 1 for p in pairs_in(played[3]))  # then repeats
    for text in answers[:3]:
        assert "Nobody meets a partner they've had before." in text
    assert "2 pairs have met before: no grouping without a repeat was left" in answers[3]
    assert answers[0].startswith("Pairing 4 participants of *Product Leads*…")
    for groups in played[0]:
        assert " and ".join(f"<@{u}>" for u in sorted(groups)) in answers[0]

    # Every group got one group DM (the bot opens it with exactly its members).
    dms = group_dms(bot)
    assert Counter(members for members, _m in dms) == Counter(g for gs in played for g in gs)
    members, message = dms[0]
    first, second = sorted(members)
    shown = json.dumps(message["blocks"])
    assert f"Hello <@{first}> and <@{second}>!" in shown
    assert "*Product Leads*" in shown and "Suggested agenda" in shown
    assert "No debrief is scheduled yet" in shown
    # Deterministic: the stored seed and the earlier rounds give the same groups again.
    with bot.db.session() as session:
        stored = session.exec(select(PairingRound).order_by(col(PairingRound.round_no))).all()
    assert {r.seed for r in stored} == {round_seed(circle_id)}
    history = [PastPairing(n, tuple(g)) for n, groups in enumerate(played[:3], 1) for g in groups]
    again = pair_round(
        [Participant(u) for u in (ANA, BEN, CHLOE, EVE)], history, seed=stored[3].seed
    )
    assert {frozenset(g) for g in again.groups} == set(played[3])


def test_an_odd_count_makes_one_trio_and_its_debrief_names_both_peers(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN, CHLOE, DANA, EVE)
    answers = [pair(bot, clock) for _ in range(3)]
    played = rounds(bot)
    for groups in played:
        assert sorted(len(g) for g in groups) == [2, 3]
        assert set().union(*groups) == {ANA, BEN, CHLOE, DANA, EVE}
    assert "An odd count makes one trio, so nobody is left out." in answers[0]
    # Five people can't form a second trio of strangers: one pair meets again, no more.
    assert len(set(pairs_in(played[0])) & set(pairs_in(played[1]))) == 1
    assert "1 pair has met before: no grouping without a repeat was left" in answers[1]
    [trio] = [g for g in played[2] if len(g) == 3]
    trio_dm = [m for members, m in group_dms(bot) if members == trio]
    assert len(trio_dm) == 1 and "a trio this time" in json.dumps(trio_dm[0]["blocks"])

    bot.slash("debrief now")
    someone = sorted(trio)[0]
    others = sorted(trio - {someone})
    debrief = dm_texts(bot, someone)[-1]
    assert f"after your session with <@{others[0]}> and <@{others[1]}>" in debrief


def test_people_from_other_teams_are_preferred_teams_from_titles_or_set_by_hand(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    bot.fake.users[ANA].title = "Platform"  # their Slack titles, read when they are added
    bot.fake.users[BEN].title = "Platform"
    circle_with(bot, ANA, BEN, CHLOE, EVE)
    assert (
        "team in *Product Leads* is now *Growth*"
        in bot.slash(f"team {mention(CHLOE)} Growth").ack_text
    )
    bot.slash(f"team {mention(EVE)} growth")  # teams compare without case
    answers = [pair(bot, clock) for _ in range(3)]
    team = {ANA: "platform", BEN: "platform", CHLOE: "growth", EVE: "growth"}
    played = rounds(bot)
    for groups in played[:2]:
        assert all(len({team[u] for u in g}) == 2 for g in groups)  # mixed teams first
    assert all(len({team[u] for u in g}) == 1 for g in played[2])  # then the rest, not repeats
    assert len(set(pairs_in(played[0]) + pairs_in(played[1]) + pairs_in(played[2]))) == 6
    assert "from the same team" not in answers[0]
    assert "2 pairs are from the same team: there weren't enough other partners left." in answers[2]


def test_team_sets_clears_and_refuses(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN)
    typed = "&lt;Platform&gt; &amp; Co"  # what Slack sends for "<Platform> & Co"
    assert bot.slash(f"team {mention(ANA)} {typed}").ack_text == (
        "<@UANA>'s team in *Product Leads* is now *&lt;Platform&gt; &amp; Co*. Pairing prefers "
        "partners from other teams. `/circle team @person` with no team goes back to their "
        "Slack title."
    )
    with bot.db.session() as session:
        assert session.exec(select(Membership.team).where(Membership.user_id == ANA)).one() == (
            "<Platform> & Co"
        )
    assert bot.slash(f"team {mention(ANA)}").ack_text == (
        "Cleared <@UANA>'s team in *Product Leads*: pairing uses their Slack title, *Designer*, "
        "as their team."
    )
    bot.slash(f"add {mention(CHLOE)}")  # no title on her Slack profile
    assert bot.slash(f"team {mention(CHLOE)}").ack_text == (
        "Cleared <@UCHLOE>'s team in *Product Leads*. Their Slack profile has no title, so their "
        "team is unknown: pairing never counts them as the same team as anyone."
    )
    refused = {
        f"team {mention(EVE)} Growth": "<@UEVE> isn't in *Product Leads*",
        "team Growth": "Mention the person whose team to set first.",
        f"team {mention(ANA)} " + "x" * 81: "That team name is 81 characters; the limit is 80.",
        f"team {mention(ANA)} {mention(BEN)}": "set one person's team at a time",
    }
    for text, expected in refused.items():
        assert expected in bot.slash(text).ack_text, text
    assert (
        "Only a facilitator of *Product Leads* can set people's teams."
        in bot.slash(f"team {mention(BEN)} Growth", user=ANA).ack_text
    )


# --- who is left out, and told why -----------------------------------------------------------


def test_away_opted_out_and_gone_people_are_skipped_and_told_why(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_with(bot, ANA, BEN, CHLOE, DANA, EVE)
    assert "You're away until" in bot.slash("away until 2026-11-30", user=DANA).ack_text
    assert bot.slash("nopair", user=EVE).ack_text == (
        "You won't be paired in *Product Leads* from the next round on; each round tells you "
        "that you were left out. `/circle pair-me` joins again."
    )
    assert "You already opted out" in bot.slash("nopair", user=EVE).ack_text
    bot.fake.users[CHLOE].deleted = True  # she left Slack; the pairing's users.info sees it
    clock.advance(days=2)

    answer = pair(bot, clock)
    assert rounds(bot) == [[frozenset({ANA, BEN})]]
    assert (
        "Not paired this round: <@UCHLOE> left Slack; <@UDANA> is away until Mon 30 Nov 2026; "
        "<@UEVE> opted out (`/circle pair-me` to join again)."
    ) in answer
    assert dm_texts(bot, DANA)[-1] == (
        "You're away until Mon 30 Nov 2026, so you weren't paired in *Product Leads* this "
        "round. `/circle back` in the circle's channel ends your away time early; the next round "
        "includes you."
    )
    assert dm_texts(bot, EVE)[-1].startswith(
        "You opted out of pairing in *Product Leads*, so you weren't paired this round. "
        "`/circle pair-me`"
    )
    assert not any("paired" in t for t in dm_texts(bot, CHLOE))  # gone: nothing sent

    assert bot.slash("pair-me", user=EVE).ack_text == (
        "You're back in the pairing of *Product Leads*: the next round includes you."
    )
    assert bot.slash("back", user=DANA).ack_text.startswith("Welcome back")
    pair(bot, clock)
    assert set().union(*rounds(bot)[1]) == {ANA, BEN, DANA, EVE}
    assert "Only participants are paired in *Product Leads*, and you're a facilitator here" in (
        bot.slash("nopair").ack_text
    )


def test_pairing_fewer_than_two_is_refused_and_leaves_no_trace(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_with(bot)
    assert bot.slash("pair").all_text == (
        "*Product Leads* has no participants to pair yet, so no pairs were formed. Add at least "
        "two with `/circle add @ana @ben`, then run `/circle pair` again."
    )
    bot.slash(f"add {mention(ANA)}")
    assert bot.slash("pair").all_text == (
        "Pairing needs at least two participants, and *Product Leads* has one (<@UANA>), so no "
        "pairs were formed. Add more with `/circle add @person`, then run `/circle pair` again."
    )
    bot.slash(f"add {mention(BEN)}")
    bot.slash("nopair", user=BEN)
    assert bot.slash("pair").all_text == (
        "Only 1 of the 2 participants of *Product Leads* can be paired right now, so no pairs "
        "were formed: <@UBEN> opted out (`/circle pair-me` to join again)."
    )
    bot.slash("pair-me", user=BEN)
    assert bot.slash("pair", user=ANA).all_text.startswith(
        "Only a facilitator of *Product Leads* can pair people."
    )
    bot.slash("pause")
    assert "is paused, so nobody is paired" in bot.slash("pair").all_text
    assert bot.slash("pair me", user=ANA).ack_text.startswith("You're already in the pairing")
    assert "`/circle pair` takes no arguments" in bot.slash(f"pair {mention(ANA)}").ack_text
    assert pairing_rows(bot) == (0, 0, 0)
    assert bot.calls("conversations.open") == []


def test_pairing_again_within_the_same_minute_forms_nothing_twice(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN)
    bot.slash("pair")
    again = bot.slash("pair").all_text
    assert "was already paired this minute (round 1); nothing was formed or sent twice." in again
    assert "<@UANA> and <@UBEN>" in again
    assert pairing_rows(bot) == (1, 2, 1)
    assert len(group_dms(bot)) == 1


def test_a_group_dm_slack_refuses_is_reported_and_recorded(sqlite_bot: BotHarness) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN)
    bot.fake.inject_error("conversations.open", "restricted_action")
    answer = bot.slash("pair").all_text
    assert (
        "The group DM to <@UANA> and the others in their group wasn't sent: `restricted_action`."
    ) in answer
    with bot.db.session() as session:
        [intro] = session.exec(select(Delivery).where(Delivery.kind == "pairing_intro")).all()
    assert (intro.status, intro.error) == ("failed", "restricted_action")
    assert "pairing intro: sent 0, failed 1" in bot.slash("status").ack_text


# --- the schedule ---------------------------------------------------------------------------

MONDAY_1000_LONDON = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # GMT in November


def test_a_pairing_schedule_forms_each_round_once_in_the_circles_zone(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_with(bot, ANA, BEN, CHLOE)
    reply = bot.slash("schedule pairing mon 10:00 every 2 weeks")
    assert "Scheduled the pairing" in reply.ack_text
    assert "every 2 weeks on Monday, at 10:00 Europe/London for everyone" in reply.ack_text
    deliverer = bot.services.deliverer

    def tick(after: timedelta) -> tuple[int, int, int]:
        deliverer.tick(MONDAY_1000_LONDON + after)
        return pairing_rows(bot)

    assert tick(-timedelta(seconds=1)) == (0, 0, 0)
    first = deliverer.tick(MONDAY_1000_LONDON + timedelta(seconds=30))
    assert (first.registered, first.sent) == (1, 1)  # one trio: one group DM
    assert tick(timedelta(seconds=30)) == (1, 3, 1)  # the same tick again forms nothing
    assert tick(timedelta(minutes=1)) == (1, 3, 1)
    assert tick(timedelta(days=7, minutes=1)) == (1, 3, 1)  # every 2 weeks
    assert [sorted(len(g) for g in groups) for groups in rounds(bot)] == [[3]]
    assert len(group_dms(bot)) == 1
    with bot.db.session() as session:
        [made] = session.exec(select(PairingRound)).all()
    assert made.key.startswith(f"pairing:{made.schedule_id}:2026-11-16")
    assert made.created_by is None and made.created_at == MONDAY_1000_LONDON

    # Paused on the next occurrence: no round. Skipped date: none either. Then it resumes.
    bot.slash("pause until 2026-11-30")
    assert tick(timedelta(days=14, minutes=1)) == (1, 3, 1)
    bot.slash("resume")
    assert "Skipped Mon 14 Dec 2026" in bot.slash("skip 2026-12-14").ack_text
    assert tick(timedelta(days=28, minutes=1)) == (1, 3, 1)
    bot.slash("nopair", user=CHLOE)
    assert tick(timedelta(days=42, minutes=1)) == (2, 6, 3)  # the pair's DM and CHLOE's note
    assert rounds(bot)[-1] == [frozenset({ANA, BEN})]
    assert dm_texts(bot, CHLOE)[-1].startswith("You opted out of pairing")


def test_ticks_racing_for_the_same_round_form_it_once(bot: BotHarness) -> None:
    circle_with(bot, ANA, BEN, CHLOE, EVE)
    bot.slash("schedule pairing mon 10:00")
    deliverers = [make_deliverer(bot.db, bot.services.client) for _ in range(3)]
    barrier = threading.Barrier(len(deliverers))

    def run(deliverer: Deliverer) -> None:
        barrier.wait()
        deliverer.tick(MONDAY_1000_LONDON + timedelta(seconds=30))

    threads = [threading.Thread(target=run, args=(d,)) for d in deliverers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pairing_rows(bot) == (1, 4, 2)
    assert len(group_dms(bot)) == 2


def test_a_round_found_after_the_grace_window_is_not_formed(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN)
    bot.slash("schedule pairing mon 10:00")
    bot.services.deliverer.tick(MONDAY_1000_LONDON + timedelta(hours=7))
    assert pairing_rows(bot) == (0, 0, 0)
    assert bot.calls("conversations.open") == []


def test_a_scheduled_round_with_one_person_available_tells_them(
    sqlite_bot: BotHarness,
) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN)
    bot.slash("schedule pairing mon 10:00")
    bot.slash("away until 2026-11-20", user=BEN)
    bot.services.deliverer.tick(MONDAY_1000_LONDON + timedelta(seconds=30))
    assert pairing_rows(bot) == (1, 2, 2)  # ANA alone, BEN away: each told, nobody paired
    assert rounds(bot) == []
    assert dm_texts(bot, ANA)[-1].startswith("Nobody else in *Product Leads* could be paired")
    assert dm_texts(bot, BEN)[-1].startswith("You're away until Fri 20 Nov 2026")


# --- debriefs name the peer ----------------------------------------------------------------


def test_the_debrief_names_the_peer_and_its_modal_prefills_them(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN)
    bot.slash("debrief now")  # before any pairing: no peer named
    assert "after your session with" not in dm_texts(bot, ANA)[-1]
    clock.advance(minutes=1)
    bot.slash("schedule debrief fri 16:00")
    pair(bot, clock)
    [(_members, intro)] = group_dms(bot)
    assert "*Next debrief:* Friday 20 November at 16:00, each of you in your own time zone." in (
        json.dumps(intro["blocks"], ensure_ascii=False)
    )
    bot.slash("debrief now")
    assert "debrief after your session with <@UBEN>." in dm_texts(bot, ANA)[-1]
    assert "debrief after your session with <@UANA>." in dm_texts(bot, BEN)[-1]

    message = bot.fake.messages(bot.fake.dm_channel_of(ANA))[-1]
    [button] = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "reflection_open"
    ]
    bot.fake.send_block_action(
        bot.events_url,
        user_id=ANA,
        action_id="reflection_open",
        value=button["value"],
        block_id="checkin_actions",
        message=message,
        channel_id=message["channel"],
    )
    bot.wait_idle()
    opened = bot.calls("views.open")[-1]
    view = bot.fake.view(opened.response["view"]["id"])
    [peer] = [b for b in view["blocks"] if b.get("block_id") == "peer"]
    assert peer["element"]["initial_user"] == BEN


# --- data rights ---------------------------------------------------------------------------


def test_my_data_lists_the_rounds_with_partners_and_reasons(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN, CHLOE)
    bot.slash(f"team {mention(ANA)} Platform")
    pair(bot, clock)
    bot.slash("nopair", user=ANA)
    pair(bot, clock)
    bot.slash("my-data", user=ANA)
    _shared, raw = the_upload_to(bot, ANA)
    data = json.loads(raw)
    assert data["memberships"][0]["team"] == "Platform"
    assert data["memberships"][0]["left_out_of_pairing"] is True
    first, second = data["pairings"]
    assert (first["circle"], first["round"], first["not_paired_because"]) == (
        "Product Leads",
        1,
        None,
    )
    assert sorted(first["paired_with"]) == [BEN, CHLOE]  # three people: one trio
    assert (second["round"], second["paired_with"], second["not_paired_because"]) == (
        2,
        [],
        "opted_out",
    )


def test_forget_me_keeps_the_partners_history_without_the_person(
    sqlite_bot: BotHarness, clock: FakeClock
) -> None:
    bot = sqlite_bot
    circle_with(bot, ANA, BEN)
    pair(bot, clock)
    view = forget_me_view(bot, ANA)
    bot.fake.send_view_submission(bot.events_url, user_id=ANA, view=view, state_values={})
    bot.wait_idle()
    with bot.db.session() as session:
        members = {m.user_id for m in session.exec(select(PairingMember))}
    assert members == {BEN, "UFORGOTTEN"}
    # BEN's next debrief names nobody (the placeholder is never a peer); pairing goes on.
    bot.slash("debrief now")
    assert "Time for your *Product Leads* debrief." in dm_texts(bot, BEN)[-1]
    bot.slash(f"add {mention(CHLOE)} {mention(EVE)}")
    pair(bot, clock)
    assert set().union(*rounds(bot)[1]) == {BEN, CHLOE, EVE}


def test_once_a_circle_pairs_its_debriefs_go_to_the_people_in_a_pair(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_with(bot, ANA, BEN, CHLOE)
    bot.slash("schedule debrief fri 16:00 tz:Europe/London")
    assert "to 3 participants" in bot.slash("debrief now").ack_text  # no round yet: everyone
    clock.advance(minutes=1)
    bot.slash("nopair", user=CHLOE)
    pair(bot, clock)
    assert rounds(bot) == [[frozenset({ANA, BEN})]]

    reply = bot.slash("debrief now")
    assert "Not in the latest pairing round, so not sent: <@UCHLOE>." in reply.all_text
    friday = datetime(2026, 11, 20, 16, 1, tzinfo=UTC)  # the scheduled debrief, in London
    make_deliverer(bot.db, bot.services.client).tick(friday)
    with bot.db.session() as session:
        scheduled = session.exec(
            select(Delivery.recipient).where(
                Delivery.kind == "debrief", col(Delivery.key).startswith("debrief:")
            )
        ).all()
    assert sorted(scheduled) == [ANA, BEN]
