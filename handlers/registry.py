"""Registers listeners on the Bolt app and remembers what was registered.

The manifest test compares `Registered` with manifest.yml, so a command, event or
interactive callback can't be added on one side and forgotten on the other.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App

Listener = Callable[..., Any]

logger = logging.getLogger(__name__)

# Slack gives up after 3 seconds; past this the request thread stops waiting for the ack.
ACK_WAIT_SECONDS = 2.8


@dataclass
class Registered:
    commands: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    views: set[str] = field(default_factory=set)


class Registrar:
    """Registers listeners; with an executor, each answers Slack as soon as it acks.

    Bolt's own asynchronous mode (process_before_response=False) checks every 10 ms whether
    the listener has acked, which puts a 10 ms floor under every answer and keeps request
    threads polling under load. Instead the app runs with process_before_response=True and
    each listener is wrapped (`acks_promptly`): it runs on the executor, and the request
    thread returns the moment ack() is called; the rest of the listener carries on there.
    """

    def __init__(self, app: App, executor: Executor | None = None) -> None:
        self.app = app
        self.executor = executor
        self.registered = Registered()

    def _wrap(self, listener: Listener) -> Listener:
        return listener if self.executor is None else acks_promptly(listener, self.executor)

    def command(self, name: str, listener: Listener) -> None:
        self.registered.commands.add(name)
        self.app.command(name)(self._wrap(listener))

    def event(self, event_type: str, listener: Listener) -> None:
        self.registered.events.add(event_type)
        self.app.event(event_type)(self._wrap(listener))

    def action(self, action_id: str, listener: Listener) -> None:
        self.registered.actions.add(action_id)
        self.app.action(action_id)(self._wrap(listener))

    def view(self, callback_id: str, listener: Listener) -> None:
        self.registered.views.add(callback_id)
        self.app.view(callback_id)(self._wrap(listener))


class _SignallingAck:
    """Bolt's Ack, which also wakes the request thread waiting for it."""

    def __init__(self, ack: Ack, acked: threading.Event) -> None:
        self._ack = ack
        self._acked = acked

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._ack(*args, **kwargs)
        finally:
            self._acked.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ack, name)


def acks_promptly(listener: Listener, executor: Executor) -> Listener:
    """Run `listener` on `executor`; return to Bolt as soon as it has acked (or finished).

    `functools.wraps` keeps the listener's signature visible, so Bolt injects the same
    arguments. A listener without `ack` (events: Bolt acks them itself) returns at once.
    An exception before the ack is raised here, so Bolt answers 500 and logs it as before;
    one after the ack is logged.
    """
    takes_ack = "ack" in inspect.signature(listener).parameters

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        acked = threading.Event()
        if takes_ack:
            kwargs["ack"] = _SignallingAck(kwargs["ack"], acked)
        else:
            acked.set()
        future = executor.submit(listener, **kwargs)
        future.add_done_callback(functools.partial(_finished, acked, listener))
        acked.wait(ACK_WAIT_SECONDS)
        error = future.exception() if future.done() and not future.cancelled() else None
        if error is not None and takes_ack and kwargs["ack"].response is None:
            raise error  # failed before acking: Bolt answers 500 and logs it

    return run


def _finished(acked: threading.Event, listener: Listener, future: Future[Any]) -> None:
    error = None if future.cancelled() else future.exception()
    if error is not None and acked.is_set():  # after the ack: nobody else will log it
        logger.error("listener %s failed", getattr(listener, "__name__", listener), exc_info=error)
    acked.set()
