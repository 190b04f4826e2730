"""The Kafka job's configuration and record split (the job itself runs on the cluster:
`tests/soc_api/stream/test_kafka_cluster.py`)."""

from __future__ import annotations

import pytest

from detection.stream.batch import BatchMarker
from detection.stream.kafka_job import AlertRecords, KafkaJobConfig, configuration


def test_config_round_trips_and_leaves_checkpoint_storage_to_the_cluster() -> None:
    config = KafkaJobConfig(bootstrap="127.0.0.1:9092", rules_file="/srv/rules.json", parallelism=2)
    assert KafkaJobConfig.from_json(config.to_json()) == config
    conf = configuration(config)
    assert conf.get_string("execution.checkpointing.dir", "unset") == "unset"  # no shared filesystem
    assert conf.get_string("execution.checkpointing.mode", "") == "EXACTLY_ONCE"
    assert config.stream_config().parallelism == 2
    with pytest.raises(ValueError, match="parallelism"):
        KafkaJobConfig(bootstrap="b:1", rules_file="r", parallelism=0)
    with pytest.raises(TypeError):
        KafkaJobConfig.from_json('{"bootstrap": "b:1", "rules_file": "r", "surprise": 1}')


def test_only_alert_lines_become_records() -> None:
    marker = BatchMarker(0, 3, True, 0, 0, 2).to_line()
    alert = '{"alert.id":"al-1","event_ids":["e"]}'
    assert list(AlertRecords().flat_map(f"{alert}\n{marker}")) == [alert]
    assert list(AlertRecords().flat_map(marker)) == []
