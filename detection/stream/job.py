"""The detection job: one definition for the embedded MiniCluster and a Flink cluster.

    pointer files -> FileSource(monitor) -> keyBy(one key) -> Sequence (chain order; each pointer
      once per lane) -> watermarks -> keyBy(lane) -> connect(broadcast rule and grant changes) -> RuleMatch
      (reads the batch file; the detection loop and the lane's correlations, in its keyed state)
      -> Route -> alerts FileSink (committed on checkpoint; a batch's alert lines and marker as one
         element) and health FileSink (with `Sequence`'s health side output)

Embedded: `start(config)` builds the job in this process (PyFlink starts the MiniCluster in its
gateway JVM) and returns the `JobClient`. Cluster: `python -m detection.stream.job CONFIG_JSON` is
what `flink run -py` executes on the client; the same `build` defines the job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Duration, Encoder, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.file_system import (
    BucketAssigner,
    FileSink,
    FileSource,
    OutputFileConfig,
    RollingPolicy,
    StreamFormat,
)

from detection.stream.config import StreamConfig
from detection.stream.functions import (
    HEALTH,
    MAX_PARALLELISM,
    RULES_STATE,
    EndOfTime,
    EventTimeAssigner,
    Route,
    RuleMatch,
    Sequence,
    lane_keys,
)
from detection.stream.tls import CIPHER_SUITES, rest_key_store

JOB_NAME = "datasoc-detection"
ALERT_PREFIX = "alerts"
HEALTH_PREFIX = "health"


def flink_configuration(config: StreamConfig) -> Configuration:
    """Checkpointing, restart and Python settings of the job (Flink 2.x configuration keys)."""
    conf = Configuration()
    conf.set_string("execution.checkpointing.interval", f"{config.checkpoint_interval_ms} ms")
    conf.set_string("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set_string("execution.checkpointing.dir", Path(config.checkpoint_dir).resolve().as_uri())
    # Retained on cancel and on a killed process, so a new run can resume from the last one.
    conf.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.set_string("execution.checkpointing.num-retained", "3")
    conf.set_string("state.backend.type", "hashmap")
    conf.set_string("restart-strategy.type", "fixed-delay")
    conf.set_string("restart-strategy.fixed-delay.attempts", str(config.restart_attempts))
    conf.set_string("restart-strategy.fixed-delay.delay", "1 s")
    conf.set_string("python.execution-mode", config.execution_mode)
    # Python workers (and thread mode's libpython lookup) must use this interpreter, not `python` on PATH.
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    # Pitfall 6: thread mode's embedded interpreter starts from the base Python, without the venv's
    # site-packages (pemja, pyflink, this project) unless they are named here.
    conf.set_string("python.pythonpath", os.pathsep.join(_python_path()))
    # Everything runs at parallelism 1 but the rule operator (`build`): PyFlink's `key_by` adds a
    # Python map at the default parallelism, which would scatter an ordered stream round-robin.
    conf.set_string("parallelism.default", "1")
    conf.set_string("pipeline.auto-watermark-interval", "100 ms")
    conf.set_string("pipeline.max-parallelism", str(MAX_PARALLELISM))
    if config.restore_from:
        conf.set_string("execution.state-recovery.path", config.restore_from)
    if config.jobmanager is None:
        _embedded_network(conf, config)
    return conf


def _embedded_network(conf: Configuration, config: StreamConfig) -> None:
    """Every port of the embedded MiniCluster on `bind_address`; its REST API only for a client that
    holds this start's key (mutual TLS): Flink has no setting that turns REST cancellation off
    (`web.cancel.enable` only hides the dashboard's button, measured), and the job itself never needs
    REST (PyFlink's job client talks to the MiniCluster in the JVM)."""
    address = config.bind_address
    for key in (
        "jobmanager.bind-host",
        "jobmanager.rpc.address",
        "taskmanager.bind-host",
        "taskmanager.host",
        "rest.bind-address",
        "rest.address",
    ):
        conf.set_string(key, address)
    conf.set_string("web.submit.enable", "false")
    conf.set_string("web.cancel.enable", "false")
    conf.set_string("web.rescale.enable", "false")
    store, password = rest_key_store(Path(config.tls_dir))
    conf.set_string("security.ssl.rest.enabled", "true")
    conf.set_string("security.ssl.rest.authentication-enabled", "true")
    for kind in ("keystore", "truststore"):  # one self-signed key: trusted is whoever holds it
        conf.set_string(f"security.ssl.rest.{kind}", str(store))
        conf.set_string(f"security.ssl.rest.{kind}-password", password)
    conf.set_string("security.ssl.rest.key-password", password)
    conf.set_string("security.ssl.algorithms", CIPHER_SUITES)


def _python_path() -> list[str]:
    """The standard library, the venv's site-packages and the directory holding the project's packages.

    The standard library is named too: thread mode's embedded interpreter otherwise finds it through
    `PATH`, and with a minimal `PATH` every Python operator fails on `import _struct` (measured).
    """
    import sysconfig

    import detection

    paths = sysconfig.get_paths()
    stdlib = [paths["stdlib"], str(Path(paths["platstdlib"]) / "lib-dynload")]
    roots = [str(Path(p)) for p in sys.path if p.endswith("site-packages")]
    return [*stdlib, *roots, str(Path(detection.__file__).resolve().parents[1])]


def watermark_strategy(config: StreamConfig) -> WatermarkStrategy:
    """Bounded out-of-orderness (the allowed lateness) on event time, optionally with idleness.

    Pitfall 1 of the PyFlink notes: `with_idleness` must come before `with_timestamp_assigner`, or
    the Python assigner is dropped and every timestamp is Long.MIN_VALUE (no timer ever fires).
    Idleness is off by default: an idle event input lets the rule side (stamped at the end of time)
    set the connected operator's watermark, which fires every timer at once (measured).
    """
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(config.allowed_lateness_ms))
    if config.idleness_ms > 0:
        strategy = strategy.with_idleness(Duration.of_millis(config.idleness_ms))
    return strategy.with_timestamp_assigner(EventTimeAssigner())


def _file_source(directory: str, interval_ms: int) -> FileSource:
    return (
        FileSource.for_record_stream_format(
            StreamFormat.text_line_format(), Path(directory).resolve().as_uri()
        )
        .monitor_continuously(Duration.of_millis(interval_ms))
        .build()
    )


def _file_sink(directory: str, prefix: str) -> FileSink:
    # Part files become visible (renamed from hidden in-progress files) only when a checkpoint
    # completes: the exactly-once hand-over to the platform's committer.
    return (
        FileSink.for_row_format(Path(directory).resolve().as_uri(), Encoder.simple_string_encoder())
        .with_bucket_assigner(BucketAssigner.base_path_bucket_assigner())
        .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy())
        .with_output_file_config(
            OutputFileConfig.builder().with_part_prefix(prefix).with_part_suffix(".jsonl").build()
        )
        .build()
    )


