"""The demo workspace of ``FakeSlack.seed_demo_workspace`` (ids documented there)."""

from __future__ import annotations

from .fake_models import FakeUser
from .fake_state import WorkspaceState

#: ids created by :meth:`FakeSlack.seed_demo_workspace`
DEMO_USER_IDS: dict[str, str] = {
    "ana": "U0ANA0001",
    "ben": "U0BEN0002",
    "chloe": "U0CHLOE03",
    "dana": "U0DANA004",
    "eitan": "U0EITAN05",
    "fran": "U0FRAN006",
    "gopal": "U0GOPAL07",
    "hana": "U0HANA008",
    "polly": "U0POLLY09",  # another app's bot user
    "oscar": "U0OSCAR10",  # deactivated
}
DEMO_CHANNEL_IDS: dict[str, str] = {
    "general": "C0GENERAL",
    "product-leads": "C0PRODLEAD",
    "random": "C0RANDOM1",  # the bot is not a member
    "old-launch": "C0OLDLNCH",  # archived
}


def seed_demo(ws: WorkspaceState) -> None:
    """Add the demo people, bots and channels to ``ws``."""
    people = [
        ("ana", "Ana Souza", "America/New_York", "Head of Product"),
        ("ben", "Ben Okafor", "Europe/London", "Product Lead, Payments"),
        ("chloe", "Chloe Martin", "Europe/Berlin", "Product Lead, Growth"),
        ("dana", "Dana Whitfield", "America/Los_Angeles", "Product Lead, Search"),
        ("eitan", "Eitan Cohen", "Europe/Berlin", "Product Lead, Mobile"),
        ("fran", "Fran Moretti", "Europe/London", "Product Lead, Platform"),
        ("gopal", "Gopal Rao", "Asia/Kolkata", "Product Lead, Data"),
        ("hana", "Hana Kim", "America/Los_Angeles", "Product Lead, Design Systems"),
    ]
    humans = []
    for name, real_name, tz, title in people:
        uid = DEMO_USER_IDS[name]
        humans.append(uid)
        ws.add_user(
            FakeUser(
                id=uid,
                name=name,
                real_name=real_name,
                tz=tz,
                title=title,
                display_name=real_name.split()[0],
                email=f"{name}@circlebot.example",
            )
        )
    ws.add_user(FakeUser(id=DEMO_USER_IDS["polly"], name="polly", real_name="Polly", is_bot=True))
    ws.add_user(
        FakeUser(
            id=DEMO_USER_IDS["oscar"],
            name="oscar",
            real_name="Oscar Lindqvist",
            tz="Europe/London",
            deleted=True,
            title="Product Lead (left)",
        )
    )
    ws.add_channel(DEMO_CHANNEL_IDS["general"], "general", [*humans, DEMO_USER_IDS["polly"]])
    ws.add_channel(DEMO_CHANNEL_IDS["product-leads"], "product-leads", humans)
    ws.add_channel(DEMO_CHANNEL_IDS["random"], "random", humans, bot_is_member=False)
    ws.add_channel(DEMO_CHANNEL_IDS["old-launch"], "old-launch", humans, is_archived=True)
