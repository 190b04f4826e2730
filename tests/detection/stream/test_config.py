"""Job settings and the watermark strategy (pitfall 1 regression without a cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detection.stream.config import StreamConfig, StreamConfigError
from detection.stream.functions import MAX_PARALLELISM, EventTimeAssigner, lane_keys
from detection.stream.job import flink_configuration, watermark_strategy


def test_config_round_trips_and_refuses_bad_values(tmp_path: Path) -> None:
    config = StreamConfig.under(tmp_path, parallelism=2, execution_mode="process", jobmanager="jm:8081")
    assert StreamConfig.from_json(config.to_json()) == config
    # Embedded, process mode's worker servers listen on every interface: refused unless asked for.
    with pytest.raises(StreamConfigError, match="listen on every interface"):
        StreamConfig.under(tmp_path, execution_mode="process")
    assert StreamConfig.under(tmp_path, execution_mode="process", unsafe_process_mode_ports=True)
    with pytest.raises(StreamConfigError, match="parallelism"):
        StreamConfig.under(tmp_path, parallelism=0)
    with pytest.raises(StreamConfigError, match="execution_mode"):
        StreamConfig.under(tmp_path, execution_mode="fast")  # type: ignore[arg-type]
    with pytest.raises(StreamConfigError, match="unknown keys"):
        StreamConfig.from_json('{"input_dir": "x", "speed": 1}')


@pytest.mark.parametrize("idleness_ms", [0, 500])
def test_watermark_strategy_keeps_the_timestamp_assigner(tmp_path: Path, idleness_ms: int) -> None:
    # Pitfall 1: `.with_timestamp_assigner(A).with_idleness(d)` returns a strategy without A.
    strategy = watermark_strategy(StreamConfig.under(tmp_path, idleness_ms=idleness_ms))
    assert isinstance(strategy._timestamp_assigner, EventTimeAssigner)


def test_flink_configuration_retains_checkpoints_and_restores(tmp_path: Path) -> None:
    config = StreamConfig.under(tmp_path, restore_from=str(tmp_path / "chk-7"))
    conf = flink_configuration(config).to_dict()
    assert conf["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    assert conf["execution.state-recovery.path"] == str(tmp_path / "chk-7")
    assert conf["python.execution-mode"] == "thread"


def test_the_old_lateness_key_is_refused_with_its_replacement(tmp_path: Path) -> None:
    data = {**json.loads(StreamConfig.under(tmp_path).to_json()), "out_of_orderness_ms": 5_000}
    del data["allowed_lateness_ms"]
    with pytest.raises(StreamConfigError, match="replaced by allowed_lateness_ms"):
        StreamConfig.from_json(json.dumps(data))
    with pytest.raises(StreamConfigError, match="bind_address"):
        StreamConfig.under(tmp_path, bind_address="localhost; rm")


def test_the_embedded_cluster_binds_its_address_and_serves_rest_to_its_key_only(
    tmp_path: Path,
) -> None:
    conf = flink_configuration(StreamConfig.under(tmp_path, bind_address="127.0.0.1")).to_dict()
    for key in ("jobmanager.bind-host", "taskmanager.bind-host", "rest.bind-address", "taskmanager.host"):
        assert conf[key] == "127.0.0.1"
    assert (conf["web.submit.enable"], conf["web.cancel.enable"]) == ("false", "false")
    assert conf["security.ssl.rest.authentication-enabled"] == "true"
    store = Path(conf["security.ssl.rest.keystore"])
    assert conf["security.ssl.rest.truststore"] == str(store)
    assert store.stat().st_mode & 0o077 == 0  # owner-only
    # A cluster job leaves the cluster's own network settings alone.
    remote = flink_configuration(StreamConfig.under(tmp_path, jobmanager="jm:8081")).to_dict()
    assert "rest.bind-address" not in remote
    assert "security.ssl.rest.enabled" not in remote


def test_each_lane_has_a_key_flink_sends_to_its_own_subtask() -> None:
    from pyflink.java_gateway import get_gateway

    assignment = get_gateway().jvm.org.apache.flink.runtime.state.KeyGroupRangeAssignment
    for lanes in (1, 2, 3, 4, 7):
        keys = lane_keys(lanes)
        assert [assignment.assignKeyToParallelOperator(k, MAX_PARALLELISM, lanes) for k in keys] == list(
            range(lanes)
        )
