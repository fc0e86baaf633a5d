"""Logging set-up with a filter that scrubs secrets from every record."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Slack tokens have well-known prefixes; scrub any that slip into a message.
_TOKEN = re.compile(r"\bx(?:oxb|oxp|oxa|oxe|app|oxr)-[0-9A-Za-z-]+")


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
        return True


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # slack_sdk logs whole request bodies at DEBUG; keep it at INFO unless asked.
    if level != "DEBUG":
        logging.getLogger("slack_sdk").setLevel(logging.INFO)
        logging.getLogger("alembic").setLevel(logging.WARNING)
