"""Tables. Every row that belongs to a workspace carries its Slack team_id."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class Role(StrEnum):
    PARTICIPANT = "participant"
    LEADER = "leader"
    FACILITATOR = "facilitator"


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

    @property
    def is_active(self) -> bool:
        return self.removed_at is None
