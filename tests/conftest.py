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
    yield where
    patch.undo()


@pytest.fixture(autouse=True)
def _no_inherited_rule_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiled-rule cache unless a test sets one: `datasoc run` names one in the environment
    (`DATASOC_RULE_CACHE`) for its job, and that must not outlive the test that started it."""
    monkeypatch.setenv("DATASOC_RULE_CACHE", "")
