"""Set-up and reading helpers shared by the in-process listener tests.

The rows and messages are made the way the HTTP listener tests make them (tests/handlers/*.py):
circles through `/circle`, deliveries and demo days as rows, DMs and reminders posted through
the bot's own WebClient to the fake Slack, so the buttons clicked are the ones the bot built.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlmodel import select

from bot.rhythm.messages import checkin_message, demoday_reminder_message
from storage.models import Delivery, DeliveryStatus, DemoDay
from tests.harness import ANA, BEN, CHANNEL, FAC, TEAM, FakeClock
from tests.in_process import Answer, InProcessBot


def mention(user_id: str) -> str:
    return f"<@{user_id}|{user_id.lower()}>"


def circle_with_ana_and_ben(bot: InProcessBot, name: str = "Product Leads") -> int:
    """`name` in CHANNEL: FAC facilitates, ANA and BEN take part."""
    assert bot.slash(f"create {name}").status == 200
    assert bot.slash(f"add {mention(ANA)} {mention(BEN)}").status == 200
    [circle] = [c for c in bot.circles() if c.channel_id == CHANNEL]
    assert circle.id is not None
    return circle.id


def add_delivery(bot: InProcessBot, clock: FakeClock, circle_id: int, **fields: Any) -> Delivery:
    """A check-in sent to ANA now (a row, as the delivery engine leaves it)."""
    values: dict[str, Any] = {
        "team_id": TEAM,
        "circle_id": circle_id,
        "key": f"checkin:{circle_id}:{ANA}:{clock.now.isoformat()}",
        "kind": "checkin",
        "recipient": ANA,
        "due_at": clock.now,
        "status": DeliveryStatus.SENT,
        "sent_at": clock.now,
        "created_at": clock.now,
    }
    values.update(fields)
    with bot.db.session() as session:
        delivery = Delivery(**values)
        session.add(delivery)
        session.flush()
        session.refresh(delivery)
    return delivery


def sent_checkin(
    bot: InProcessBot, clock: FakeClock, circle_id: int, circle_name: str = "Product Leads"
) -> tuple[Delivery, dict[str, Any]]:
    """A check-in DM to ANA with its Write and Skip buttons; the row knows where it went."""
    delivery = add_delivery(bot, clock, circle_id)
    assert delivery.id is not None
    message = checkin_message(
        kind="checkin",
        circle_name=circle_name,
        questions=["What did you try?"],
        delivery_id=delivery.id,
    )
    response = bot.services.client.chat_postMessage(channel=ANA, **message)
    [dm] = [m for m in bot.fake.messages(response["channel"]) if m["ts"] == response["ts"]]
    with bot.db.session() as session:
        row = session.get(Delivery, delivery.id)
        assert row is not None
        row.channel_id, row.message_ts = dm["channel"], dm["ts"]
        session.add(row)
    delivery.channel_id, delivery.message_ts = dm["channel"], dm["ts"]
    return delivery, dm


def add_demo_day(bot: InProcessBot, clock: FakeClock, circle_id: int) -> int:
    with bot.db.session() as session:
        demo_day = DemoDay(
            team_id=TEAM,
            circle_id=circle_id,
            title="Q4 <demo> day",
            starts_at=clock.now + timedelta(days=7),
            reminder_offsets="604800,86400,3600",
            created_by=FAC,
            created_at=clock.now,
        )
        session.add(demo_day)
        session.flush()
        assert demo_day.id is not None
        return demo_day.id


def post_reminder(bot: InProcessBot, clock: FakeClock, demo_day_id: int) -> dict[str, Any]:
    """The demo-day reminder in CHANNEL as the delivery engine posts it (stored message)."""
    with bot.db.session() as session:
        demo_day = session.get(DemoDay, demo_day_id)
        assert demo_day is not None
        message = demoday_reminder_message(
            circle_name="Product Leads",
            demo_day_id=demo_day_id,
            title=demo_day.title,
            starts_at=demo_day.starts_at,
            signups=[],
            topics=True,
            now=clock.now,
        )
    response = bot.services.client.chat_postMessage(channel=CHANNEL, **message)
    [stored] = [m for m in bot.fake.messages(CHANNEL) if m["ts"] == response["ts"]]
    return stored


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    """The one element of `blocks` (actions elements or section accessories) with action_id."""
    found = [
        element
        for block in blocks
        for element in [block.get("accessory"), *block.get("elements", [])]
        if isinstance(element, dict) and element.get("action_id") == action_id
    ]
    assert len(found) == 1, (action_id, found)
    return found[0]


def click_in_message(
    bot: InProcessBot,
    message: dict[str, Any],
    action_id: str,
    *,
    user: str,
    value: str | None = None,
) -> Answer:
    """Press the `action_id` button of a stored message as `user`; returns the Answer."""
    pressed = button(message["blocks"], action_id)
    return bot.block_action(
        action_id,
        pressed["value"] if value is None else value,
        user=user,
        block_id=pressed.get("block_id", "b"),
        message=message,
        channel_id=message["channel"],
    )


def stored_message(bot: InProcessBot, message: dict[str, Any]) -> dict[str, Any]:
    [found] = [m for m in bot.fake.messages(message["channel"]) if m["ts"] == message["ts"]]
    return found


def has_buttons(message: dict[str, Any]) -> bool:
    return any(b["type"] == "actions" for b in message.get("blocks", []))


def ephemeral_texts(bot: InProcessBot, user: str) -> list[str]:
    return [m["text"] for m in bot.fake.ephemerals(user=user)]


def dm_texts(bot: InProcessBot, user: str) -> list[str]:
    return [
        str(c.args.get("text"))
        for c in bot.calls("chat.postMessage")
        if c.ok and c.args.get("channel") == user
    ]


def opened_view(bot: InProcessBot, before: int) -> dict[str, Any] | None:
    """The modal a successful views.open (after the first `before` calls) opened, if any."""
    opened = [call for call in bot.calls("views.open")[before:] if call.ok]
    if not opened:
        return None
    [call] = opened
    return bot.fake.view(call.response["view"]["id"])


def rows(bot: InProcessBot, model: Any) -> list[Any]:
    with bot.db.session() as session:
        return list(session.exec(select(model).order_by(model.id)).all())


def blocks_text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)
