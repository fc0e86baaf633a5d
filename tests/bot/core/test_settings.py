"""Settings: one clear line and exit status 2 for every missing or malformed value."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.logs import RedactSecrets
from bot.core.settings import ConfigError, load_settings

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-123-456-abcdef",
    "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
}
CLEAN_KEYS = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "DATABASE_URL",
    "PORT",
    "LOG_LEVEL",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in CLEAN_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///circlebot.db"
    assert settings.port == 3000
    assert settings.log_level == "INFO"
    assert settings.slack_api_url is None


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=4123\nLOG_LEVEL=debug\n")
    settings = load_settings()
    assert (settings.port, settings.log_level) == (4123, "DEBUG")


def test_api_url_gets_a_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9000/api")
    assert load_settings().slack_api_url == "http://127.0.0.1:9000/api/"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PORT", "abc", "PORT: expected a whole number between 1 and 65535, got 'abc'"),
        ("PORT", "70000", "PORT: expected a whole number between 1 and 65535"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR"),
        (
            "SLACK_BOT_TOKEN",
            "xoxp-user-token",
            "SLACK_BOT_TOKEN: expected a bot token starting with xoxb-",
        ),
        (
            "SLACK_APP_TOKEN",
            "xoxb-wrong-kind",
            "SLACK_APP_TOKEN: expected an app-level token starting with xapp-",
        ),
        (
            "SLACK_SIGNING_SECRET",
            "not-hex!",
            "SLACK_SIGNING_SECRET: expected the hex signing secret",
        ),
        ("SLACK_API_URL", "ftp:/x", "SLACK_API_URL: expected an http(s) URL"),
        (
            "DATABASE_URL",
            "mysql://root@localhost/x",
            "DATABASE_URL: expected sqlite:///path.db or postgresql://",
        ),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value).startswith(expected)
    if (key.startswith("SLACK_") and key != "SLACK_API_URL") or key == "DATABASE_URL":
        assert value not in str(error.value)  # secrets (and URLs with passwords) are not echoed


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in CLEAN_KEYS}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["serve"], {}, "circlebot: SLACK_BOT_TOKEN is not set: expected a bot token"),
        (
            ["serve"],
            {"SLACK_BOT_TOKEN": GOOD["SLACK_BOT_TOKEN"]},
            "circlebot: SLACK_SIGNING_SECRET is not set",
        ),
        (["serve"], {**GOOD, "PORT": "http"}, "circlebot: PORT: expected a whole number"),
        (["socket"], GOOD, "circlebot: SLACK_APP_TOKEN is not set: expected an app-level token"),
        (["migrate"], {"DATABASE_URL": "oracle://x"}, "circlebot: DATABASE_URL: expected"),
    ],
)
def test_cli_stops_with_one_line_and_status_2(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "Traceback" not in result.stderr + result.stdout


def test_migrate_creates_the_default_sqlite_file(tmp_path: Path) -> None:
    result = run_cli("migrate", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is at revision" in result.stdout
    assert (tmp_path / "circlebot.db").exists()


def test_secrets_are_scrubbed_from_log_records(caplog: pytest.LogCaptureFixture) -> None:
    secret = GOOD["SLACK_SIGNING_SECRET"]
    log = logging.getLogger("test.redact")
    log.addFilter(RedactSecrets([secret]))
    with caplog.at_level(logging.INFO, logger="test.redact"):
        log.info("signing with %s", secret)
        log.info("token %s leaked", "xoxb-999-888-zzz")
        log.info("app token xapp-1-A1-123-abc")
    text = caplog.text
    assert secret not in text and "xoxb-999" not in text and "xapp-1" not in text
    assert "[redacted]" in text and "[redacted-token]" in text
