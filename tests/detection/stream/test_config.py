"""Job settings and the watermark strategy (pitfall 1 regression without a cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detection.stream.config import StreamConfig, StreamConfigError
from detection.stream.functions import EventTimeAssigner
from detection.stream.job import flink_configuration, watermark_strategy


def test_config_round_trips_and_refuses_bad_values(tmp_path: Path) -> None:
    config = StreamConfig.under(tmp_path, parallelism=2, execution_mode="process")
    assert StreamConfig.from_json(config.to_json()) == config
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