def build(env: StreamExecutionEnvironment, config: StreamConfig) -> None:
    """Define the job on `env` (sources, operators, sinks)."""
    no_marks = WatermarkStrategy.no_watermarks()
    # One reader (cheap, in the JVM). Each line points at a batch of events (`detection.stream.batch`):
    # the Python boundary is crossed per batch, not per event (measured: per event it cost more than
    # the rules).
    lines = env.from_source(
        _file_source(config.input_dir, config.monitor_interval_ms), no_marks, "events"
    ).set_parallelism(1)
    # Files found in one directory scan are read in no fixed order: Sequence puts batches back in chain
    # order before event time is assigned, so a later file never makes an earlier one late.
    keys = lane_keys(config.parallelism)
    ordered = (
        lines.key_by(lambda line: 0, key_type=Types.INT())
        .process(Sequence(keys), output_type=Types.TUPLE([Types.INT(), Types.STRING()]))
        .name("sequence")
        .set_parallelism(1)
    )
    # Pitfall 2: a timestamp assigner given to from_source is ignored; assign after the source.
    timed = ordered.assign_timestamps_and_watermarks(watermark_strategy(config)).set_parallelism(1)
    rule_lines = env.from_source(
        _file_source(config.rules_dir, config.monitor_interval_ms), no_marks, "rules"
    )
    if config.trace_grants:
        # Grant changes share the broadcast side with the rule changes (`detection.stream.grants`).
        grant_lines = env.from_source(
            _file_source(config.grants_dir, config.monitor_interval_ms), no_marks, "grants"
        ).set_parallelism(1)
        rule_lines = rule_lines.union(grant_lines)
    # The rule side carries no event time. A connected operator's watermark is the minimum of its
    # inputs, so a rule side without watermarks holds every event-time timer downstream at
    # Long.MIN_VALUE forever. Rule records are stamped "end of time" instead.
    rule_lines = rule_lines.map(
        lambda line: line, output_type=Types.STRING()
    ).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(EndOfTime())
    )
    rules = rule_lines.set_parallelism(1).broadcast(RULES_STATE)
    # One lane per subtask (`lane_keys`): every lane sees every batch in chain order; it raises the
    # single-event alerts of its share of the events and runs the correlations of its buckets.
    alerts = (
        timed.key_by(lambda pair: pair[0], key_type=Types.INT())
        .connect(rules)
        .process(
            RuleMatch(
                config.pipeline,
                config.health_interval_ms,
                config.batches_dir,
                config.allowed_lateness_ms,
                config.correlation_buckets,
                keys,
                config.trace_grants,
            ),
            output_type=Types.PICKLED_BYTE_ARRAY(),
        )
        .name("sigma")
        .set_parallelism(config.parallelism)
        .process(Route(), output_type=Types.STRING())
        .name("route")
        .set_parallelism(config.parallelism)
    )
    alerts.sink_to(_file_sink(config.alerts_dir, ALERT_PREFIX)).name("alerts")
    health = alerts.get_side_output(HEALTH).union(ordered.get_side_output(HEALTH))
    health.sink_to(_file_sink(config.health_dir, HEALTH_PREFIX)).name("health")


