"""/circle my-data, forget-me and export, end to end: signed requests into the real bot, the
file uploads (files.getUploadURLExternal, the upload, files.completeUploadExternal) and the
confirmation modal as the fake Slack records them.

The database sweep of forget-me (every table and column, both databases) is in
tests/bot/data_rights/test_data_rights.py, which uses the set-up helpers below.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from storage.models import (
    ActionItem,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
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

NOTHING_HELD = (
    "I don't hold any data about you: you're not in any circle and haven't written anything "
    "here, so there is nothing to send or delete."
)

# --- set-up (also used by tests/bot/data_rights/test_data_rights.py) ----------------------


def mention(user_id: str) -> str:
    return f"<@{user_id}|{user_id.lower()}>"


def circle_with_people(bot: BotHarness) -> int:
    """*Product Leads* in CHANNEL: FAC facilitates, ANA and BEN participate, DANA leads."""
    bot.slash("create Product Leads")
    bot.slash(f"add {mention(ANA)} {mention(BEN)}")
    bot.slash(f"add {mention(DANA)} as leader")
    [circle] = [c for c in bot.circles() if c.channel_id == CHANNEL]
    assert circle.id is not None
    return circle.id


def _open_latest(bot: BotHarness, user: str) -> dict[str, Any]:
    """Press Write on the newest check-in or debrief DM of `user`; return the modal."""
    dms = [
        m
        for m in bot.fake.messages(bot.fake.dm_channel_of(user))
        if any(
            e.get("action_id") == "reflection_open"
            for b in m.get("blocks") or []
            if b["type"] == "actions"
            for e in b["elements"]
        )
    ]
    message = dms[-1]
    [button] = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "reflection_open"
    ]
    before = len(bot.calls("views.open"))
    status, _h, _b = bot.fake.send_block_action(
        bot.events_url,
        user_id=user,
        action_id="reflection_open",
        value=button["value"],
        block_id="checkin_actions",
        message=message,
        channel_id=message["channel"],
    )
    assert status == 200
    bot.wait_idle()
    [opened] = [c for c in bot.calls("views.open")[before:] if c.ok]
    return bot.fake.view(opened.response["view"]["id"])


def _meta(visibility: str, named: bool) -> dict[str, Any]:
    return {
        "meta.visibility": {
            "visibility": {"type": "radio_buttons", "selected_option": {"value": visibility}}
        },
        "meta.named": {
            "named": {
                "type": "checkboxes",
                "selected_options": [{"value": "named"}] if named else [],
            }
        },
    }


def _submit(bot: BotHarness, user: str, view: dict[str, Any], values: dict[str, Any]) -> None:
    status, _h, body = bot.fake.send_view_submission(
        bot.events_url, user_id=user, view=view, state_values=values
    )
    bot.wait_idle()
    assert status == 200 and not body.strip(), body  # saved: the modal closed


def write_checkin(
    bot: BotHarness,
    user: str,
    *,
    tried: str,
    visibility: str = "circle",
    named: bool = False,
    confidence: str = "4",
    next_step: str | None = None,
    due: str | None = None,
) -> None:
    """Answer the newest check-in DM of `user` through its modal (the default questions)."""
    view = _open_latest(bot, user)
    values = {
        "tried": {"tried": {"type": "plain_text_input", "value": tried}},
        "obstacles": {"obstacles": {"type": "plain_text_input", "value": None}},
        "confidence": {
            "confidence": {"type": "radio_buttons", "selected_option": {"value": confidence}}
        },
        "next_step": {"next_step": {"type": "plain_text_input", "value": next_step}},
        "next_step.due": {"due": {"type": "datepicker", "selected_date": due}},
        **_meta(visibility, named),
    }
    _submit(bot, user, view, values)


def write_debrief(
    bot: BotHarness,
    user: str,
    *,
    peer: str,
    topic: str,
    insight: str,
    commitment: str,
    visibility: str = "circle",
    named: bool = False,
) -> None:
    view = _open_latest(bot, user)
    values = {
        "peer": {"peer": {"type": "users_select", "selected_user": peer}},
        "topic": {"topic": {"type": "plain_text_input", "value": topic}},
        "insight": {"insight": {"type": "plain_text_input", "value": insight}},
        "commitment": {"commitment": {"type": "plain_text_input", "value": commitment}},
        **_meta(visibility, named),
    }
    _submit(bot, user, view, values)


def sign_up(bot: BotHarness, clock: FakeClock, circle_id: int, user: str, title: str) -> None:
    """A demo day of the circle and `user`'s sign-up to it (rows: the modal has its own tests)."""
    with bot.db.session() as session:
        demo = DemoDay(
            team_id=TEAM,
            circle_id=circle_id,
            title="Q4 demo day",
            starts_at=clock.now + timedelta(days=7),
            reminder_offsets="86400",
            created_by=FAC,
            created_at=clock.now,
        )
        session.add(demo)
        session.flush()
        assert demo.id is not None
        session.add(
            DemoSignup(
                team_id=TEAM,
                demo_day_id=demo.id,
                user_id=user,
                title=title,
                what_tried="Tried it on two teams",
                created_at=clock.now,
                updated_at=clock.now,
            )
        )


