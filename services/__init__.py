"""Launchers of the real servers datasoc scales out to, assembled from Maven Central jars alone.

Used by the test fixtures (`tests/conftest.py`), by `make services` for local use and by CI.
`SPECS` lists each server with its exact version, the Java versions it runs on and the ports
`make services` gives it; `create` builds a launcher (see `services/README.md`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from services.base import Server, instance_dir, reap_orphans, services_dir
from services.elasticsearch import Elasticsearch
from services.errors import FetchError, ServiceError, StartError, ToolMissingError
from services.flink import Flink
from services.java import find_java, find_maven
from services.kafka import Kafka
from services.opensearch import OpenSearch


@dataclass(frozen=True, slots=True)
class Spec:
    """One server: its launcher class and the ports `make services` gives it."""

    server: type[Server]
    local_ports: Mapping[str, int]


SPECS: Final[dict[str, Spec]] = {
    "opensearch": Spec(OpenSearch, {"http": 9200, "transport": 9300}),
    "elasticsearch": Spec(Elasticsearch, {"http": 9201, "transport": 9301}),
    "kafka": Spec(Kafka, {"broker": 9092, "controller": 9093}),
    "flink": Spec(Flink, {"rest": 8081, "rpc": 6123, "blob": 6124}),
}
#: `SERVICES_<NAME>_VERSION` picks another version (e.g. OpenSearch 3.9.0); CI uses the defaults.
VERSION_ENV = "SERVICES_{}_VERSION"


def create(name: str, *, temporary: bool = True, ports: Mapping[str, int] | None = None) -> Server:
    """A launcher for server `name` (not started): a temporary instance on free ports by default,
    or with `temporary=False` the kept local instance on the `SPECS` ports.

    Raises `ToolMissingError` when no suitable Java or no Maven is installed.
    """
    spec = SPECS[name]
    find_maven()
    version = os.environ.get(VERSION_ENV.format(name.upper()), spec.server.VERSION)
    java = find_java(f"{name} {version}", spec.server.java_versions(version))
    chosen = ports if ports is not None else (None if temporary else spec.local_ports)
    return spec.server(
        version, java, instance_dir(name, temporary=temporary), ports=chosen, temporary=temporary
    )


__all__ = [
    "SPECS",
    "FetchError",
    "Server",
    "ServiceError",
    "Spec",
    "StartError",
    "ToolMissingError",
    "create",
    "reap_orphans",
    "services_dir",
]
