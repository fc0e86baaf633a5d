"""Logging set-up: one handler on the root logger whose filters keep what people wrote, and
secrets, out of every record, whatever logger it comes from and at every level.

What a person writes (reflection answers, action items, demo-day sign-ups, `/circle` text)
must reach only the readers they chose, and never the logs. It travels in places a log line
can pick up, so `RedactPayloads` rewrites records before they are formatted:

- Library debug lines that print bodies. At DEBUG, slack_sdk logs every Web API request
  ("Sending a request - url: …, body_params: …, json_body: …") and response ("Received the
  following response - status: …, body: …"), response_url posts, Socket Mode frames and
  envelopes; Bolt logs its answers ("Responding with status: 200 body: …"), skipped events
  and, at WARNING, unhandled requests. For records of the `slack_sdk` and `slack_bolt`
  loggers (`LIBRARY_LOGGERS`) the message is cut where the library starts printing data:
  at the field label it puts before a body, a payload, parameters, headers or a URL that is
  a capability (`_DATA_FIELDS`; a response_url, a file upload URL). What comes before it,
  the method's URL and the status, stays. We cannot recognise a person's words in a
  message, but we can recognise where a library starts printing them, and we only look at
  those libraries' records: a message of our own that says "body:" is left alone. A library
  version that prints data under a new label needs an entry here; tests/bot/core/test_logs.py
  drives the real paths at DEBUG and fails if any of their text reaches the log.
- Exceptions that carry a payload, wherever they appear: as the record's exc_info (its
  traceback), as an argument, or formatted into the message by a library (Bolt's "Failed to
  run listener function (error: …)"). `describe_exception` names them without it:
  `SlackApiError` by Slack's error code (its str() is Slack's whole response, and
  chat.postMessage echoes the message), SQLAlchemy and database-driver errors by their
  class, SQLSTATE and the constraint, table and column names (PostgreSQL's DETAIL quotes the
  failing row; storage/db.py also sets `hide_parameters`), and the refusals shown to a
  person (`PERSON_FACING`), whose message may quote what they typed, by class only.
  Tracebacks keep every frame: only those exceptions' messages change.
- A mapping logged as a value (Bolt's suggestion `logger.info(body)`) is not printed.

`RedactSecrets` then scrubs the configured secrets and anything shaped like a Slack token from
the message and the traceback.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any
from urllib.parse import urlsplit

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse
from sqlalchemy.exc import StatementError

# Slack tokens have well-known prefixes; scrub any that slip into a message.
_TOKEN = re.compile(r"\bx(?:oxb|oxp|oxa|oxe|app|oxr)-[0-9A-Za-z-]+")

LIBRARY_LOGGERS = ("slack_sdk", "slack_bolt")

# Field labels after which slack_sdk and Bolt print data (checked in their sources: slack_sdk
# web/base_client.py, web/internal_utils.py, webhook/, socket_mode/; Bolt logger/messages.py,
# listener/thread_runner.py, middleware/, adapter/socket_mode/). The first one found in a
# library record's message cuts it there. Most specific logger first.
_COMMON_FIELDS = (
    "query_params:",
    "body_params:",
    "json_body:",
    "files:",
    "headers:",
    "body:",
    "payload:",
    "message:",
    "data:",
    "event:",
    "({",  # Bolt: "Unhandled request ({…})", "… for the request ({body})"
    "non-JSON format:",
    "bytes:",
)
_DATA_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # A response_url lets anyone answer in the conversation for 30 minutes: not logged.
    ("slack_sdk.webhook", ("url:", "http://", "https://", *_COMMON_FIELDS)),
    # files upload v2 posts the file to a signed, one-off URL.
    ("slack_sdk.web.internal_utils", ("POST ", *_COMMON_FIELDS)),
    # Socket Mode handshakes print the request (its ticket) and the proxy's headers.
    ("slack_sdk.socket_mode", (":\n", *_COMMON_FIELDS)),
    ("slack_sdk", _COMMON_FIELDS),
    # Bolt's Socket Mode adapter hands Bolt's logger to the Socket Mode client.
    ("slack_bolt", (":\n", *_COMMON_FIELDS)),
)
NOT_LOGGED = "[data not logged]"

# Exceptions whose message is shown to a person and may quote what they typed (a circle's
# name, a date they typed wrong): logged by class only. Names, not imports: bot.core.logs is
# imported first of all; tests/bot/core/test_logs.py checks that each still names a class.
PERSON_FACING = frozenset(
    {
        "bot.slash.parse.CommandError",
        "bot.circles.rules.Refusal",
        "bot.reflections.rules.Refused",
        "bot.calendar.timeparse.ParseError",
        "handlers.demoday.SignupRefused",
    }
)

_SLACK_ERROR_CODE = re.compile(r"[a-z0-9_]{1,64}")


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _is_person_facing(exc: BaseException) -> bool:
    return any(_qualified(cls) in PERSON_FACING for cls in type(exc).__mro__)


def _is_driver_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("psycopg", "psycopg2", "sqlite3")


def is_sensitive(exc: BaseException) -> bool:
    """Whether `exc`'s message may carry a payload (so `describe_exception` rewrites it)."""
    return (
        isinstance(exc, SlackApiError | StatementError)
        or _is_driver_error(exc)
        or _is_person_facing(exc)
    )


