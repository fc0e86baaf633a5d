"""Data types shared by the FakeSlack modules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ApiError",
    "FakeUser",
    "RecordedCall",
    "SentRequest",
    "tz_fields",
]


@dataclass
class FakeUser:
    """A member of the fake workspace (what ``users.info`` describes)."""

    id: str
    name: str
    real_name: str = ""
    tz: str = "Europe/London"
    is_bot: bool = False
    deleted: bool = False
    title: str = ""
    team_id: str = ""  # filled from the workspace by FakeSlack.add_user
    display_name: str = ""
    email: str = ""


@dataclass
class RecordedCall:
    """One request the fake received (Web API call, response_url post, upload, ack)."""

    method: str
    args: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float
    token: str | None

    @property
    def ok(self) -> bool:
        """True when Slack would have considered the call successful."""
        return self.status == 200 and bool(self.response.get("ok", False))

    @property
    def error(self) -> str | None:
        """The Slack error code of a failed call, if any."""
        err = self.response.get("error")
        return str(err) if err is not None else None


@dataclass
class SentRequest:
    """One request FakeSlack sent to the bot (the "Slack side" of the conversation)."""

    kind: str  # "slash_command", "block_actions", "view_submission", "view_closed", "event", ...
    url: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    trigger_id: str | None = None
    response_url: str | None = None
    elapsed: float = 0.0  # seconds the bot took to answer (Slack gives up after 3)


class ApiError(Exception):
    """Raised by a fake Web API method to answer ``{"ok": false, "error": ...}``."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra: dict[str, Any] = dict(extra or {})
        if messages:
            self.extra.setdefault("response_metadata", {})["messages"] = list(messages)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error": self.error}
        out.update(self.extra)
        return out


_TZ_LABELS = {
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "IST": "India Standard Time",
    "JST": "Japan Standard Time",
    "UTC": "Coordinated Universal Time",
}


def tz_fields(tz_name: str, now: dt.datetime | None = None) -> tuple[str, str, int]:
    """Return (tz, tz_label, tz_offset seconds) for an IANA zone, as users.info reports them.

    The offset is computed for the current instant (``now``), so it follows DST like Slack's.
    Unknown zones fall back to UTC.
    """
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        tz_name = "UTC"
        zone = ZoneInfo("UTC")
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    offset = moment.utcoffset() or dt.timedelta(0)
    abbrev = moment.tzname() or tz_name
    label = _TZ_LABELS.get(abbrev, abbrev)
    return tz_name, label, int(offset.total_seconds())
