"""Fixtures for every test: nothing a test runs writes into the user's home directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`XDG_CACHE_HOME` in a temporary directory: `datasoc detect` caches compiled rules there."""
    where = tmp_path_factory.mktemp("cache-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(where))
    patch.delenv("DATASOC_RULE_CACHE", raising=False)
    yield where
    patch.undo()
