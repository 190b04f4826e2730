"""Session-wide real servers for the tests that need them (OpenSearch, Elasticsearch, Kafka, Flink).

A test says what it needs with `@pytest.mark.services("opensearch", ...)` (a parametrised
backend can put the mark on its `pytest.param`) or by requesting `opensearch_server`,
`elasticsearch_server`, `kafka_server` or `flink_server`. After collection every server some
selected test needs is launched at once, so their start-ups overlap; the first test that uses one
waits for it to be ready. All stop at the end of the session. Nothing starts when no selected
test needs a server.

Without Java or Maven a test that needs a server skips with the reason, unless
`SERVICES_REQUIRED=1` (CI sets it), where it fails: in CI every one of them runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import SPECS, Server, ServiceError, ToolMissingError, create

REQUIRE_ENV = "SERVICES_REQUIRED"
_FIXTURES = {f"{name}_server": name for name in SPECS}


class ServerPool:
    """The session's servers: launched early, waited for on first use, stopped at the end."""

    def __init__(self) -> None:
        self._servers: dict[str, Server] = {}
        self._missing: dict[str, ToolMissingError] = {}
        self._failed: dict[str, ServiceError] = {}
        self.timings: dict[str, float] = {}

    def launch(self, name: str) -> None:
        """Start `name` in the background unless it is already started (or cannot be)."""
        if name in self._servers or name in self._missing or name in self._failed:
            return
        try:
            server = create(name)
        except ToolMissingError as exc:
            self._missing[name] = exc
            return
        self._servers[name] = server
        try:
            server.start()
        except ServiceError as exc:  # a fetch failed: every test that needs it fails with this
            self._failed[name] = exc

    def get(self, name: str) -> Server:
        """The ready server `name`: skips (or fails under `SERVICES_REQUIRED`) without Java/Maven."""
        self.launch(name)
        if name in self._missing:
            if os.environ.get(REQUIRE_ENV) == "1":
                raise self._missing[name]
            pytest.skip(f"needs a real {name} server: {self._missing[name]}")
        if name in self._failed:
            raise self._failed[name]
        server = self._servers[name]
        if name not in self.timings:
            self.timings[name] = server.wait_ready()
        elif not server.running:  # a test stopped it: bring it back for the next one
            server.start()
            server.wait_ready()
        return server

    def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()


_POOL = pytest.StashKey[ServerPool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "services(*names): the test needs these real servers")
    config.stash[_POOL] = ServerPool()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pool = config.stash[_POOL]
    needed: set[str] = set()
    for item in items:
        for mark in item.iter_markers("services"):
            needed.update(mark.args)
        needed.update(_FIXTURES[f] for f in getattr(item, "fixturenames", ()) if f in _FIXTURES)
    unknown = needed - set(SPECS)
    if unknown:
        raise pytest.UsageError(f"unknown server in a services mark: {sorted(unknown)}")
    for name in sorted(needed):
        pool.launch(name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    timings = config.stash[_POOL].timings
    if timings:
        shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(timings.items()))
        terminalreporter.write_line(f"servers ready after (from launch): {shown}")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _POOL in config.stash:
        config.stash[_POOL].close()


@pytest.fixture(scope="session")
def server_pool(pytestconfig: pytest.Config) -> ServerPool:
    """The session's servers; `server_pool.get("kafka")` waits until Kafka is ready."""
    return pytestconfig.stash[_POOL]


@pytest.fixture(scope="session")
def opensearch_server(server_pool: ServerPool) -> Server:
    return server_pool.get("opensearch")


@pytest.fixture(scope="session")
def elasticsearch_server(server_pool: ServerPool) -> Server:
    return server_pool.get("elasticsearch")


@pytest.fixture(scope="session")
def kafka_server(server_pool: ServerPool) -> Server:
    return server_pool.get("kafka")


@pytest.fixture(scope="session")
def flink_server(server_pool: ServerPool) -> Server:
    """A standalone Flink cluster (JobManager and two TaskManagers with the Kafka connector)."""
    return server_pool.get("flink")


def _own(name: str) -> Iterator[Server]:
    try:
        server = create(name)
    except ToolMissingError as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            raise
        pytest.skip(f"needs a real {name} server: {exc}")
    try:
        server.start()
        server.wait_ready()
        yield server
    finally:
        server.close()


@pytest.fixture
def own_kafka() -> Iterator[Server]:
    """A Kafka broker of this test alone (for tests that kill and restart it); ready when yielded."""
    yield from _own("kafka")


@pytest.fixture
def own_opensearch() -> Iterator[Server]:
    """An OpenSearch node of this test alone (for outage tests); ready when yielded."""
    yield from _own("opensearch")


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`XDG_CACHE_HOME` in a temporary directory: `datasoc detect` caches compiled rules there, and
    nothing a test runs writes into the user's home directory."""
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
