"""Reflections: who may write or edit one, what a submission means, and saving it.

Plain functions over a database session; nothing here talks to Slack or builds Block Kit.

- A check-in or debrief DM's Write button names its delivery (a nudge's names the check-in).
  Only the delivery's recipient may write it, while the circle is live and they are still an
  active member. If they already wrote it, the modal opens as an edit of that reflection.
- One delivery has at most one reflection (unique `delivery_id`). A submission whose view id
  is the one that last wrote the reflection is a retry, or a double click, and changes
  nothing; a different view for the same delivery (two modals open at once) edits it.
- A reflection counts for the week of its check-in (`week_start` of `delivery.due_at` in the
  circle's zone), however late it is written. Edits keep `submitted_at` and `week_start`.
- Each non-empty `action_item` answer becomes an ActionItem; check-ins follow up on the open
  ones through bot/reflections/action_items.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.calendar.weeks import week_start
from bot.calendar.zones import circle_zone, zone
from bot.circles.rules import membership_of
from bot.reflections import action_items
from bot.reflections.modal import Answer, FollowUp, ModalMetadata, ParsedReflection, Prefill
from bot.slack import mrkdwn
from prompts.questions import (
    Question,
    QuestionSetError,
    load_question_set,
    question_set_or_default,
)
from storage.models import (
    ActionItem,
    ActionItemStatus,
    Circle,
    Delivery,
    Person,
    Reflection,
    ReflectionAnswer,
)

REFLECTION_KINDS = ("checkin", "debrief")


class Refused(Exception):
    """The person may not write (or edit) this reflection.

    `reason` is for logs and tests; `text` is mrkdwn for an ephemeral message; `plain` is
    plain text for a modal field error.
    """

    def __init__(self, reason: str, text: str, plain: str | None = None) -> None:
        super().__init__(f"{reason}: {text}")
        self.reason = reason
        self.text = text
        self.plain = plain or text


NOT_FOUND = "I couldn't find this check-in any more, so there is nothing to write."
NOT_YOURS = "This check-in was sent to someone else, so I can't open it for you."
REFLECTION_NOT_FOUND = "I couldn't find this reflection any more, so there is nothing to edit."
REFLECTION_NOT_YOURS = "Only the person who wrote a reflection can edit it."
QUESTIONS_GONE = (
    "The questions of this check-in no longer exist, so it can't be written or edited here."
)
# Metadata that names something else than the modal we opened: a forged or stale form.
TAMPERED = "This form no longer matches your check-in. Close it and press the button again."


def _archived(circle: Circle) -> Refused:
    return Refused(
        "archived",
        f"*{mrkdwn.escape(circle.name)}* is archived, so its check-ins are closed.",
        "This circle is archived, so its check-ins are closed and nothing was saved.",
    )


def _removed(circle: Circle) -> Refused:
    return Refused(
        "removed",
        f"You're no longer a member of *{mrkdwn.escape(circle.name)}*, so this is closed.",
        "You're no longer a member of this circle, so nothing was saved.",
    )


# --------------------------------------------------------------------------- who may write


@dataclass(frozen=True)
class Target:
    """What a modal writes to: a new reflection for `delivery`, or the existing `reflection`."""

    circle: Circle
    kind: str  # checkin | debrief
    prompt_set: str
    questions: tuple[Question, ...]
    delivery: Delivery | None
    reflection: Reflection | None
    week_start: date
    author_zone: ZoneInfo


def target_for_delivery(
    session: Session, *, team_id: str, user_id: str, delivery_id: int
) -> Target:
    """The check-in `user_id` may write from a button naming `delivery_id` (Refused if none)."""
    delivery = _answerable_delivery(session, team_id=team_id, user_id=user_id, id_=delivery_id)
    circle = _live_circle_of(session, delivery.circle_id, team_id, user_id)
    reflection = _reflection_of_delivery(session, delivery)
    if reflection is not None:
        return _target_for(session, circle, reflection, user_id)
    return _target(
        session,
        circle,
        kind=delivery.kind,
        prompt_set=circle.prompt_set,
        delivery=delivery,
        reflection=None,
        user_id=user_id,
    )


def target_for_reflection(
    session: Session, *, team_id: str, user_id: str, reflection_id: int
) -> Target:
    """The reflection its author may edit (Refused for anyone else)."""
    reflection = session.get(Reflection, reflection_id)
    if reflection is None or reflection.team_id != team_id:
        raise Refused("not_found", REFLECTION_NOT_FOUND)
    if reflection.user_id != user_id:
        raise Refused("not_yours", REFLECTION_NOT_YOURS)
    circle = _live_circle_of(session, reflection.circle_id, team_id, user_id)
    return _target_for(session, circle, reflection, user_id)


def submission_target(
    session: Session, *, team_id: str, user_id: str, metadata: ModalMetadata
) -> Target:
    """Check a submitted modal's metadata against the database, as the submitter.

    Anything that does not match what we could have opened for this person (someone else's
    delivery or reflection, another circle, another question set, action items that are not
    theirs) is Refused with reason "tampered", so nothing is written.
    """
    try:
        if metadata.reflection_id is not None:
            target = target_for_reflection(
                session, team_id=team_id, user_id=user_id, reflection_id=metadata.reflection_id
            )
        else:
            assert metadata.delivery_id is not None
            target = target_for_delivery(
                session, team_id=team_id, user_id=user_id, delivery_id=metadata.delivery_id
            )
    except Refused as refused:
        if refused.reason in ("not_found", "not_yours"):
            raise Refused("tampered", TAMPERED) from refused
        raise
    if target.circle.id != metadata.circle_id or target.prompt_set != metadata.prompt_set:
        raise Refused("tampered", TAMPERED)
    if metadata.follow_up_ids:
        owned = session.exec(
            select(ActionItem.id).where(
                col(ActionItem.id).in_(metadata.follow_up_ids),
                ActionItem.team_id == team_id,
                ActionItem.user_id == user_id,
                ActionItem.circle_id == target.circle.id,
            )
        ).all()
        if set(owned) != set(metadata.follow_up_ids):
            raise Refused("tampered", TAMPERED)
    return target


def _answerable_delivery(session: Session, *, team_id: str, user_id: str, id_: int) -> Delivery:
    clicked = session.get(Delivery, id_)
    if clicked is None or clicked.team_id != team_id:
        raise Refused("not_found", NOT_FOUND)
    if clicked.recipient != user_id:
        raise Refused("not_yours", NOT_YOURS)
    delivery = clicked
    if clicked.kind == "nudge":  # the reflection is for the check-in the nudge reminds of
        parent = session.get(Delivery, clicked.parent_id) if clicked.parent_id else None
        if parent is None or parent.team_id != team_id or parent.recipient != user_id:
            raise Refused("not_found", NOT_FOUND)
        delivery = parent
    if delivery.kind not in REFLECTION_KINDS:
        raise Refused("not_found", NOT_FOUND)
    return delivery


def _live_circle_of(session: Session, circle_id: int, team_id: str, user_id: str) -> Circle:
    circle = session.get(Circle, circle_id)
    if circle is None or circle.team_id != team_id:
        raise Refused("not_found", NOT_FOUND)
    if circle.is_archived:
        raise _archived(circle)
    membership = membership_of(session, circle, user_id)
    if membership is None or not membership.is_active:
        raise _removed(circle)
    return circle


def _target_for(session: Session, circle: Circle, reflection: Reflection, user_id: str) -> Target:
    delivery = session.get(Delivery, reflection.delivery_id) if reflection.delivery_id else None
    return _target(
        session,
        circle,
        kind=reflection.kind,
        prompt_set=reflection.prompt_set,  # an edit asks the questions it was written with
        delivery=delivery,
        reflection=reflection,
        user_id=user_id,
    )


def _target(
    session: Session,
    circle: Circle,
    *,
    kind: str,
    prompt_set: str,
    delivery: Delivery | None,
    reflection: Reflection | None,
    user_id: str,
) -> Target:
    try:
        if reflection is None:  # a new answer: the circle's set, or default if it is gone
            chosen = question_set_or_default(prompt_set)
            prompt_set, questions = chosen.name, chosen.for_kind(kind)
        else:  # an edit needs the very questions it was written with
            questions = load_question_set(prompt_set).for_kind(kind)
    except (QuestionSetError, ValueError):
        raise Refused("questions_gone", QUESTIONS_GONE) from None
    if reflection is not None:
        week = reflection.week_start
    else:
        assert delivery is not None
        week = week_start(delivery.due_at, circle_zone(session, circle))
    person = session.get(Person, (circle.team_id, user_id))
    return Target(
        circle=circle,
        kind=kind,
        prompt_set=prompt_set,
        questions=questions,
        delivery=delivery,
        reflection=reflection,
        week_start=week,
        author_zone=zone(person.tz if person else None),
    )


def _reflection_of_delivery(
    session: Session, delivery: Delivery, *, lock: bool = False
) -> Reflection | None:
    query = select(Reflection).where(Reflection.delivery_id == delivery.id)
    if lock:
        # Fresh from the database (not the identity map), and locked so edits serialise.
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


# --------------------------------------------------------------------------- the modal's data


@dataclass(frozen=True)
class ModalContent:
    """Everything bot.reflections.modal.build_reflection_modal needs."""

    kind: str
    circle_name: str
    week_start: date
    questions: tuple[Question, ...]
    metadata: ModalMetadata
    follow_ups: tuple[FollowUp, ...]
    hidden_follow_ups: int
    prefill: Prefill | None


def modal_content(session: Session, target: Target, *, max_follow_ups: int) -> ModalContent:
    """What the modal shows: a new reflection (with follow-ups of open action items on a
    check-in) or the existing one, prefilled, to edit."""
    assert target.circle.id is not None
    if target.reflection is not None:
        assert target.reflection.id is not None
        return ModalContent(
            kind=target.kind,
            circle_name=target.circle.name,
            week_start=target.week_start,
            questions=target.questions,
            metadata=ModalMetadata(
                circle_id=target.circle.id,
                prompt_set=target.prompt_set,
                reflection_id=target.reflection.id,
            ),
            follow_ups=(),
            hidden_follow_ups=0,
            prefill=prefill_of(session, target.reflection),
        )
    assert target.delivery is not None and target.delivery.id is not None
    items: list[ActionItem] = []
    if target.kind == "checkin":
        items = action_items.open_items(
            session,
            team_id=target.circle.team_id,
            user_id=target.delivery.recipient,
            circle_id=target.circle.id,
        )
    shown = [
        FollowUp(item_id=item.id, text=item.text, due_date=item.due_date)
        for item in items[:max_follow_ups]
        if item.id is not None
    ]
    return ModalContent(
        kind=target.kind,
        circle_name=target.circle.name,
        week_start=target.week_start,
        questions=target.questions,
        metadata=ModalMetadata(
            circle_id=target.circle.id,
            prompt_set=target.prompt_set,
            delivery_id=target.delivery.id,
            follow_up_ids=tuple(f.item_id for f in shown),
        ),
        follow_ups=tuple(shown),
        hidden_follow_ups=len(items) - len(shown),
        prefill=None,
    )


def prefill_of(session: Session, reflection: Reflection) -> Prefill:
    """A stored reflection as the modal's initial values."""
    answers: dict[str, Answer] = {
        row.question_id: Answer(row.question_id, row.kind, text=row.text, number=row.number)
        for row in session.exec(
            select(ReflectionAnswer).where(ReflectionAnswer.reflection_id == reflection.id)
        ).all()
    }
    for item in _items_of(session, reflection):
        answer = answers.get(item.question_id)
        answers[item.question_id] = Answer(
            item.question_id,
            "action_item",
            text=answer.text if answer and answer.text else item.text,
            due_date=item.due_date,
        )
    return Prefill(answers=answers, visibility=reflection.visibility, named=reflection.named)


