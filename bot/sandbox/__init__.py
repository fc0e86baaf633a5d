"""Sandbox tooling: a fake Slack to run and test Circlebot without a workspace."""

from .fake_models import FakeUser, RecordedCall, SentRequest
from .fake_slack import DEMO_CHANNEL_IDS, DEMO_USER_IDS, FakeSlack

__all__ = [
    "DEMO_CHANNEL_IDS",
    "DEMO_USER_IDS",
    "FakeSlack",
    "FakeUser",
    "RecordedCall",
    "SentRequest",
]
