"""People as Slack knows them: names, time zones, bot and deactivated flags.

`users.info` answers are cached in the `person` table and refreshed when older than a day.
Look-ups run a few at a time so thirty mentions do not take thirty round trips in a row.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlmodel import Session, select

from storage.db import Database
from storage.models import Person

logger = logging.getLogger(__name__)

MAX_AGE = timedelta(days=1)
LOOKUP_THREADS = 8


class SlackUnavailable(Exception):
    """Slack could not answer (after the client's retries); nothing should be written."""


@dataclass(frozen=True)
class Unknown:
    """users.info said this id is not a person in the workspace."""

    user_id: str


def person_from_slack(team_id: str, user: dict[str, Any], now: datetime) -> Person:
    profile = user.get("profile") or {}
    return Person(
        team_id=team_id,
        user_id=user["id"],
        name=user.get("name") or "",
        real_name=user.get("real_name") or profile.get("real_name") or "",
        display_name=profile.get("display_name") or "",
        title=profile.get("title") or "",
        tz=user.get("tz") or "UTC",
        is_bot=bool(user.get("is_bot")) or user["id"] == "USLACKBOT",
        deleted=bool(user.get("deleted")),
        refreshed_at=now,
    )


def _fetch(client: WebClient, user_id: str) -> dict[str, Any] | Unknown:
    try:
        response = client.users_info(user=user_id)
    except SlackApiError as exc:
        if exc.response.get("error") in ("user_not_found", "user_not_visible"):
            return Unknown(user_id)
        raise SlackUnavailable(f"users.info failed: {exc.response.get('error')}") from exc
    except SlackClientError as exc:
        raise SlackUnavailable(f"users.info failed: {exc}") from exc
    except OSError as exc:  # connection refused or reset after the client's own retries
        raise SlackUnavailable(f"users.info failed: {exc}") from exc
    user: dict[str, Any] = response["user"]
    return user


def known_people(session: Session, team_id: str, user_ids: list[str]) -> dict[str, Person]:
    if not user_ids:
        return {}
    rows = session.exec(
        select(Person).where(Person.team_id == team_id, Person.user_id.in_(user_ids))  # type: ignore[attr-defined]
    ).all()
    return {person.user_id: person for person in rows}


def look_up_people(
    db: Database,
    client: WebClient,
    team_id: str,
    user_ids: list[str],
    *,
    now: datetime,
) -> dict[str, Person | Unknown]:
    """Return a Person (fresh within a day) or Unknown for every id, refreshing from Slack.

    Raises SlackUnavailable when Slack cannot be reached, before anything is written.
    """
    with db.session() as session:
        cached = known_people(session, team_id, user_ids)
    stale = [
        uid for uid in user_ids if uid not in cached or now - cached[uid].refreshed_at > MAX_AGE
    ]
    fetched: dict[str, dict[str, Any] | Unknown] = {}
    if stale:
        with ThreadPoolExecutor(max_workers=min(LOOKUP_THREADS, len(stale))) as pool:
            for user_id, answer in zip(
                stale, pool.map(lambda uid: _fetch(client, uid), stale), strict=True
            ):
                fetched[user_id] = answer
    result: dict[str, Person | Unknown] = {uid: cached[uid] for uid in user_ids if uid in cached}
    if fetched:
        with db.session() as session:
            for user_id, answer in fetched.items():
                if isinstance(answer, Unknown):
                    result[user_id] = answer
                    continue
                person = session.merge(person_from_slack(team_id, answer, now))
                result[user_id] = person
    return result
