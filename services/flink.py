"""A standalone Flink cluster (one JobManager, two TaskManagers) from the `apache-flink` wheel's files.

The wheel carries Flink's scripts (`pyflink/bin`) and its `lib/` (flink-dist, table planner and
runtime, file and JSON formats) but no Kafka connector. The home assembled here is a `lib/` of
links to the wheel's jars plus `flink-sql-connector-kafka` from Maven Central (one shaded jar, the
`-2.2` build: there is no `-2.3` and it works with 2.3, per the notes), so every TaskManager
has the connector itself and a job needs no jar shipped from a filesystem it shares with the
client. The wheel's own scripts run the three JVMs in the foreground (`FLINK_LIB_DIR` points them
at this `lib/`), under one shell that is the process group's leader: it stops the others when one
of them exits or when it is signalled, so the group lives and dies as one server.

Every listener binds 127.0.0.1 (RPC, blob server, REST, the TaskManagers' data ports); the REST
port is the `address` that `flink run -m` and `detection.jobmanager` take.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import yaml

from services.base import Server, listing
from services.errors import FetchError
from services.maven import Coordinate, copy_artifacts

KAFKA_CONNECTOR = Coordinate("org.apache.flink", "flink-sql-connector-kafka", "5.0.0-2.2")
TASK_MANAGERS = 2
SLOTS_PER_TASK_MANAGER = 2


def wheel_home() -> Path:
    """The installed `apache-flink` wheel's Flink home (`pyflink/`, with `bin/` and `lib/`)."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def wheel_version() -> str:
    """The version of the installed `apache-flink` wheel."""
    from importlib.metadata import version

    return version("apache-flink")


