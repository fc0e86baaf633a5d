"""Tables. Every row that belongs to a workspace carries its Slack team_id."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class Role(StrEnum):
    PARTICIPANT = "participant"
    LEADER = "leader"
    FACILITATOR = "facilitator"


DEFAULT_NUDGE_MINUTES = 24 * 60


class CircleStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


def _utc(nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class Person(SQLModel, table=True):
    """What Slack told us about a person (users.info), refreshed when older than a day."""

    __tablename__ = "person"

    team_id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=255)
    real_name: str = Field(default="", max_length=255)
    display_name: str = Field(default="", max_length=255)
    title: str = Field(default="", max_length=255)
    tz: str = Field(default="UTC", max_length=64)
    is_bot: bool = False
    deleted: bool = False
    refreshed_at: datetime = Field(sa_column=_utc())

    @property
    def label(self) -> str:
        """The name people recognise: display name, then real name, then handle."""
        return self.display_name or self.real_name or self.name or self.user_id


class Circle(SQLModel, table=True):
    """A circle lives in the Slack channel where it was created."""

    __tablename__ = "circle"
    __table_args__ = (
        # At most one live circle per channel; an archived one does not block a new one.
        Index(
            "uq_circle_live_channel",
            "team_id",
            "channel_id",
            unique=True,
            sqlite_where=text("archived_at IS NULL"),
            postgresql_where=text("archived_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    channel_id: str = Field(max_length=32)
    name: str = Field(max_length=80)
    status: str = Field(default=CircleStatus.ACTIVE, sa_column=Column(String(16), nullable=False))
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_utc())
    archived_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Rhythm settings. Paused with no end date means "until /circle resume".
    paused_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    paused_until: date | None = None  # last local date of the pause, inclusive
    # Minutes after a check-in before its one nudge; None means nudges are off.
    nudge_after_minutes: int | None = Field(
        default=DEFAULT_NUDGE_MINUTES,
        sa_column=Column(Integer, nullable=True, server_default=str(DEFAULT_NUDGE_MINUTES)),
    )
    # The circle's own time zone (weeks for digests); None means the facilitator's.
    tz: str | None = Field(default=None, max_length=64)
    # The question set (prompts/questions/<name>.yml or PROMPTS_DIR) its modals ask.
    prompt_set: str = Field(
        default="default",
        sa_column=Column(String(40), nullable=False, server_default="default"),
    )

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Membership(SQLModel, table=True):
    """A person's role in a circle. Removal keeps the row (removed_at) so history survives."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("circle_id", "user_id", name="uq_membership_person"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    user_id: str = Field(max_length=32, index=True)
    role: str = Field(default=Role.PARTICIPANT, sa_column=Column(String(16), nullable=False))
    added_by: str = Field(max_length=32)
    added_at: datetime = Field(sa_column=_utc())
    removed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    away_until: date | None = None  # `/circle away until …`: nothing is sent up to this local date
    # `/circle team @person <team>`; None: their Slack profile title stands for it (pairing).
    team: str | None = Field(default=None, max_length=80)
    # `/circle nopair`: left out of peer pairing until `/circle pair-me`.
    pairing_opt_out: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


class ScheduleKind(StrEnum):
    CHECKIN = "checkin"
    DEBRIEF = "debrief"
    DIGEST = "digest"
    PAIRING = "pairing"