def _interpreter_first_on_path() -> None:
    """Put this interpreter's own directory first on PATH, before the gateway JVM starts (it inherits
    this process's environment).

    Thread mode's embedded interpreter (pemja) finds its standard library through the `python` on
    PATH, whatever `python.executable` says: under a PATH whose first `python3` is another build (the
    system's, as under systemd's default PATH) every Python operator fails with "No module named
    '_struct'" and the job restarts for ever while ingest goes on (measured)."""
    base = str(Path(os.path.realpath(sys.executable)).parent)
    rest = [part for part in os.environ.get("PATH", "").split(os.pathsep) if part and part != base]
    os.environ["PATH"] = os.pathsep.join([base, *rest])


def environment(config: StreamConfig) -> StreamExecutionEnvironment:
    """An execution environment configured for `config` (MiniCluster when run in-process)."""
    # PyFlink starts a "loopback" Python worker pool for a local job, a gRPC server on every interface
    # (`[::]:0`) that starts workers with the environment a caller sends (measured). Thread mode
    # never uses it, and process mode then starts its workers as processes of its own.
    os.environ["_python_worker_execution_mode"] = "process"  # noqa: SIM112 - PyFlink's own name
    _interpreter_first_on_path()
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(config))
    env.set_parallelism(1)
    return env


def start(config: StreamConfig) -> Any:
    """Build and submit the job without waiting; returns PyFlink's `JobClient`."""
    config.make_dirs()
    env = environment(config)
    build(env, config)
    return env.execute_async(JOB_NAME)


def main(argv: list[str]) -> int:
    """Entry point for `flink run -py` and for a job process: argv[1] is the config JSON."""
    if len(argv) != 2:
        print("usage: python -m detection.stream.job CONFIG_JSON", file=sys.stderr)
        return 2
    config = StreamConfig.from_json(argv[1])
    config.make_dirs()
    env = environment(config)
    build(env, config)
    env.execute(JOB_NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
