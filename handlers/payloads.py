"""Reading what a person clicked, without trusting it."""

from __future__ import annotations

from typing import Any

MAX_ID = 2**31 - 1  # ids are 32-bit; anything bigger was not made by us


def action_value(body: dict[str, Any]) -> str:
    """The value of the clicked button ("" if there is none)."""
    return str(((body.get("actions") or [{}])[0]).get("value") or "")


def positive_id(raw: str) -> int | None:
    """The row id a button carries, or None when it is not one we could have made."""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value <= MAX_ID else None
