"""The privacy property over generated worlds (tests/privacy/property.py), on both databases:
no text reaches a reader the rule forbids, and a leader's totals add up the circles shown."""

from __future__ import annotations

import pytest
from hypothesis import given

from bot.sandbox.fake_slack import RecordedCall
from tests.harness import BotHarness
from tests.privacy import property as prop
from tests.reliability.conftest import fuzz_settings


@pytest.fixture(scope="module")
def people(shared_bot: BotHarness) -> BotHarness:
    prop.add_people(shared_bot)
    return shared_bot


@fuzz_settings(25)
@given(world=prop.worlds())
def test_no_text_reaches_a_reader_the_rule_forbids_and_totals_add_up(
    people: BotHarness, world: prop.World
) -> None:
    calls = prop.play(people, world)
    verdict = prop.check(people, world, calls)
    assert not verdict.problems, verdict.problems


def test_the_property_sees_quotes_and_totals_when_there_are_some(people: BotHarness) -> None:
    """A world where text may be quoted and totals added up: the checker counts them, so the
    property above is not vacuous."""
    writing = prop.Writing(visibility="leaders", named=True, confidence=4, item=True)
    circle = prop.CircleSpec(
        participants=("UPP0", "UPP1", "UPP2"),
        leaders=("ULEAD0",),
        writings=tuple((p, writing) for p in ("UPP0", "UPP1", "UPP2")),
        removed=(),
        signups=("UPP0",),
        channel_extras=(),
    )
    world = prop.World((circle, circle))
    verdict = prop.check(people, world, prop.play(people, world))
    assert verdict.problems == []
    assert verdict.quoted >= 6 and verdict.totals_checked == 1


def test_the_checker_catches_a_leak(people: BotHarness) -> None:
    """Circle text posted into a DM of a leader is a problem the checker reports."""
    writing = prop.Writing(visibility="circle", named=False, confidence=3, item=False)
    circle = prop.CircleSpec(("UPP0",), ("ULEAD0",), (("UPP0", writing),), (), (), ())
    leak = RecordedCall(
        method="chat.postMessage",
        args={"channel": "ULEAD0", "text": prop.marker(0, "UPP0", "circle", "answer")},
        status=200,
        response={"ok": True},
        at=0.0,
        token=None,
    )
    verdict = prop.check(people, prop.World((circle,)), [leak])
    assert verdict.problems == [
        "MK-0-UPP0-circle-answer reached ULEAD0 via chat.postMessage to ULEAD0"
    ]