class Flink(Server):
    """JobManager and two TaskManagers on 127.0.0.1; `address` is the REST `host:port`."""

    name: ClassVar[str] = "flink"
    VERSION: ClassVar[str] = "2.3.0"
    #: Process sizes (Flink's own memory model, not a heap): the TaskManagers run the job's Python
    #: operators in thread mode inside their JVMs.
    #: The TaskManagers run the project's Python (`-pyexec`: the client's own interpreter, so both
    #: sides run the same code); here and in CI it lives under /root (pyenv), which `nobody` cannot
    #: enter (measured: "Cannot run program .../python: Permission denied"). So the cluster runs as
    #: the user who starts it; its listeners are on 127.0.0.1 all the same.
    DROP_ROOT: ClassVar[bool] = False
    JOBMANAGER_MB: ClassVar[int] = 768
    TASKMANAGER_MB: ClassVar[int] = 1280

    @classmethod
    def java_versions(cls, version: str) -> range:
        return range(17, 22)

    @classmethod
    def port_names(cls) -> tuple[str, ...]:
        return ("rest", "rpc", "blob")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports['rest']}"

    @property
    def lib(self) -> Path:
        """The cluster's `lib/` (what `FLINK_LIB_DIR` names for the client too)."""
        return self.home / "lib"

    def _recipe(self) -> str:
        # The links point into this interpreter's wheel: another venv gets a home of its own.
        return f"apache-flink {self.version} at {wheel_home()} + {KAFKA_CONNECTOR}"

    def _assemble(self, home: Path, work: Path) -> None:
        installed = wheel_version()
        if installed != self.version:
            raise FetchError(self.name, "checking the wheel", f"apache-flink {installed} is installed")
        lib = home / "lib"
        lib.mkdir()
        for jar in listing(wheel_home() / "lib"):
            (lib / jar.name).symlink_to(jar)
        copy_artifacts(self.name, [KAFKA_CONNECTOR], lib, work)

    def _configure(self) -> None:
        tmp = str(self.tmp)
        config: dict[str, Any] = {
            "jobmanager": {
                "rpc": {"address": "127.0.0.1", "port": self.ports["rpc"]},
                "bind-host": "127.0.0.1",
                "memory": {"process": {"size": f"{self.JOBMANAGER_MB}m"}},
            },
            "taskmanager": {
                "host": "127.0.0.1",
                "bind-host": "127.0.0.1",
                "numberOfTaskSlots": SLOTS_PER_TASK_MANAGER,
                "memory": {"process": {"size": f"{self.TASKMANAGER_MB}m"}},
            },
            "rest": {"address": "127.0.0.1", "bind-address": "127.0.0.1", "port": self.ports["rest"]},
            "blob": {"server": {"port": str(self.ports["blob"])}},
            "io": {"tmp": {"dirs": tmp}},
            "parallelism": {"default": 1},
            # The cluster's own checkpoints (a job with Kafka in and out needs no other storage);
            # one machine here, a shared store (S3, HDFS) across hosts in production.
            "execution": {"checkpointing": {"dir": (self.data / "checkpoints").as_uri()}},
            # Nothing is submitted through the dashboard; `flink run` uses the REST job API.
            "web": {"submit": {"enable": False}, "cancel": {"enable": True}},
        }
        wheel_conf = wheel_home() / "conf"
        # The wheel's own configuration underneath: its `env.java.opts.all` opens the JDK modules
        # Flink reflects into (without them `flink run` fails in the client, measured).
        base = yaml.safe_load((wheel_conf / "config.yaml").read_text(encoding="utf-8")) or {}
        opens = str(base.get("env", {}).get("java", {}).get("opts", {}).get("all", ""))
        config["env"] = {"java": {"opts": {"all": f"{opens} -Djava.io.tmpdir={tmp} -Dfile.encoding=UTF-8"}}}
        merged = _merge(base, config)
        (self.config / "config.yaml").write_text(yaml.safe_dump(merged, sort_keys=True), encoding="utf-8")
        for name in ("log4j-console.properties", "logback-console.xml"):
            (self.config / name).write_bytes((wheel_conf / name).read_bytes())
        (self.config / "cluster.sh").write_text(
            _CLUSTER_SH.format(task_managers=TASK_MANAGERS), encoding="utf-8"
        )

    def _argv(self) -> list[str]:
        return ["/bin/bash", str(self.config / "cluster.sh")]

    def _environment(self) -> dict[str, str]:
        return {
            **super()._environment(),
            "JAVA_HOME": str(self.java.home),
            "FLINK_HOME": str(wheel_home()),
            "FLINK_LIB_DIR": str(self.lib),
            "FLINK_CONF_DIR": str(self.config),
            "FLINK_LOG_DIR": str(self.logs),
            "FLINK_PID_DIR": str(self.tmp),
        }

    def client_environment(self) -> dict[str, str]:
        """What `flink run` against this cluster needs: the same `lib/` and configuration."""
        return {
            "FLINK_HOME": str(wheel_home()),
            "FLINK_LIB_DIR": str(self.lib),
            "FLINK_CONF_DIR": str(self.config),
            "JAVA_HOME": str(self.java.home),
        }

    def task_managers(self) -> list[dict[str, object]]:
        """The registered TaskManagers as the REST API lists them ([] while starting)."""
        url = f"http://{self.address}/taskmanagers"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                found = json.loads(response.read())
        except (OSError, urllib.error.URLError, ValueError):
            return []
        managers = found.get("taskmanagers") if isinstance(found, dict) else None
        return list(managers) if isinstance(managers, list) else []

    def _probe(self) -> bool:
        # A TaskManager is listed before its slots are reported (seen: slotsNumber 0 at first).
        managers = self.task_managers()
        return len(managers) >= TASK_MANAGERS and all(
            m.get("slotsNumber") == SLOTS_PER_TASK_MANAGER for m in managers
        )


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# The process group's leader. `wait -n` returns when any member exits: then the rest are stopped,
# so a cluster missing a member never looks alive. SIGTERM (`stop()`) is passed to every member.
_CLUSTER_SH = """#!/bin/bash
stop_all() {{ trap - TERM INT; kill -TERM $(jobs -p) 2>/dev/null; wait; exit "$1"; }}
trap 'stop_all 143' TERM INT
"$FLINK_HOME/bin/jobmanager.sh" start-foreground &
for _ in $(seq {task_managers}); do "$FLINK_HOME/bin/taskmanager.sh" start-foreground & done
wait -n
echo "a member of the cluster exited; stopping the others" >&2
stop_all 1
"""
