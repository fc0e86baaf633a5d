"""Writing and editing reflections: the `reflection_open` and `reflection_edit` buttons and
the `reflection_modal` submission.

The buttons ack at once, check with one quick read who may write what (bot/reflections/rules.py),
then open the modal while the trigger_id is fresh (it lasts 3 seconds). The submission checks
everything again on the server, since a forged payload can skip every limit the client keeps:
field errors go back under their blocks, a tampered private_metadata is refused and logged,
and a failing database asks the person to try again while the modal keeps their text. Only
after the transaction committed does the modal close; then the check-in DM becomes "Reflection
saved" with an Edit button, and the App Home is published again.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.pairing.queries import debrief_peer
from bot.reflections import rules as reflections
from bot.reflections.modal import (
    CALLBACK_ID,
    FOLLOW_UP_PREFIX,
    MAX_FOLLOW_UPS,
    VISIBILITY_LABELS,
    ModalMetadata,
    build_reflection_modal,
    decode_metadata,
    first_input_block_id,
    parse_submission,
)
from bot.reflections.rules import Refused, Saved
from bot.rhythm.messages import (
    ACTION_REFLECTION_EDIT,
    ACTION_REFLECTION_OPEN,
    reflection_saved_message,
)
from bot.services import Services
from handlers.clicks import (
    Click,
    publish_home,
    read_click,
)
from handlers.registry import Registrar

logger = logging.getLogger(__name__)

MAX_VIEW_ID = 64  # Reflection.view_id; Slack's are about 11 characters
_VIEW_ID = re.compile(rf"[A-Za-z0-9]{{1,{MAX_VIEW_ID}}}")  # Slack's are like V0123ABCDEF

TRY_AGAIN_BUTTON = "I couldn't open the form just now. Please press the button again."
TRY_AGAIN_SAVE = (
    "I couldn't save your reflection just now; nothing was saved. "
    "Please press Save again in a minute."
)


# --------------------------------------------------------------------------- the buttons


def reflection_open(
    ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    """ "Write my check-in" (value: the delivery id, or a nudge's check-in id)."""
    click = read_click(
        ack, body, client, context, respond, listener=ACTION_REFLECTION_OPEN, log=logger
    )
    _open_modal(click, editing=False)


def reflection_edit(
    ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
) -> None:
    """ "Edit" on a saved reflection (value: the reflection id)."""
    click = read_click(
        ack, body, client, context, respond, listener=ACTION_REFLECTION_EDIT, log=logger
    )
    _open_modal(click, editing=True)


def _open_modal(click: Click, *, editing: bool) -> None:
    services, client, user_id, team_id = click.services, click.client, click.user_id, click.team_id
    action = ACTION_REFLECTION_EDIT if editing else ACTION_REFLECTION_OPEN
    row_id = click.id
    if row_id is None:
        click.reply(reflections.REFLECTION_NOT_FOUND if editing else reflections.NOT_FOUND)
        return
    try:
        with services.db.read_session() as session:
            if editing:
                target = reflections.target_for_reflection(
                    session, team_id=team_id, user_id=user_id, reflection_id=row_id
                )
            else:
                target = reflections.target_for_delivery(
                    session, team_id=team_id, user_id=user_id, delivery_id=row_id
                )
            content = reflections.modal_content(session, target, max_follow_ups=MAX_FOLLOW_UPS)
            peer = debrief_peer(session, target.kind, target.delivery)  # from the pairing
    except Refused as refused:
        logger.warning("%s by %s on %s refused: %s", action, user_id, row_id, refused.reason)
        click.reply(refused.text)
        return
    except SQLAlchemyError:
        logger.exception("%s could not read %s", action, row_id)
        click.reply(TRY_AGAIN_BUTTON)
        return
    view = build_reflection_modal(
        kind=content.kind,
        circle_name=content.circle_name,
        week_start=content.week_start,
        questions=content.questions,
        metadata=content.metadata,
        follow_ups=content.follow_ups,
        hidden_follow_ups=content.hidden_follow_ups,
        prefill=content.prefill,
        initial_peer=peer,
    )
    try:
        client.views_open(trigger_id=click.trigger_id, view=view)
    except SlackApiError as exc:
        logger.warning("views.open for %s %s failed: %s", action, row_id, exc.response.get("error"))
        click.reply(TRY_AGAIN_BUTTON)


# --------------------------------------------------------------------------- the modal


def reflection_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    services = context["services"]
    user_id = body.get("user", {}).get("id", "")
    team_id = context.team_id or body.get("team", {}).get("id", "")
    view_id = str(view.get("id") or "")
    form_block = _first_input_block(view)
    metadata = decode_metadata(view.get("private_metadata"))
    if metadata is None or not _VIEW_ID.fullmatch(view_id):
        logger.warning("reflection_modal from %s with bad private_metadata or view id", user_id)
        ack(response_action="errors", errors={form_block: reflections.TAMPERED})
        return
    values = (view.get("state") or {}).get("values") or {}
    form = _input_block_ids(view)
    try:
        try:
            answer = _save(services, values, metadata, team_id, user_id, view_id, form)
        except IntegrityError:
            # A concurrent submission won a unique constraint after our checks; once more,
            # this sees its row (the same view: nothing to do; another one: an edit).
            logger.info("reflection_modal by %s raced another submission; retrying", user_id)
            answer = _save(services, values, metadata, team_id, user_id, view_id, form)
    except Refused as refused:
        log = logger.warning if refused.reason == "tampered" else logger.info
        log("reflection_modal by %s refused (%s): %s", user_id, refused.reason, metadata)
        ack(response_action="errors", errors={form_block: refused.plain})
        return
    except SQLAlchemyError:
        logger.exception("saving the reflection of %s (%s) failed", user_id, metadata)
        ack(response_action="errors", errors={form_block: TRY_AGAIN_SAVE})
        return
    if isinstance(answer, dict):
        ack(response_action="errors", errors=answer)
        return
    ack()  # committed: the modal closes
    if answer.outcome == "unchanged":
        return  # a retry: the first submission updated the DM and the Home
    _show_saved(services, client, answer, team_id=team_id, user_id=user_id)


def _save(
    services: Services,
    values: Any,
    metadata: ModalMetadata,
    team_id: str,
    user_id: str,
    view_id: str,
    form: set[str],
) -> Saved | dict[str, str]:
    """One transaction: check the target, parse the answers, write. Field errors write nothing."""
    with services.db.session() as session:
        now = services.clock()
        target = reflections.submission_target(
            session, team_id=team_id, user_id=user_id, metadata=metadata
        )
        asked = {question.id for question in target.questions}
        asked |= {f"{FOLLOW_UP_PREFIX}{item_id}" for item_id in metadata.follow_up_ids}
        if not asked <= form:
            # The metadata names a check-in whose questions this form does not ask (forged,
            # or the question set changed while it was open): its answers are not for it.
            raise Refused("tampered", reflections.TAMPERED)
        parsed = parse_submission(
            values,
            questions=target.questions,
            follow_up_ids=metadata.follow_up_ids,
            today=reflections.today_for(target, now),
            kept_due_dates=reflections.kept_due_dates(session, target),
        )
        if parsed.reflection is None:
            return parsed.errors
        return reflections.save_reflection(
            session, target, parsed.reflection, user_id=user_id, view_id=view_id, now=now
        )


def _show_saved(
    services: Services, client: WebClient, saved: Saved, *, team_id: str, user_id: str
) -> None:
    """Turn the check-in DM (and its nudges) into "Reflection saved", then refresh the Home."""
    try:
        with services.db.read_session() as session:
            shown = reflections.saved_view(session, saved.reflection_id)
    except SQLAlchemyError:
        logger.exception("could not read reflection %s after saving it", saved.reflection_id)
        shown = None
    if shown is not None:
        message = reflection_saved_message(
            kind=shown.kind,
            circle_name=shown.circle_name,
            reflection_id=shown.reflection_id,
            audience=VISIBILITY_LABELS.get(shown.visibility, shown.visibility),
            named=shown.named,
            next_steps=list(shown.next_steps),
            edited=shown.edited,
        )
        for channel, ts in shown.dms:
            try:
                client.chat_update(channel=channel, ts=ts, **message)
            except SlackApiError as exc:
                logger.warning(
                    "could not mark reflection %s as saved in %s: %s",
                    saved.reflection_id,
                    channel,
                    exc.response.get("error"),
                )
    try:
        publish_home(services, client, team_id=team_id, user_id=user_id)
    except SlackApiError as exc:
        logger.warning("could not publish the Home of %s: %s", user_id, exc.response.get("error"))
    except Exception:
        logger.exception("could not publish the Home of %s after a reflection", user_id)


def _input_block_ids(view: dict[str, Any]) -> set[str]:
    return {
        str(block["block_id"])
        for block in view.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id")
    }


def _first_input_block(view: dict[str, Any]) -> str:
    """The block an error about the whole form goes under (errors show under input blocks)."""
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return first_input_block_id(())


def register(registrar: Registrar) -> None:
    registrar.action(ACTION_REFLECTION_OPEN, reflection_open)
    registrar.action(ACTION_REFLECTION_EDIT, reflection_edit)
    registrar.view(CALLBACK_ID, reflection_submitted)