class Schedule(SQLModel, table=True):
    """A weekly ritual of a circle, fired in each recipient's zone unless `pinned_tz` is set."""

    __tablename__ = "schedule"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    weekday: int  # 0 = Monday
    at_minute: int  # minutes after local midnight
    interval_weeks: int = 1
    anchor: date  # a local date in the first week of the series
    pinned_tz: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_utc())
    removed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class SkipDay(SQLModel, table=True):
    """`/circle skip 2026-12-24`: nothing of the circle is sent on that local date."""

    __tablename__ = "skip_day"
    __table_args__ = (UniqueConstraint("circle_id", "day", name="uq_skip_day"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    day: date
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_utc())


class DemoDay(SQLModel, table=True):
    __tablename__ = "demo_day"
    __table_args__ = (Index("ix_demo_day_circle_starts", "circle_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id", index=True)
    title: str = Field(max_length=80)
    starts_at: datetime = Field(sa_column=_utc())
    # Seconds before starts_at at which the channel is reminded, e.g. "604800,86400,3600".
    reminder_offsets: str = Field(max_length=200)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_utc())
    cancelled_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    cancelled_by: str | None = Field(default=None, max_length=32)

    @property
    def offsets_seconds(self) -> list[int]:
        return [int(part) for part in self.reminder_offsets.split(",") if part]


class DemoSignup(SQLModel, table=True):
    __tablename__ = "demo_signup"
    __table_args__ = (UniqueConstraint("demo_day_id", "user_id", name="uq_demo_signup"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    demo_day_id: int = Field(foreign_key="demo_day.id", index=True)
    user_id: str = Field(max_length=32)
    title: str = Field(max_length=150)
    what_tried: str = Field(default="", max_length=300)
    created_at: datetime = Field(sa_column=_utc())
    updated_at: datetime = Field(sa_column=_utc())


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due and registered, not yet claimed by a sender
    SENDING = "sending"  # claimed by a sender until lease_until
    SENT = "sent"
    FAILED = "failed"  # permanent Slack error, or too many attempts
    MISSED = "missed"  # older than the grace window when first seen: never sent


class Delivery(SQLModel, table=True):
    """One scheduled message to one recipient, registered once under a unique key.

    The key names what the message is for (e.g. `checkin:12:U123:2026-12-07`), so a second
    scheduler, a repeated tick or a restart finds the row and sends nothing twice.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("key", name="uq_delivery_key"),
        Index("ix_delivery_status_due", "status", "due_at"),
        Index("ix_delivery_circle_due", "circle_id", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id")
    key: str = Field(max_length=200)
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    recipient: str = Field(max_length=32)  # a user id (DM) or a channel id
    ref_id: int | None = None  # the schedule or demo day it comes from
    parent_id: int | None = None  # a nudge's check-in delivery
    local_date: date | None = None  # the recipient's local date of due_at
    due_at: datetime = Field(sa_column=_utc())
    status: str = Field(
        default=DeliveryStatus.PENDING, sa_column=Column(String(16), nullable=False)
    )
    attempts: int = 0
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    channel_id: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=64)
    answered_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    skipped_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(sa_column=_utc())


class Visibility(StrEnum):
    """Who may read a reflection, as its author chose. bot/reflections/visibility.py enforces it."""

    PRIVATE = "private"  # only the author
    CIRCLE = "circle"  # the author's circle (participants and facilitators)
    LEADERS = "leaders"  # the circle, and the leaders' digest


class Reflection(SQLModel, table=True):
    """One answered check-in or debrief. At most one per delivery (a DM's Write button).

    `week_start` is the Monday (circle's zone) of the week the check-in was for, so a late
    answer still counts for its own week; `submitted_at` tells whether it came late.
    """

    __tablename__ = "reflection"
    __table_args__ = (
        UniqueConstraint("delivery_id", name="uq_reflection_delivery"),
        Index("ix_reflection_circle_week", "circle_id", "week_start"),
        Index("ix_reflection_author", "team_id", "user_id", "submitted_at"),
        Index("ix_reflection_circle_submitted", "circle_id", "submitted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id")
    user_id: str = Field(max_length=32)  # the author
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # checkin | debrief
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id")
    prompt_set: str = Field(max_length=40)
    week_start: date
    visibility: str = Field(default=Visibility.CIRCLE, sa_column=Column(String(16), nullable=False))
    named: bool = False  # the author agreed to be named where it is quoted
    peer_user_id: str | None = Field(default=None, max_length=32)  # a debrief's peer
    view_id: str | None = Field(default=None, max_length=64)  # the submission that last wrote it
    submitted_at: datetime = Field(sa_column=_utc())
    edited_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class ReflectionAnswer(SQLModel, table=True):
    """One answer of a reflection. Text goes in `text`, 1-5 scales in `number`.

    Retention clears `text` and keeps the row, so counts and averages survive.
    """

    __tablename__ = "reflection_answer"
    __table_args__ = (
        UniqueConstraint("reflection_id", "question_id", name="uq_reflection_answer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    reflection_id: int = Field(foreign_key="reflection.id", index=True)
    question_id: str = Field(max_length=40)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    number: int | None = None


class ActionItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    DROPPED = "dropped"


class ActionItem(SQLModel, table=True):
    """The "one thing I'll do next" of a reflection, followed up until done or dropped."""

    __tablename__ = "action_item"
    __table_args__ = (
        Index("ix_action_item_owner", "team_id", "user_id", "status"),
        Index("ix_action_item_circle_due", "circle_id", "due_date"),
        Index("ix_action_item_circle_created", "circle_id", "created_at"),
        Index("ix_action_item_circle_status_done", "circle_id", "status", "done_at"),
        Index("ix_action_item_circle_dropped", "circle_id", "dropped_at"),
        UniqueConstraint("reflection_id", "question_id", name="uq_action_item_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id")
    user_id: str = Field(max_length=32)
    reflection_id: int | None = Field(default=None, foreign_key="reflection.id")
    question_id: str = Field(max_length=40)
    text: str = Field(sa_column=Column(Text, nullable=False))
    due_date: date | None = None
    status: str = Field(default=ActionItemStatus.OPEN, sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(sa_column=_utc())
    done_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    dropped_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    last_checked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    not_yet_count: int = 0  # "Not yet" answers at follow-ups


class PairingRound(SQLModel, table=True):
    """One round of peer pairing in a circle, formed exactly once under its unique key.

    `pairing:manual:<circle>:<minute>` for `/circle pair`, `pairing:<schedule>:<local date>`
    for a pairing schedule's occurrence. `seed` and the circle's earlier rounds determine the
    groups (bot/pairing/rotation.py), so a round can be recomputed and checked.
    """

    __tablename__ = "pairing_round"
    __table_args__ = (
        UniqueConstraint("key", name="uq_pairing_round_key"),
        Index("ix_pairing_round_circle", "circle_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id")
    round_no: int  # 1, 2, … within the circle
    seed: int
    key: str = Field(max_length=200)
    schedule_id: int | None = None  # the pairing schedule it came from; None: by hand
    created_by: str | None = Field(default=None, max_length=32)  # the facilitator, by hand
    created_at: datetime = Field(sa_column=_utc())  # the round's moment


class PairingMember(SQLModel, table=True):
    """A person in a round: in group `group_no` (1, 2, …; a pair or the trio), or not paired
    (`group_no` 0) for `skip_reason` (away, opted_out, left_slack, alone)."""

    __tablename__ = "pairing_member"
    __table_args__ = (
        Index("ix_pairing_member_round", "round_id", "group_no"),
        Index("ix_pairing_member_circle", "circle_id", "round_id"),
        Index("ix_pairing_member_person", "team_id", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    circle_id: int = Field(foreign_key="circle.id")
    round_id: int = Field(foreign_key="pairing_round.id")
    group_no: int = 0
    user_id: str = Field(max_length=32)
    skip_reason: str | None = Field(default=None, max_length=16)


class SeenRequest(SQLModel, table=True):
    """A signed Slack request that was accepted, remembered so an identical replay is refused.

    Holds only the signature (its 64 hex digits: an HMAC of timestamp and body, no body) and
    the request timestamp, so rows past Slack's 5-minute window can be deleted. `retry_num` is
    Slack's X-Slack-Retry-Num for an Events API event_callback (0 otherwise): a retry may
    arrive with the very same signature. Not a workspace's data, hence no team_id.
    bot/core/replay.py writes and cleans it.
    """

    __tablename__ = "seen_request"
    __table_args__ = (Index("ix_seen_request_ts", "request_ts"),)

    signature: str = Field(primary_key=True, max_length=64)
    retry_num: int = Field(default=0, primary_key=True)
    request_ts: int = Field(sa_column=Column(BigInteger, nullable=False))  # Unix seconds
