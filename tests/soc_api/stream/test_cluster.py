"""Cluster mode: the same job submitted to a standalone Flink cluster started from the wheel's own files.

Slow (cluster start-up about 30 s). Skipped with the reason when Java or the wheel's scripts are absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from datasoc.transport import Spool
from detection.stream.config import StreamConfig
from soc_api.stream.runner import StreamRunner, flink_home
from tests.detection.stream.conftest import NOW, RULES_DIR, Platform, make_event

CORE_DOWNLOAD = "5a0c1b9e-0d7e-4f43-9a11-000000000001"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.5)
    return False


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A one-TaskManager standalone cluster on free ports; yields its address and environment."""
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: the standalone cluster needs Java 17")
    home = flink_home()
    if not (home / "bin" / "start-cluster.sh").is_file():
        pytest.skip(f"{home}/bin/start-cluster.sh is absent from the apache-flink wheel")
    conf_dir = tmp_path / "flink-conf"
    shutil.copytree(home / "conf", conf_dir)
    config = yaml.safe_load((conf_dir / "config.yaml").read_text())
    rest = _free_port()
    config.setdefault("rest", {}).update({"port": rest, "bind-port": str(rest), "address": "localhost"})
    config["jobmanager"]["rpc"]["port"] = _free_port()
    config.setdefault("taskmanager", {}).setdefault("numberOfTaskSlots", 2)
    config["taskmanager"]["numberOfTaskSlots"] = 2
    (conf_dir / "config.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "FLINK_HOME": str(home),
        "FLINK_CONF_DIR": str(conf_dir),
        "FLINK_LOG_DIR": str(tmp_path / "flink-log"),
        "FLINK_PID_DIR": str(tmp_path / "flink-pid"),
    }
    # flink-daemon.sh writes its .out file into FLINK_LOG_DIR without creating it: a missing
    # directory makes start-cluster.sh "succeed" while no JobManager starts.
    for key in ("FLINK_LOG_DIR", "FLINK_PID_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    subprocess.run([str(home / "bin" / "start-cluster.sh")], env=env, check=True, timeout=120)
    if not _wait_port(rest, 90.0):
        subprocess.run([str(home / "bin" / "stop-cluster.sh")], env=env, check=False, timeout=120)
        pytest.skip(f"the standalone cluster's REST port {rest} did not open; logs in {env['FLINK_LOG_DIR']}")
    try:
        yield f"localhost:{rest}", env
    finally:
        subprocess.run([str(home / "bin" / "stop-cluster.sh")], env=env, check=False, timeout=120)


@pytest.mark.slow
def test_same_job_runs_on_a_standalone_cluster(
    cluster: tuple[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, env = cluster
    for key in ("FLINK_HOME", "FLINK_CONF_DIR", "FLINK_LOG_DIR"):
        monkeypatch.setenv(key, env[key])  # `flink run` (the client) reads the same configuration
    spool = Spool.open(tmp_path / "spool")
    config = StreamConfig.under(tmp_path / "job", jobmanager=address, checkpoint_interval_ms=500)
    runner = StreamRunner(spool, config, [RULES_DIR / "core_download.yml"])
    platform = Platform(
        root=tmp_path,
        spool=spool,
        config=config,
        exporter=runner.exporter,
        committer=runner.committer,
        rules=runner.rules.writer,
    )
    try:
        runner.start(resume=False)
        platform.feed(
            [make_event("cluster-1", NOW + timedelta(seconds=1), "dataset.download", classification="core")]
        )
        platform.wait_for(
            "the alert from the cluster job", lambda: bool(platform.alerts_of(CORE_DOWNLOAD)), 180
        )
        (alert,) = platform.alerts_of(CORE_DOWNLOAD)
        assert alert["event_ids"] == ["cluster-1"]
    finally:
        spool.close()
