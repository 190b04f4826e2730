"""The detection job with Kafka in and out, for a Flink cluster that shares no filesystem with the
platform.

    KafkaSource(<prefix>events, read_committed) -> keyBy(one key) -> Batch (records into inline
      batches, positions counted in keyed state) -> watermarks -> keyBy(lane) -> connect(broadcast
      rule change) -> RuleMatch -> Route -> alert lines -> KafkaSink(<prefix>alerts, EXACTLY_ONCE)

The operators between are the file job's (`detection.stream.job`): `RuleMatch` reads an inline
batch (`batch.inline_pointer`) as it reads a batch file. What differs:

- Input: the events topic the collectors produce to; the source's offsets are in each checkpoint
  (and committed to the group `<group>` on checkpoints, for monitoring and a start without state).
  One partition, one reader: the order of the topic is the order of detection.
- Output: each alert is one record of the alerts topic, in the alert's wire form (what
  `soc_api.detector.decode_alert` reads), written in Kafka transactions committed on checkpoints
  (exactly once; the platform reads `read_committed`). Batch markers are not written (the
  platform's committer needs them only for the file hand-over); health lines go to the
  TaskManagers' log (prefixed `datasoc-health`), and the job's metrics count them.
- Rules: one rule change, read by the submitting client from `rules_file` and carried in the job
  graph; a rule update is a new submission (resumed from a savepoint). No shared directory.
- Checkpoints go where the cluster's own configuration says (`execution.checkpointing.dir`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from pyflink.common import Configuration, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import RuntimeContext, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)
from pyflink.datastream.functions import FlatMapFunction, KeyedProcessFunction
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from detection.stream.batch import MARKER_KEY, inline_pointer
from detection.stream.config import StreamConfig
from detection.stream.functions import (
    HEALTH,
    MAX_PARALLELISM,
    RULES_STATE,
    EndOfTime,
    Route,
    RuleMatch,
    lane_keys,
)
from detection.stream.job import flink_configuration, watermark_strategy

JOB_NAME = "datasoc-detection-kafka"


@dataclass(frozen=True)
class KafkaJobConfig:
    """What the Kafka job needs; `to_json`/`from_json` carry it to `flink run` as one argument."""

    bootstrap: str
    rules_file: str
    topic_prefix: str = "datasoc."
    group: str = "datasoc.flink"
    transactional_id_prefix: str = "datasoc-detection"
    parallelism: int = 2
    checkpoint_interval_ms: int = 2_000
    allowed_lateness_ms: int = 60_000
    pipeline: str = "default"
    correlation_buckets: int = 16
    execution_mode: str = "thread"
    #: Records per inline batch, and how long a partial batch waits for more.
    batch_records: int = 256
    linger_ms: int = 200
    #: Below the broker's `transaction.max.timeout.ms` (15 minutes by default).
    transaction_timeout_ms: int = 300_000

    def __post_init__(self) -> None:
        if not 1 <= self.parallelism <= MAX_PARALLELISM:
            raise ValueError(f"parallelism must be 1 to {MAX_PARALLELISM}, got {self.parallelism}")
        if self.batch_records < 1 or self.linger_ms < 1 or self.checkpoint_interval_ms < 50:
            raise ValueError("batch_records and linger_ms must be positive, checkpoints >= 50 ms")

    def to_json(self) -> str:
        """One JSON object (the argument of `python -m detection.stream.kafka_job`)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> KafkaJobConfig:
        """Parse `to_json`'s output; unknown keys are refused."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("kafka job config must be a JSON object")
        return cls(**data)

    def stream_config(self) -> StreamConfig:
        """The file job's settings the shared operators and configuration read (no directories)."""
        unused = "/nonexistent/datasoc-kafka-job"  # the Kafka job has no directories
        return StreamConfig(
            input_dir=f"{unused}/input",
            rules_dir=f"{unused}/rules",
            alerts_dir=f"{unused}/alerts",
            health_dir=f"{unused}/health",
            checkpoint_dir=f"{unused}/checkpoints",
            parallelism=self.parallelism,
            checkpoint_interval_ms=self.checkpoint_interval_ms,
            allowed_lateness_ms=self.allowed_lateness_ms,
            execution_mode="process" if self.execution_mode == "process" else "thread",
            pipeline=self.pipeline,
            correlation_buckets=self.correlation_buckets,
            jobmanager="cluster",
        )


class Batch(KeyedProcessFunction):  # type: ignore[misc]
    """Records into inline batches of up to `records`, a partial one released after `linger_ms`;
    each batch once per lane as `(lane key, pointer)`. Position and pending records are keyed
    state (one key), so they are in every checkpoint with the source's offsets."""

    def __init__(self, keys: tuple[int, ...], records: int, linger_ms: int) -> None:
        self._keys = keys
        self._records = records
        self._linger_ms = linger_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self._position = runtime_context.get_state(ValueStateDescriptor("position", Types.LONG()))
        self._pending = runtime_context.get_list_state(ListStateDescriptor("pending", Types.STRING()))
        self._count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        self._pending.add(value)
        count = (self._count.value() or 0) + 1
        self._count.update(count)
        if count >= self._records:
            yield from self._release()
        elif count == 1:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self._linger_ms)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        yield from self._release()

    def _release(self) -> Iterator[Any]:
        texts = list(self._pending.get() or ())
        if not texts:
            return
        first = self._position.value() or 0
        line = inline_pointer(first, texts, genesis=first == 0)
        self._position.update(first + len(texts))
        self._pending.clear()
        self._count.update(0)
        for key in self._keys:
            yield key, line


