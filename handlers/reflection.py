"""(being written)"""

from __future__ import annotations

from handlers.registry import Registrar


def register(registrar: Registrar) -> None:
    del registrar