def describe_response(response: Any) -> str:
    """A Slack Web API response by method, HTTP status and error code, never its data."""
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    if isinstance(code, str) and _SLACK_ERROR_CODE.fullmatch(code):
        shown = code
    elif isinstance(data, dict) and data.get("ok"):
        shown = "ok"
    else:
        shown = "(no Slack error code)"
    method = urlsplit(str(getattr(response, "api_url", "") or "")).path.rsplit("/", 1)[-1]
    return f"{shown} ({method or 'a Slack call'}, HTTP {getattr(response, 'status_code', '?')})"


def _driver_details(exc: BaseException) -> str:
    """What a database driver's error says about the schema, not about the values."""
    details: list[str] = []
    sqlstate = getattr(exc, "sqlstate", None)  # psycopg
    if sqlstate:
        details.append(f"SQLSTATE {sqlstate}")
    diag = getattr(exc, "diag", None)
    for label, field in (
        ("constraint", "constraint_name"),
        ("table", "table_name"),
        ("column", "column_name"),
    ):
        value = getattr(diag, field, None) if diag is not None else None
        if value:
            details.append(f"{label} {value}")
    name = getattr(exc, "sqlite_errorname", None)  # sqlite3 (Python 3.11+)
    if name:
        details.append(str(name))
    first_line = (str(exc).splitlines() or [""])[0]
    if type(exc).__module__ == "sqlite3" and type(exc).__name__ == "IntegrityError":
        details.append(first_line)  # "UNIQUE constraint failed: circle.name": schema names
    elif (
        type(exc).__module__.startswith("psycopg")
        and type(exc).__name__ in ("OperationalError", "InterfaceError")
        and not sqlstate
    ):
        details.append(first_line)  # could not connect (host, port): no values
    return ", ".join(details) or "no details"


def describe_exception(exc: BaseException) -> str:
    """One line naming `exc`: its class and, unless it may carry a payload, its message."""
    name = _qualified(type(exc))
    if isinstance(exc, SlackApiError):
        return f"{name}: {describe_response(exc.response)}"
    if isinstance(exc, StatementError):
        orig = exc.orig
        cause = f"({describe_exception(orig)})" if orig is not None else "(no driver error)"
        statement = " ".join((exc.statement or "").split())[:300]
        return f"{name}: {cause} [SQL: {statement}]" if statement else f"{name}: {cause}"
    if _is_driver_error(exc):
        return f"{name}: {_driver_details(exc)}"
    if _is_person_facing(exc):
        return f"{name} (its message may quote what a person wrote: not logged)"
    try:
        text = str(exc)
    except Exception:
        text = "(its message could not be read)"
    return f"{name}: {text}" if text else name