def kept_due_dates(session: Session, target: Target) -> dict[str, date]:
    """The due dates an edited reflection already has: they may stay even once past."""
    if target.reflection is None:
        return {}
    return {
        item.question_id: item.due_date
        for item in _items_of(session, target.reflection)
        if item.due_date is not None
    }


def _items_of(session: Session, reflection: Reflection) -> list[ActionItem]:
    return list(
        session.exec(select(ActionItem).where(ActionItem.reflection_id == reflection.id)).all()
    )


def today_for(target: Target, now: datetime) -> date:
    """The author's local date (due dates are checked against it)."""
    return now.astimezone(target.author_zone).date()


# --------------------------------------------------------------------------- saving


@dataclass(frozen=True)
class Saved:
    outcome: str  # created | edited | unchanged (a retry of the submission that wrote it)
    reflection_id: int


def save_reflection(
    session: Session,
    target: Target,
    parsed: ParsedReflection,
    *,
    user_id: str,
    view_id: str,
    now: datetime,
) -> Saved:
    """Write a submission in the caller's transaction (the caller commits, or rolls back).

    A new delivery's reflection is inserted inside a savepoint: if a concurrent submission
    inserted it first, the unique constraint says so and this one falls back to the existing
    row (a no-op when it is the same view, an edit otherwise).
    """
    existing = _locked_existing(session, target)
    if existing is None:
        delivery = target.delivery
        assert delivery is not None and delivery.id is not None
        reflection = Reflection(
            team_id=target.circle.team_id,
            circle_id=target.circle.id,  # type: ignore[arg-type]
            user_id=user_id,
            kind=target.kind,
            delivery_id=delivery.id,
            prompt_set=target.prompt_set,
            week_start=target.week_start,
            visibility=parsed.visibility,
            named=parsed.named,
            peer_user_id=_peer_of(target, parsed),
            view_id=view_id,
            submitted_at=now,
        )
        try:
            with session.begin_nested():
                session.add(reflection)
        except IntegrityError:
            existing = _reflection_of_delivery(session, delivery, lock=True)
            if existing is None:
                raise
        else:
            assert reflection.id is not None
            _write_answers(session, reflection, parsed)
            _create_items(session, reflection, parsed, now)
            _apply_follow_ups(
                session,
                parsed,
                team_id=reflection.team_id,
                user_id=user_id,
                now=now,
                since=None,
            )
            delivery.answered_at, delivery.skipped_at = now, None
            session.add(delivery)
            return Saved("created", reflection.id)
    assert existing.id is not None
    if existing.user_id != user_id:  # cannot happen through the targets; never write it
        raise Refused("tampered", TAMPERED)
    if existing.view_id == view_id:
        return Saved("unchanged", existing.id)
    existing.visibility = parsed.visibility
    existing.named = parsed.named
    existing.peer_user_id = _peer_of(target, parsed)
    existing.view_id = view_id  # the submission that last wrote it: its retries are no-ops
    existing.edited_at = now
    session.add(existing)
    session.exec(delete(ReflectionAnswer).where(col(ReflectionAnswer.reflection_id) == existing.id))
    _write_answers(session, existing, parsed)
    _update_items(session, existing, parsed, now)
    _apply_follow_ups(
        session,
        parsed,
        team_id=existing.team_id,
        user_id=user_id,
        now=now,
        since=existing.submitted_at,
    )
    return Saved("edited", existing.id)


