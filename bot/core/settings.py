"""Settings, read once from the environment (and an optional .env file).

A missing or malformed value stops start-up with one line naming the variable and what is
expected (`ConfigError`); the CLI prints it and exits with status 2. Secret values are
`SecretStr`, so they never show up in reprs or logs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import DatabaseUrlError, normalise_url

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

_HEX = re.compile(r"^[0-9a-f]{16,128}$")

# Values never repeated back: secrets, and database URLs (they may hold a password).
_NOT_ECHOED = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DATABASE_URL"}

# What each variable should look like, for the one-line error message.
EXPECTED: dict[str, str] = {
    "SLACK_BOT_TOKEN": "a bot token starting with xoxb- (Slack app > OAuth & Permissions)",
    "SLACK_SIGNING_SECRET": "the hex signing secret (Slack app > Basic Information)",
    "SLACK_APP_TOKEN": "an app-level token starting with xapp- with connections:write"
    " (Slack app > Basic Information > App-Level Tokens)",
    "SLACK_API_URL": "an http(s) URL ending in /api/, e.g. http://127.0.0.1:9000/api/",
    "DATABASE_URL": "sqlite:///path.db or postgresql://user@host:5432/dbname",
    "PORT": "a whole number between 1 and 65535",
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR",
    "MISSED_GRACE_HOURS": "a number of hours between 0 and 168",
    "DELIVERY_LEASE_SECONDS": "a whole number of seconds between 1 and 3600",
    "SEND_CONCURRENCY": "a whole number between 1 and 100",
    "TICK_SECONDS": "a whole number of seconds between 1 and 60",
    "PROMPTS_DIR": "an existing directory of question sets (<name>.yml files)",
    "DATA_RETENTION_DAYS": "a whole number of days between 1 and 36500, or off",
    "DIGEST_CHART": "true or false",
}


class ConfigError(Exception):
    """One line for the person starting the bot, e.g. 'PORT: expected ...'."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    database_url: str = "sqlite:///circlebot.db"
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    # Delivery of scheduled messages (see bot/delivery/engine.py).
    missed_grace_hours: float = Field(default=6.0, ge=0, le=168)
    delivery_lease_seconds: int = Field(default=120, ge=1, le=3600)
    send_concurrency: int = Field(default=16, ge=1, le=100)
    tick_seconds: int = Field(default=30, ge=1, le=60)
    # More question sets (prompts/questions.py); one named like a shipped set replaces it.
    prompts_dir: Path | None = None
    # Reflection text older than this many days is cleared every day (bot/data_rights/);
    # None (unset, empty or "off") keeps it.
    data_retention_days: int | None = Field(default=None, ge=1, le=36500)
    # A PNG chart of the 8-week participation follows each leader's digest (bot/digest/compose.py).
    digest_chart: bool = True

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="before")
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("bad prefix")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("bad prefix")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _HEX.match(value.get_secret_value()):
            raise ValueError("not hex")
        return value

    @field_validator("slack_api_url", mode="before")
    @classmethod
    def _api_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("not a URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("prompts_dir", mode="before")
    @classmethod
    def _blank_dir_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_retention_days", mode="before")
    @classmethod
    def _retention_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @field_validator("prompts_dir")
    @classmethod
    def _prompts_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError("not a directory")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            normalise_url(value)
        except DatabaseUrlError as exc:
            raise ValueError(str(exc)) from None
        return value

    def require(self, *names: str) -> None:
        """Refuse to start when a variable this command needs is not set."""
        for name in names:
            if getattr(self, name.lower()) is None:
                raise ConfigError(f"{name} is not set: expected {EXPECTED[name]}")

    def secrets(self) -> list[str]:
        """The secret values, so log output can be scrubbed of them."""
        values = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token)
        return [v.get_secret_value() for v in values if v is not None]


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning the first validation error into a ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        expected = EXPECTED.get(name, "a valid value")
        # Never echo secret values; other values help people spot a typo.
        shown = "" if name in _NOT_ECHOED else (f", got {error.get('input')!r}")
        raise ConfigError(f"{name}: expected {expected}{shown}") from None