def uploads_to(bot: BotHarness, user: str) -> list[tuple[dict[str, Any], bytes]]:
    """Files the bot shared in its DM with `user`: (file as Slack describes it, bytes)."""
    dm = bot.fake.dm_channel_of(user)
    found: list[tuple[dict[str, Any], bytes]] = []
    for call in bot.calls("files.completeUploadExternal"):
        if call.ok and call.args.get("channel_id") == dm:
            for shared in call.response["files"]:
                found.append((shared, bot.fake.uploaded_file(shared["id"])))
    return found


def the_upload_to(bot: BotHarness, user: str) -> tuple[dict[str, Any], bytes]:
    [upload] = uploads_to(bot, user)
    return upload


def channel_files(bot: BotHarness, channel: str) -> list[Any]:
    return [f for m in bot.fake.messages(channel) for f in m.get("files") or []]


def everyone_writes(bot: BotHarness, clock: FakeClock) -> None:
    """ANA: a named check-in (circle) and a private debrief; BEN: a leaders' check-in and a
    debrief naming ANA as his peer."""
    bot.slash("checkin now")
    write_checkin(
        bot,
        ANA,
        tried="Café pricing test — «naïve» customers ☕",
        named=True,
        next_step="Call the llama vendor",
        due="2026-11-20",
    )
    write_checkin(bot, BEN, tried="Shadowed support for a day", visibility="leaders")
    clock.advance(minutes=1)
    bot.slash("debrief now")
    write_debrief(
        bot,
        ANA,
        peer=BEN,
        topic="My secret doubts",
        insight="Say no sooner",
        commitment="Block Fridays",
        visibility="private",
    )
    write_debrief(
        bot,
        BEN,
        peer=ANA,
        topic="Hiring loop",
        insight="Ask earlier",
        commitment="Draft the JD",
    )


# --- my-data ----------------------------------------------------------------------------------