def _locked_existing(session: Session, target: Target) -> Reflection | None:
    if target.reflection is not None:
        return session.exec(
            select(Reflection)
            .where(Reflection.id == target.reflection.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
    assert target.delivery is not None
    return _reflection_of_delivery(session, target.delivery, lock=True)


def _peer_of(target: Target, parsed: ParsedReflection) -> str | None:
    if target.kind != "debrief":
        return None
    return next((a.text for a in parsed.answers if a.kind == "user"), None)


def _write_answers(session: Session, reflection: Reflection, parsed: ParsedReflection) -> None:
    assert reflection.id is not None
    for answer in parsed.answers:
        session.add(
            ReflectionAnswer(
                team_id=reflection.team_id,
                reflection_id=reflection.id,
                question_id=answer.question_id,
                kind=answer.kind,
                text=answer.text,
                number=answer.number,
            )
        )


def _action_answers(parsed: ParsedReflection) -> dict[str, Answer]:
    return {a.question_id: a for a in parsed.answers if a.kind == "action_item" and a.text}


def _create_items(
    session: Session, reflection: Reflection, parsed: ParsedReflection, now: datetime
) -> None:
    for answer in _action_answers(parsed).values():
        session.add(_new_item(reflection, answer, now))


def _new_item(reflection: Reflection, answer: Answer, now: datetime) -> ActionItem:
    assert answer.text is not None
    return ActionItem(
        team_id=reflection.team_id,
        circle_id=reflection.circle_id,
        user_id=reflection.user_id,
        reflection_id=reflection.id,
        question_id=answer.question_id,
        text=answer.text,
        due_date=answer.due_date,
        created_at=now,
    )


def _update_items(
    session: Session, reflection: Reflection, parsed: ParsedReflection, now: datetime
) -> None:
    """An edit changes its open action items; one it no longer names is dropped.

    Items already done or dropped keep their history (the answer text still changes), except
    that a dropped item whose answer now names a different next step is open again: that is
    a new commitment, and Home and the next check-ins should ask about it.
    """
    wanted = _action_answers(parsed)
    existing = {item.question_id: item for item in _items_of(session, reflection)}
    for question_id, item in existing.items():
        answer = wanted.get(question_id)
        if item.status == ActionItemStatus.DROPPED and answer is not None:
            if answer.text != item.text:
                assert answer.text is not None
                item.status, item.dropped_at = ActionItemStatus.OPEN, None
                item.text, item.due_date = answer.text, answer.due_date
                session.add(item)
            continue
        if item.status != ActionItemStatus.OPEN:
            continue
        if answer is None:
            item.status, item.dropped_at = ActionItemStatus.DROPPED, now
        else:
            assert answer.text is not None
            item.text, item.due_date = answer.text, answer.due_date
        session.add(item)
    for question_id, answer in wanted.items():
        if question_id not in existing:
            session.add(_new_item(reflection, answer, now))


def _apply_follow_ups(
    session: Session,
    parsed: ParsedReflection,
    *,
    team_id: str,
    user_id: str,
    now: datetime,
    since: datetime | None,
) -> None:
    """Record the "Did you do it?" answers.

    `since` is set when a second modal edits a reflection: a "Not yet" already recorded after
    the reflection was first submitted is not counted twice.
    """
    for item_id, answer in sorted(parsed.follow_ups.items()):
        if answer == "not_yet" and since is not None:
            item = session.get(ActionItem, item_id)
            if item is not None and item.last_checked_at and item.last_checked_at >= since:
                continue
        action_items.apply_follow_up(
            session, team_id=team_id, user_id=user_id, item_id=item_id, answer=answer, now=now
        )


# --------------------------------------------------------------------------- after saving


@dataclass(frozen=True)
class SavedView:
    """What the "Reflection saved" DM shows, and the DMs to turn into it."""

    reflection_id: int
    kind: str
    circle_name: str
    visibility: str
    named: bool
    edited: bool
    next_steps: tuple[tuple[str, date | None], ...]
    dms: tuple[tuple[str, str], ...]  # (channel, ts) of the check-in and its nudges


def saved_view(session: Session, reflection_id: int) -> SavedView | None:
    reflection = session.get(Reflection, reflection_id)
    if reflection is None:
        return None
    circle = session.get(Circle, reflection.circle_id)
    steps = tuple(
        (item.text, item.due_date)
        for item in _items_of(session, reflection)
        if item.status == ActionItemStatus.OPEN
    )
    dms: list[tuple[str, str]] = []
    if reflection.delivery_id is not None:
        rows = session.exec(
            select(Delivery)
            .where(
                (col(Delivery.id) == reflection.delivery_id)
                | (col(Delivery.parent_id) == reflection.delivery_id)
            )
            .order_by(col(Delivery.id))
        ).all()
        dms = [(d.channel_id, d.message_ts) for d in rows if d.channel_id and d.message_ts]
    return SavedView(
        reflection_id=reflection_id,
        kind=reflection.kind,
        circle_name=circle.name if circle else "",
        visibility=reflection.visibility,
        named=reflection.named,
        edited=reflection.edited_at is not None,
        next_steps=steps,
        dms=tuple(dms),
    )