def _chain(exc: BaseException) -> Iterator[tuple[BaseException, str | None]]:
    """`exc` and the exceptions before it, newest first, each with how it led to the one
    before it in this order (as the standard traceback prints them)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current, link
        if current.__cause__ is not None:
            current, link = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "context"
        else:
            current = None


_LINKS = {
    "cause": "\nThe above exception was the direct cause of the following exception:\n\n",
    "context": "\nDuring handling of the above exception, another exception occurred:\n\n",
}


def format_exception_safely(exc: BaseException) -> str:
    """The traceback the standard library would print, with each exception that may carry a
    payload described by `describe_exception` instead of its message."""
    blocks: list[str] = []
    chain = list(_chain(exc))
    for current, link in reversed(chain):
        block = ""
        if current.__traceback__ is not None:
            block += "Traceback (most recent call last):\n"
            block += "".join(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        if is_sensitive(current):
            block += describe_exception(current) + "\n"
        else:
            block += "".join(traceback.format_exception_only(type(current), current))
        if isinstance(current, BaseExceptionGroup):
            for number, inner in enumerate(current.exceptions, 1):
                block += f"  +-- {number}: {describe_exception(inner)}\n"
        blocks.append(block)
        if link is not None:
            blocks.append(_LINKS[link])
    return "".join(blocks).rstrip("\n")


def _exception_of(record: logging.LogRecord) -> BaseException | None:
    exc_info = record.exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
        value: BaseException = exc_info[1]
        return value
    return None


def _safe_value(value: object) -> object:
    if isinstance(value, BaseException):
        return describe_exception(value)
    if isinstance(value, SlackResponse):
        return f"SlackResponse {describe_response(value)}"
    if isinstance(value, Mapping):
        return f"({type(value).__name__}: not logged)"
    return value


def _cut_library_message(name: str, message: str) -> str:
    for prefix, fields in _DATA_FIELDS:
        if name == prefix or name.startswith(prefix + "."):
            found = [i for i in (message.find(field) for field in fields) if i >= 0]
            if not found:
                return message
            kept = message[: min(found)].rstrip(" ,:;-(\n")
            if kept.count("(") > kept.count(")"):
                kept += ")"  # "(session id: s-1, message: …)" keeps its session id
            return f"{kept} {NOT_LOGGED}" if kept else NOT_LOGGED
    return message


class RedactPayloads(logging.Filter):
    """Rewrites records that could carry what people wrote (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:
            # Never lose a record over this, nor let an unchecked one through.
            record.msg = f"(a record of {record.name} that could not be checked: not logged)"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, BaseException | SlackResponse | Mapping):
            record.msg = _safe_value(record.msg)
        args = record.args
        if isinstance(args, Mapping):
            if "%(" not in str(record.msg):  # a mapping logged as the only value
                record.args = (_safe_value(args),)
        elif isinstance(args, tuple) and args:
            record.args = tuple(_safe_value(arg) for arg in args)

        exc = _exception_of(record)
        message = record.getMessage()
        changed = message
        if record.name.startswith(LIBRARY_LOGGERS):
            changed = _cut_library_message(record.name, changed)
        if exc is not None:
            for current, _link in _chain(exc):
                if is_sensitive(current):
                    raw = str(current)
                    if raw and raw in changed:
                        changed = changed.replace(raw, describe_exception(current))
        if changed != message:
            record.msg, record.args = changed, None
        if exc is not None:
            # Formatters use exc_text when it is set: every handler then prints this one.
            record.exc_text = format_exception_safely(exc)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def scrub(self, message: str) -> str:
        for secret in self.secrets:
            message = message.replace(secret, "[redacted]")
        return _TOKEN.sub("[redacted-token]", message)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for field in ("exc_text", "stack_info"):
            value = getattr(record, field, None)
            if value:
                setattr(record, field, self.scrub(value))
        return True


def setup_logging(
    level: str, secrets: Iterable[str] = (), *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every record to `stream` (stderr) through the filters above; returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPayloads())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # slack_sdk is chatty at DEBUG (every request); keep it at INFO unless asked.
    if level != "DEBUG":
        logging.getLogger("slack_sdk").setLevel(logging.INFO)
        logging.getLogger("alembic").setLevel(logging.WARNING)
    else:
        logging.getLogger("slack_sdk").setLevel(logging.NOTSET)
    return handler
