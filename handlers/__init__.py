"""Bolt listeners, one module per Slack surface. Each exposes `register(registrar)`."""

from __future__ import annotations

from concurrent.futures import Executor

from slack_bolt import App

from handlers import action_items, checkin, commands, data_rights, demoday, home, reflection
from handlers.registry import Registered, Registrar


def register_all(app: App, executor: Executor | None = None) -> Registered:
    """Register every listener; with `executor`, listeners ack promptly (see Registrar)."""
    registrar = Registrar(app, executor)
    commands.register(registrar)
    home.register(registrar)
    checkin.register(registrar)
    demoday.register(registrar)
    reflection.register(registrar)
    action_items.register(registrar)
    data_rights.register(registrar)
    app.error(commands.log_unhandled_error)
    return registrar.registered