def test_my_data_sends_everything_of_the_person_as_json_by_dm(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_id = circle_with_people(bot)
    everyone_writes(bot, clock)
    sign_up(bot, clock, circle_id, ANA, "Pricing page v2")

    reply = bot.slash("my-data", user=ANA)
    assert reply.ack_text == (
        "Preparing your data… I'll send it to you as a file in a direct message."
    )
    assert reply.follow_ups[-1]["text"] == (
        "Sent: your data is a JSON file in your direct messages with me."
    )
    shared, raw = the_upload_to(bot, ANA)
    assert shared["name"] == "circlebot-my-data-2026-11-16.json"
    assert "Café".encode() in raw  # UTF-8, not \u escapes
    data = json.loads(raw.decode("utf-8"))
    assert (data["user_id"], data["workspace"]) == (ANA, TEAM)
    assert data["profile"]["real_name"] == "Ana Lima"
    assert data["profile"]["time_zone"] == "America/New_York"
    assert [(m["circle"], m["role"], m["removed_at"]) for m in data["memberships"]] == [
        ("Product Leads", "participant", None)
    ]
    checkin, debrief = data["reflections"]
    assert (checkin["kind"], checkin["visibility"], checkin["show_my_name_when_quoted"]) == (
        "checkin",
        "circle",
        True,
    )
    assert checkin["submitted_at"] == "2026-11-16T09:00:00+00:00"
    assert checkin["week_start"] == "2026-11-16"
    assert [(a["question_id"], a["text"], a["number"]) for a in checkin["answers"]] == [
        ("tried", "Café pricing test — «naïve» customers ☕", None),
        ("confidence", None, 4),
        ("next_step", "Call the llama vendor", None),
    ]
    assert checkin["answers"][0]["question"] == "What did you try since last time?"
    # Her private debrief is hers: all of it is in her copy.
    assert (debrief["kind"], debrief["visibility"], debrief["peer_user_id"]) == (
        "debrief",
        "private",
        BEN,
    )
    assert {a["question_id"]: a["text"] for a in debrief["answers"]}["topic"] == (
        "My secret doubts"
    )
    assert [(i["text"], i["status"], i["due_date"]) for i in data["action_items"]] == [
        ("Call the llama vendor", "open", "2026-11-20"),
        ("Block Fridays", "open", None),
    ]
    assert [(s["demo_day"], s["title"]) for s in data["demo_signups"]] == [
        ("Q4 demo day", "Pricing page v2")
    ]
    sent = data["messages_sent_to_you"]
    assert [(m["kind"], m["status"]) for m in sent] == [("checkin", "sent"), ("debrief", "sent")]
    assert sent[0]["answered_at"] == "2026-11-16T09:00:00+00:00"
    # Nothing of anyone else: BEN's words are not in ANA's file.
    assert b"Hiring loop" not in raw and b"Shadowed support" not in raw
    # The file went to ANA's DM only, never into the channel.
    assert channel_files(bot, CHANNEL) == []
    assert uploads_to(bot, BEN) == [] and uploads_to(bot, FAC) == []


def test_my_data_works_in_a_dm_with_the_bot(bot: BotHarness) -> None:
    circle_with_people(bot)
    reply = bot.slash("my-data", user=BEN, channel=bot.fake.dm_channel_of(BEN))
    assert reply.follow_ups[-1]["text"].startswith("Sent: your data is a JSON file")
    _shared, raw = the_upload_to(bot, BEN)
    data = json.loads(raw)
    assert data["reflections"] == [] and data["memberships"][0]["circle"] == "Product Leads"


def test_my_data_and_forget_me_with_nothing_held_say_so(bot: BotHarness) -> None:
    circle_with_people(bot)
    for command in ("my-data", "forget-me", "mydata"):
        reply = bot.slash(command, user=EVE)
        assert reply.ack_text == NOTHING_HELD and reply.follow_ups == []
    assert bot.calls("files.getUploadURLExternal") == []
    assert bot.calls("views.open") == []


def test_my_data_says_when_slack_refuses_the_file(bot: BotHarness) -> None:
    circle_with_people(bot)
    bot.fake.inject_error("files.completeUploadExternal", "file_uploads_disabled")
    reply = bot.slash("my-data", user=ANA)
    assert reply.follow_ups[-1]["text"] == (
        "I couldn't send your data just now (Slack said `file_uploads_disabled`). "
        "Please try `/circle my-data` again in a minute."
    )
    assert "Traceback" not in reply.all_text


def test_data_rights_commands_take_no_arguments(bot: BotHarness) -> None:
    reply = bot.slash("forget-me now please", user=ANA)
    assert reply.ack_text.startswith("`/circle forget-me` takes no arguments (got “now please”).")


# --- forget-me --------------------------------------------------------------------------------


def forget_me_view(bot: BotHarness, user: str) -> dict[str, Any]:
    before = len(bot.calls("views.open"))
    reply = bot.slash("forget-me", user=user)
    assert reply.ack_text == "Check the form that opened: nothing is deleted until you confirm."
    assert reply.follow_ups == []
    [opened] = [c for c in bot.calls("views.open")[before:] if c.ok]
    return bot.fake.view(opened.response["view"]["id"])


def rows_of(bot: BotHarness, user: str) -> dict[str, int]:
    with bot.db.session() as session:
        return {
            "reflection": len(
                session.exec(select(Reflection).where(Reflection.user_id == user)).all()
            ),
            "action_item": len(
                session.exec(select(ActionItem).where(ActionItem.user_id == user)).all()
            ),
            "membership": len(
                session.exec(select(Membership).where(Membership.user_id == user)).all()
            ),
        }


def dm_texts(bot: BotHarness, user: str) -> list[str]:
    return [
        str(c.args.get("text"))
        for c in bot.calls("chat.postMessage")
        if c.ok and c.args.get("channel") == user
    ]


def test_forget_me_asks_first_and_deletes_only_once_confirmed(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_with_people(bot)
    everyone_writes(bot, clock)
    kept = rows_of(bot, ANA)
    assert kept == {"reflection": 2, "action_item": 2, "membership": 1}

    view = forget_me_view(bot, ANA)
    assert view["callback_id"] == "forget_me_confirm"
    assert (view["submit"]["text"], view["close"]["text"]) == ("Delete my data", "Cancel")
    shown = "\n".join(b["text"]["text"] for b in view["blocks"])
    assert "• 2 reflections with all their answers" in shown
    assert "• 2 action items" in shown
    assert "• your membership of 1 circle: *Product Leads*" in shown
    assert "*This can't be undone.*" in shown
    # The modal is open and not confirmed (Cancel sends Slack nothing): nothing changed.
    assert rows_of(bot, ANA) == kept

    status, _h, body = bot.fake.send_view_submission(
        bot.events_url, user_id=ANA, view=view, state_values={}
    )
    bot.wait_idle()
    assert status == 200 and not body.strip()  # the modal closed
    assert rows_of(bot, ANA) == {"reflection": 0, "action_item": 0, "membership": 0}
    assert bot.person(ANA) is None
    [told] = [t for t in dm_texts(bot, ANA) if t.startswith("Done:")]
    assert told.startswith(
        "Done: I deleted everything I held about you: 2 reflections, 2 action items, "
        "0 demo sign-ups, 1 circle membership, 2 records of messages sent to you"
    )
    # BEN's debrief naming her stays his, with the peer replaced.
    with bot.db.session() as session:
        bens = session.exec(select(Reflection).where(Reflection.user_id == BEN)).all()
        assert len(bens) == 2
        assert [r.peer_user_id for r in bens if r.kind == "debrief"] == ["UFORGOTTEN"]
    assert bot.members() == {FAC: "facilitator", BEN: "participant", DANA: "leader"}
    # Her Home is republished without her circles.
    assert bot.calls("views.publish")[-1].args["user_id"] == ANA
    # Asking again: there is nothing left.
    assert bot.slash("forget-me", user=ANA).ack_text == NOTHING_HELD


def test_the_last_facilitator_is_told_to_hand_over_first(bot: BotHarness) -> None:
    circle_with_people(bot)
    reply = bot.slash("forget-me", user=FAC)
    assert reply.ack_text == (
        f"You're the only facilitator of *Product Leads* in <#{CHANNEL}>, so nothing was "
        "deleted: forgetting you now would leave nobody able to run it. Hand it over first "
        "with `/circle add @someone as facilitator` in its channel (or end it with "
        "`/circle archive`), then run `/circle forget-me` again."
    )
    assert bot.calls("views.open") == []
    # Once handed over, the modal opens.
    bot.slash(f"add {mention(ANA)} as facilitator")
    forget_me_view(bot, FAC)


def test_a_facilitator_left_alone_after_the_modal_opened_is_refused_on_submit(
    bot: BotHarness,
) -> None:
    circle_with_people(bot)
    bot.slash(f"add {mention(ANA)} as facilitator")
    view = forget_me_view(bot, FAC)
    bot.slash(f"remove {mention(ANA)}", user=FAC)  # now FAC is the only facilitator again
    bot.fake.send_view_submission(bot.events_url, user_id=FAC, view=view, state_values={})
    bot.wait_idle()
    [told] = dm_texts(bot, FAC)
    assert told.startswith("You're the only facilitator of *Product Leads*")
    assert rows_of(bot, FAC)["membership"] == 1 and bot.person(FAC) is not None


# --- export -----------------------------------------------------------------------------------


def export_rows(bot: BotHarness, user: str = FAC) -> tuple[dict[str, Any], list[dict[str, str]]]:
    shared, raw = the_upload_to(bot, user)
    assert raw.startswith("\ufeff".encode())  # a BOM, so spreadsheets read UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    return shared, rows


def test_export_sends_the_readable_reflections_as_csv_to_the_facilitator(
    bot: BotHarness, clock: FakeClock
) -> None:
    circle_with_people(bot)
    everyone_writes(bot, clock)
    # A hostile answer: a formula, quotes, a comma and a line break.
    with bot.db.session() as session:
        answer = session.exec(
            select(ReflectionAnswer).where(ReflectionAnswer.question_id == "insight")
        ).all()
        [bens] = [a for a in answer if a.text == "Ask earlier"]
        bens.text = '=HYPERLINK("http://evil","click"), then\n"quote"'
        session.add(bens)

    reply = bot.slash("export")
    assert reply.ack_text == (
        "Preparing the export of *Product Leads*… I'll send it to you in a direct message, "
        "not in this channel."
    )
    assert reply.follow_ups[-1]["text"] == (
        "Sent: the export of *Product Leads* (4 reflections, 1 private without text) is a CSV "
        "file in your direct messages with me."
    )
    shared, rows = export_rows(bot)
    assert shared["name"] == "circlebot-product-leads-2026-11-16.csv"
    assert channel_files(bot, CHANNEL) == []  # never into the channel

    by_reflection: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_reflection.setdefault(row["reflection_id"], []).append(row)
    assert len(by_reflection) == 4
    anas_checkin, bens_checkin, anas_debrief, bens_debrief = by_reflection.values()
    # ANA chose to be named: her name is on her answers.
    assert {(r["author_id"], r["author_name"]) for r in anas_checkin} == {(ANA, "Ana Lima")}
    assert [(r["question_id"], r["answer"]) for r in anas_checkin] == [
        ("tried", "Café pricing test — «naïve» customers ☕"),
        ("confidence", "4"),
        ("next_step", "Call the llama vendor"),
    ]
    assert anas_checkin[2]["action_item_status"] == "open"
    assert anas_checkin[2]["action_item_due"] == "2026-11-20"
    # BEN did not: his answers are there, without his name; `leaders` is readable too.
    assert {(r["author_id"], r["author_name"], r["visibility"]) for r in bens_checkin} == {
        ("", "", "leaders")
    }
    # ANA's private debrief: one row, counted, without a word of it.
    assert anas_debrief == [
        {
            "circle": "Product Leads",
            "reflection_id": anas_debrief[0]["reflection_id"],
            "kind": "debrief",
            "week_start": "2026-11-16",
            "submitted_at": "2026-11-16T09:01:00+00:00",
            "visibility": "private",
            "author_id": "",
            "author_name": "",
            "question_id": "",
            "question": "",
            "answer": "(private: only its author can read it)",
            "action_item_status": "",
            "action_item_due": "",
        }
    ]
    _shared, raw = the_upload_to(bot, FAC)
    for secret in (b"My secret doubts", b"Say no sooner", b"Block Fridays"):
        assert secret not in raw
    # BEN's debrief names his peer by name; the formula is defused and survives quoting.
    answers = {r["question_id"]: r["answer"] for r in bens_debrief}
    assert answers["peer"] == "Ana Lima"
    assert answers["insight"] == '\'=HYPERLINK("http://evil","click"), then\n"quote"'


def test_export_shows_who_left_slack(bot: BotHarness, clock: FakeClock) -> None:
    circle_with_people(bot)
    bot.slash("checkin now")
    write_checkin(bot, BEN, tried="Paired with design", named=True)
    with bot.db.session() as session:
        person = session.get(Person, (TEAM, BEN))
        assert person is not None
        person.deleted = True  # left Slack after writing
    bot.slash("export")
    _shared, rows = export_rows(bot)
    assert {r["author_name"] for r in rows} == {"Ben Weber (left Slack)"}


def test_export_is_for_facilitators_in_their_circles_channel(bot: BotHarness) -> None:
    circle_with_people(bot)
    for user in (ANA, DANA):
        reply = bot.slash("export", user=user)
        assert reply.ack_text == (
            f"Only a facilitator of *Product Leads* can export its data. Ask <@{FAC}>."
        )
    in_dm = bot.slash("export", channel=bot.fake.dm_channel_of(FAC))
    assert in_dm.ack_text.startswith("There is no circle in a direct message.")
    elsewhere = bot.slash("export", channel=OTHER_CHANNEL)
    assert elsewhere.ack_text.startswith("There is no circle in this channel.")
    assert bot.calls("files.getUploadURLExternal") == []
    assert all("Traceback" not in c.args.get("text", "") for c in bot.calls("response_url"))


def test_reflections_kept_after_forget_me_are_not_attributed(
    bot: BotHarness, clock: FakeClock
) -> None:
    """An export after ANA is forgotten: her rows are gone and BEN's peer answer says so."""
    circle_with_people(bot)
    everyone_writes(bot, clock)
    view = forget_me_view(bot, ANA)
    bot.fake.send_view_submission(bot.events_url, user_id=ANA, view=view, state_values={})
    bot.wait_idle()
    bot.slash("export")
    _shared, rows = export_rows(bot)
    assert {r["author_id"] for r in rows} == {""}
    peer = [r["answer"] for r in rows if r["question_id"] == "peer"]
    assert peer == ["a forgotten person"]
    with bot.db.session() as session:
        assert session.exec(select(Reflection).where(col(Reflection.user_id) == ANA)).all() == []
