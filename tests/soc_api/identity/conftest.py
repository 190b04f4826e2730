"""A real identity environment per test (state store, ledger, key store; a clock the test moves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.soc_api.identity_env import Env, open_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    opened = open_env(tmp_path)
    yield opened
    opened.close()