class AlertRecords(FlatMapFunction):  # type: ignore[misc]
    """The alert lines of a `Route` output (one record each); batch markers stay in the job."""

    def flat_map(self, value: str) -> Iterator[str]:
        for line in value.split("\n"):
            if line and f'"{MARKER_KEY}"' not in line[:40]:
                yield line


class WallClock(TimestampAssigner):  # type: ignore[misc]
    """The time of writing, for the alert records (see `build`)."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return int(time.time() * 1000)


def configuration(config: KafkaJobConfig) -> Configuration:
    """The file job's checkpointing, restart and Python settings, minus its checkpoint directory."""
    conf = flink_configuration(config.stream_config())
    conf.remove_config("execution.checkpointing.dir")  # the cluster's own
    return conf


def build(env: StreamExecutionEnvironment, config: KafkaJobConfig, rule_change: str) -> None:
    """Define the job on `env`."""
    events_topic = f"{config.topic_prefix}events"
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(config.bootstrap)
        .set_topics(events_topic)
        .set_group_id(config.group)
        .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST))
        .set_value_only_deserializer(_strings())
        .set_property("isolation.level", "read_committed")
        .build()
    )
    keys = lane_keys(config.parallelism)
    records = env.from_source(source, WatermarkStrategy.no_watermarks(), "events").set_parallelism(1)
    batches = (
        records.key_by(lambda record: 0, key_type=Types.INT())
        .process(
            Batch(keys, config.batch_records, config.linger_ms),
            output_type=Types.TUPLE([Types.INT(), Types.STRING()]),
        )
        .name("batch")
        .set_parallelism(1)
    )
    stream = config.stream_config()
    timed = batches.assign_timestamps_and_watermarks(watermark_strategy(stream)).set_parallelism(1)
    rules = (
        env.from_collection([rule_change], type_info=Types.STRING())
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(EndOfTime())
        )
        .set_parallelism(1)
        .broadcast(RULES_STATE)
    )
    routed = (
        timed.key_by(lambda pair: pair[0], key_type=Types.INT())
        .connect(rules)
        .process(
            RuleMatch(
                config.pipeline,
                60_000,
                "",
                config.allowed_lateness_ms,
                config.correlation_buckets,
                keys,
            ),
            output_type=Types.PICKLED_BYTE_ARRAY(),
        )
        .name("sigma")
        .set_parallelism(config.parallelism)
        .process(Route(), output_type=Types.STRING())
        .name("route")
        .set_parallelism(config.parallelism)
    )
    # Health lines (rejected rules, bad events, late events, rule figures) go to the TaskManagers'
    # log. Consuming the side output is also what keeps PyFlink (2.3, thread mode) from sending the
    # tagged tuples to the main output (measured: "'tuple' object has no attribute 'split'").
    routed.get_side_output(HEALTH).print("datasoc-health").set_parallelism(1)
    # The sink stamps each record with its element's time, which is event time here: an event
    # from the future (a skewed clock) made the broker refuse the alert and fail the job
    # (`InvalidTimestampException`, measured). Alerts are stamped with the wall clock instead.
    alerts = (
        routed.flat_map(AlertRecords(), output_type=Types.STRING())
        .set_parallelism(config.parallelism)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.no_watermarks().with_timestamp_assigner(WallClock())
        )
        .set_parallelism(config.parallelism)
    )
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(config.bootstrap)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(f"{config.topic_prefix}alerts")
            .set_value_serialization_schema(_strings())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix(config.transactional_id_prefix)
        .set_property("transaction.timeout.ms", str(config.transaction_timeout_ms))
        .build()
    )
    alerts.sink_to(sink).name("alerts").set_parallelism(config.parallelism)


def _strings() -> Any:
    from pyflink.common.serialization import SimpleStringSchema

    return SimpleStringSchema()  # UTF-8


def main(argv: list[str]) -> int:
    """Entry point for `flink run -py`: argv[1] is the config JSON; the rule change is read here,
    on the client, and travels in the job graph."""
    if len(argv) != 2:
        print("usage: python -m detection.stream.kafka_job CONFIG_JSON", file=sys.stderr)
        return 2
    config = KafkaJobConfig.from_json(argv[1])
    with open(config.rules_file, encoding="utf-8") as handle:
        rule_change = handle.read().strip()
    env = StreamExecutionEnvironment.get_execution_environment(configuration(config))
    env.set_parallelism(1)
    build(env, config, rule_change)
    env.execute_async(JOB_NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
