"""Fuzzing modal submissions: the reflection modal (check-in and debrief) and the demo-day
sign-up modal, through signed view_submission payloads into the real bot.

State values are drawn from the view's own blocks: good answers, missing blocks, wrong types,
huge text, NUL, invalid dates, unknown options; private_metadata is sometimes forged or broken
and the view id odd; some submissions come from someone else; some are sent twice. Whatever
comes in, the answer is either a success whose rows match what was submitted (a second send
changes nothing), or `response_action: errors` with non-empty messages under blocks the view
has, and then no row changed at all (every table people write to is compared before/after).
The properties live in tests/reliability/fuzzing.py; `python -m bench.fuzz` runs more.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.reflections.rules import TAMPERED
from tests.harness import ANA, EVE, BotHarness, FakeClock
from tests.reliability.conftest import fuzz_settings
from tests.reliability.fuzzing import (
    ReflectionWorld,
    SignupWorld,
    Submission,
    as_sent,
    check_reflection_submission,
    check_signup_submission,
    fresh_view_id,
    reflection_submission,
    reflection_world,
    signup_submission,
    signup_world,
    snapshot,
    submit_view,
)


@pytest.fixture(scope="module")
def reflections(shared_bot: BotHarness, shared_clock: FakeClock) -> ReflectionWorld:
    return reflection_world(shared_bot, shared_clock)


@pytest.fixture(scope="module")
def signups(shared_bot: BotHarness, shared_clock: FakeClock) -> SignupWorld:
    return signup_world(shared_bot, shared_clock)


def good_checkin(world: ReflectionWorld, **changes: Any) -> Submission:
    values: dict[str, Any] = {
        "tried": {"tried": {"type": "plain_text_input", "value": "Asked <!channel> twice"}},
        "confidence": {"confidence": {"selected_option": {"value": "4"}}},
        "next_step": {"next_step": {"type": "plain_text_input", "value": "Call Ben"}},
        "meta.visibility": {"visibility": {"selected_option": {"value": "circle"}}},
    }
    values.update(changes)
    view = as_sent(
        world.checkin, view_id=fresh_view_id(), metadata=world.checkin["private_metadata"]
    )
    return Submission(view=view, values=values, user=ANA, retry=True)


def test_a_good_checkin_is_saved_and_its_retry_changes_nothing(
    shared_bot: BotHarness, reflections: ReflectionWorld
) -> None:
    """The property's own sanity check: it does see a success when there is one."""
    assert check_reflection_submission(shared_bot, good_checkin(reflections)) == "saved"


@fuzz_settings(40)
@given(data=st.data())
def test_reflection_modal_submissions_save_consistently_or_refuse_cleanly(
    shared_bot: BotHarness, reflections: ReflectionWorld, data: st.DataObject
) -> None:
    submission = data.draw(reflection_submission(reflections), label="submission")
    check_reflection_submission(shared_bot, submission)


@pytest.mark.parametrize(
    "changes",
    [
        {"tried": {"tried": {"value": "a\x00b"}}},
        {"tried": "not an object"},
        {"confidence": {"confidence": {"selected_option": "4"}}},
        {"next_step.due": {"due": {"selected_date": "2026-02-30"}}},
        {"meta.visibility": {"visibility": {"selected_option": {"value": "everyone"}}}},
        {"tried": {"tried": {"value": "x" * 5000}}},
    ],
    ids=["nul", "block-not-object", "option-not-object", "invalid-date", "visibility", "huge"],
)
def test_known_bad_values_are_refused_under_their_field(
    shared_bot: BotHarness, reflections: ReflectionWorld, changes: dict[str, object]
) -> None:
    assert check_reflection_submission(shared_bot, good_checkin(reflections, **changes)) == (
        "refused"
    )


@pytest.mark.parametrize("case", ["debrief-metadata", "nul-view-id", "space-view-id"])
def test_a_form_that_is_not_the_one_opened_is_refused_as_tampered(
    shared_bot: BotHarness, reflections: ReflectionWorld, case: str
) -> None:
    """Fuzzing found these: a check-in form whose metadata names Ana's own debrief got field
    errors under the debrief's blocks (which the form doesn't have, so Slack rejects the
    answer), and a view id PostgreSQL can't store asked her to "try again" forever."""
    submission = good_checkin(reflections)
    view = dict(submission.view)
    if case == "debrief-metadata":
        view["private_metadata"] = json.dumps(
            {
                "circle_id": reflections.circle_id,
                "prompt_set": "default",
                "delivery_id": reflections.debrief_delivery,
            }
        )
    else:
        view["id"] = view["root_view_id"] = "V\x00X" if case == "nul-view-id" else "V X"
    before = snapshot(shared_bot)
    answer = submit_view(shared_bot, view, submission.values, user=ANA)
    assert answer == {"response_action": "errors", "errors": {"tried": TAMPERED}}
    assert snapshot(shared_bot) == before


@fuzz_settings(30)
@given(data=st.data())
def test_signup_modal_submissions_save_consistently_or_refuse_cleanly(
    shared_bot: BotHarness, signups: SignupWorld, data: st.DataObject
) -> None:
    check_signup_submission(shared_bot, data.draw(signup_submission(signups), label="submission"))


@pytest.mark.parametrize(
    ("values", "metadata", "user", "expected"),
    [
        ({"demo_title": {"title": {"value": "Pricing \x00 test"}}}, None, ANA, "refused"),
        ({"demo_title": "x"}, None, ANA, "refused"),
        ([], None, ANA, "refused"),
        ({"demo_title": {"title": {"value": "Pricing test"}}}, None, EVE, "refused"),
        (
            {"demo_title": {"title": {"value": "Pricing test"}}},
            '{"demo_day_id": true}',
            ANA,
            "refused",
        ),
        ({"demo_title": {"title": {"value": "  Pricing \n test  "}}}, None, ANA, "saved"),
    ],
    ids=["nul", "block-not-object", "values-not-object", "outsider", "bool-id", "saved"],
)
def test_known_sign_up_cases(
    shared_bot: BotHarness,
    signups: SignupWorld,
    values: object,
    metadata: str | None,
    user: str,
    expected: str,
) -> None:
    view = as_sent(
        signups.view,
        view_id=fresh_view_id(),
        metadata=signups.view["private_metadata"] if metadata is None else metadata,
    )
    submission = Submission(view=view, values=values, user=user, retry=True)
    assert check_signup_submission(shared_bot, submission) == expected
    if expected == "saved":
        assert json.loads(view["private_metadata"])["demo_day_id"] == signups.demo_day
