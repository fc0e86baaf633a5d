"""manifest.yml is valid for Slack and declares exactly what the code uses."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from slack_bolt import App

from handlers import register_all

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = (
    ROOT.parent / "shared" / "slack" / "manifest-schema" / "schemas" / "manifest.schema.1.0.0.json"
)

# The bot scope each Web API method the code calls needs (from Slack's method pages).
# A method missing here fails the test: look its scope up and add it. A method that needs
# several (conversations.open: a DM, and a group DM for a pair) lists them all.
METHOD_SCOPES: dict[str, str | tuple[str, ...] | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",
    "users_info": "users:read",
    "views_open": None,
    "views_push": None,
    "views_update": None,
    "views_publish": None,
    "conversations_open": ("im:write", "mpim:write"),
    # Who reads a circle's channel, before a post quotes anyone: public and private channels.
    "conversations_members": ("channels:read", "groups:read"),
    "files_upload_v2": "files:write",
    "files_getUploadURLExternal": "files:write",
    "files_completeUploadExternal": "files:write",
}
ALWAYS = {"commands"}  # slash commands need it; no Web API call names it


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return loaded


def test_manifest_matches_slacks_schema(manifest: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Slack's manifest schema is missing at {SCHEMA}; CI must validate it")
        pytest.skip(f"Slack's manifest schema is not at {SCHEMA} (../shared is absent)")
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(manifest), key=str)
    assert errors == [], "\n".join(e.message for e in errors)


def test_declared_commands_events_and_interactivity_match_the_code(
    manifest: dict[str, Any],
) -> None:
    app = App(
        token="xoxb-0-0-manifest-test",
        signing_secret="0" * 32,
        token_verification_enabled=False,  # no Slack call: only registrations are inspected
    )
    registered = register_all(app)
    declared_commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared_commands == registered.commands
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == registered.events
    for command in manifest["features"]["slash_commands"]:
        assert command["should_escape"] is True
    if "app_home_opened" in registered.events:
        assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    # Interactivity must be on as soon as any action or view is registered.
    interactive = bool(registered.actions or registered.views)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True or not interactive


def _web_api_methods_called() -> set[str]:
    """Every `<client>.<method>(` call on a WebClient in the shipped packages."""
    found: set[str] = set()
    for package in ("bot", "handlers", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            if "sandbox" in path.parts:  # the fake Slack serves these methods, it doesn't call them
                continue
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name | ast.Attribute)
                    and re.match(
                        r"^(auth|chat|users|views|conversations|files|team|reactions)_",
                        node.func.attr,
                    )
                ):
                    found.add(node.func.attr)
    return found


def test_bot_scopes_are_exactly_what_the_code_needs(manifest: dict[str, Any]) -> None:
    methods = _web_api_methods_called()
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {sorted(unknown)} to METHOD_SCOPES"
    needed = set(ALWAYS)
    for method in methods:
        scopes = METHOD_SCOPES[method] or ()
        needed.update((scopes,) if isinstance(scopes, str) else scopes)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed
