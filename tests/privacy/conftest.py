"""The privacy property suite shares the reliability suite's bot per module and database."""

from tests.reliability.conftest import shared_bot, shared_clock, shared_db_url

__all__ = ["shared_bot", "shared_clock", "shared_db_url"]
