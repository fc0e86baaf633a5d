"""A copy of everything held about a person (`/circle my-data`), as JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.pairing.queries import person_pairings
from prompts.questions import QuestionSetError, load_question_set
from storage.models import (
    ActionItem,
    Circle,
    Delivery,
    DemoDay,
    DemoSignup,
    Membership,
    Person,
    Reflection,
    ReflectionAnswer,
)


def iso_text(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class QuestionLabels:
    """Question labels by (set, kind), read once per export; unknown sets give no labels."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}

    def of(self, prompt_set: str, kind: str) -> dict[str, tuple[int, str]]:
        key = (prompt_set, kind)
        if key not in self._cache:
            try:
                questions = load_question_set(prompt_set).for_kind(kind)
            except (QuestionSetError, ValueError):
                questions = ()
            self._cache[key] = {q.id: (i, q.label) for i, q in enumerate(questions)}
        return self._cache[key]

    def label(self, prompt_set: str, kind: str, question_id: str) -> str:
        return self.of(prompt_set, kind).get(question_id, (0, ""))[1]

    def order(self, prompt_set: str, kind: str, question_id: str) -> tuple[int, str]:
        return (self.of(prompt_set, kind).get(question_id, (99, ""))[0], question_id)


def collect_person_data(
    session: Session, *, team_id: str, user_id: str, now: datetime
) -> dict[str, Any]:
    """Everything held about the person in this workspace, ready for json.dumps."""
    circles = {c.id: c for c in session.exec(select(Circle).where(Circle.team_id == team_id)).all()}

    def circle_name(circle_id: int | None) -> str | None:
        circle = circles.get(circle_id)
        return circle.name if circle is not None else None

    profile = session.get(Person, (team_id, user_id))
    labels = QuestionLabels()
    reflections = session.exec(
        select(Reflection)
        .where(Reflection.team_id == team_id, Reflection.user_id == user_id)
        .order_by(col(Reflection.submitted_at), col(Reflection.id))
    ).all()
    answers: dict[int, list[ReflectionAnswer]] = {}
    if reflections:
        for answer in session.exec(
            select(ReflectionAnswer)
            .where(col(ReflectionAnswer.reflection_id).in_([r.id for r in reflections]))
            .order_by(col(ReflectionAnswer.id))
        ).all():
            answers.setdefault(answer.reflection_id, []).append(answer)
    return {
        "about": (
            "Everything Circlebot holds about you in this workspace. Dates and times are UTC "
            "(ISO 8601)."
        ),
        "generated_at": iso_text(now),
        "workspace": team_id,
        "user_id": user_id,
        "profile": None
        if profile is None
        else {
            "name": profile.name,
            "real_name": profile.real_name,
            "display_name": profile.display_name,
            "title": profile.title,
            "time_zone": profile.tz,
            "left_slack": profile.deleted,
            "refreshed_at": iso_text(profile.refreshed_at),
        },
        "memberships": [
            {
                "circle": circle_name(m.circle_id),
                "channel_id": circles[m.circle_id].channel_id if m.circle_id in circles else None,
                "role": m.role,
                "added_at": iso_text(m.added_at),
                "removed_at": iso_text(m.removed_at),
                "away_until": iso_text(m.away_until),
                "team": m.team,
                "left_out_of_pairing": m.pairing_opt_out,
            }
            for m in session.exec(
                select(Membership)
                .where(Membership.team_id == team_id, Membership.user_id == user_id)
                .order_by(col(Membership.added_at), col(Membership.id))
            ).all()
        ],
        "pairings": person_pairings(
            session,
            team_id=team_id,
            user_id=user_id,
            circle_names={cid: c.name for cid, c in circles.items()},
        ),
        "reflections": [
            {
                "id": r.id,
                "circle": circle_name(r.circle_id),
                "kind": r.kind,
                "week_start": iso_text(r.week_start),
                "submitted_at": iso_text(r.submitted_at),
                "edited_at": iso_text(r.edited_at),
                "visibility": r.visibility,
                "show_my_name_when_quoted": r.named,
                "peer_user_id": r.peer_user_id,
                "question_set": r.prompt_set,
                "answers": [
                    {
                        "question_id": a.question_id,
                        "question": labels.label(r.prompt_set, r.kind, a.question_id),
                        "kind": a.kind,
                        "text": a.text,
                        "number": a.number,
                    }
                    for a in sorted(
                        answers.get(r.id or 0, []),
                        key=lambda a, r=r: labels.order(r.prompt_set, r.kind, a.question_id),  # type: ignore[misc]
                    )
                ],
            }
            for r in reflections
        ],
        "action_items": [
            {
                "id": item.id,
                "circle": circle_name(item.circle_id),
                "text": item.text,
                "status": item.status,
                "due_date": iso_text(item.due_date),
                "created_at": iso_text(item.created_at),
                "done_at": iso_text(item.done_at),
                "dropped_at": iso_text(item.dropped_at),
                "not_yet_count": item.not_yet_count,
                "reflection_id": item.reflection_id,
            }
            for item in session.exec(
                select(ActionItem)
                .where(ActionItem.team_id == team_id, ActionItem.user_id == user_id)
                .order_by(col(ActionItem.created_at), col(ActionItem.id))
            ).all()
        ],
        "demo_signups": [
            {
                "circle": circle_name(demo.circle_id),
                "demo_day": demo.title,
                "starts_at": iso_text(demo.starts_at),
                "title": signup.title,
                "what_i_tried": signup.what_tried,
                "created_at": iso_text(signup.created_at),
                "updated_at": iso_text(signup.updated_at),
            }
            for signup, demo in session.exec(
                select(DemoSignup, DemoDay)
                .join(DemoDay, col(DemoDay.id) == col(DemoSignup.demo_day_id))
                .where(DemoSignup.team_id == team_id, DemoSignup.user_id == user_id)
                .order_by(col(DemoDay.starts_at), col(DemoSignup.id))
            ).all()
        ],
        "messages_sent_to_you": [
            {
                "circle": circle_name(d.circle_id),
                "kind": d.kind,
                "due_at": iso_text(d.due_at),
                "status": d.status,
                "sent_at": iso_text(d.sent_at),
                "answered_at": iso_text(d.answered_at),
                "skipped_at": iso_text(d.skipped_at),
            }
            for d in session.exec(
                select(Delivery)
                .where(Delivery.team_id == team_id, Delivery.recipient == user_id)
                .order_by(col(Delivery.due_at), col(Delivery.id))
            ).all()
        ],
    }


def person_data_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
