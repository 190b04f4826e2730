"""What one run of the stream job needs: directories, parallelism, time bounds, execution mode."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from detection.errors import DetectionError

ExecutionMode = Literal["thread", "process"]


class StreamConfigError(DetectionError, ValueError):
    """A stream job setting is invalid; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class StreamConfig:
    """Settings of the detection job (one definition for the MiniCluster and a cluster).

    Directories: `input_dir` (pointer files exported from the spool; the batches they name are in
    `batches_dir`, by default `<input_dir>-batches`), `rules_dir` (rule-change files), `grants_dir`
    (grant-change files, read when `trace_grants`: the job then traces every access against its grant),
    `alerts_dir` and `health_dir` (exactly-once file sinks), `checkpoint_dir`, `tls_dir` (the embedded
    cluster's REST key store, made at each start).
    Time: `allowed_lateness_ms` is the correlations' allowed lateness (the one setting both engines
    use, `detection.allowed_lateness_seconds`) and bounds the watermark delay; `idleness_ms` (0: off)
    marks a parse subtask without input idle; see `job.watermark_strategy`.
    `parallelism` is the number of lanes of the rule operator (`detection.loop.Lane`).
    `restore_from` is a retained checkpoint (`.../chk-N`) to resume from; `jobmanager` a cluster address
    (`host:port`) or None for the embedded MiniCluster, whose every port binds to `bind_address`.
    """

    input_dir: str
    rules_dir: str
    alerts_dir: str
    health_dir: str
    checkpoint_dir: str
    batches_dir: str = ""
    tls_dir: str = ""
    grants_dir: str = ""
    #: Trace data accesses against grants (`detection.trace`); grant changes come from `grants_dir`.
    trace_grants: bool = False
    parallelism: int = 1
    checkpoint_interval_ms: int = 500
    allowed_lateness_ms: int = 60_000
    idleness_ms: int = 0
    monitor_interval_ms: int = 200
    execution_mode: ExecutionMode = "thread"
    pipeline: str = "default"
    #: Correlation state is kept by bucket (CRC-32 of rule and group): fixed for a job's whole life.
    correlation_buckets: int = 16
    health_interval_ms: int = 2_000
    #: Restarts Flink tries (1 s apart) before the job is FAILED and waits for `StreamRunner.restart`.
    restart_attempts: int = 10
    restore_from: str | None = None
    jobmanager: str | None = None
    bind_address: str = "127.0.0.1"
    #: Process mode on the embedded MiniCluster anyway: Beam's gRPC servers for the Python workers
    #: then listen on every interface (measured; no setting binds them). For tests and benchmarks.
    unsafe_process_mode_ports: bool = False

    def __post_init__(self) -> None:
        for name in (
            "parallelism",
            "checkpoint_interval_ms",
            "monitor_interval_ms",
            "correlation_buckets",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StreamConfigError(f"stream.{name}={value!r} is invalid: must be a positive integer")
        for name in ("allowed_lateness_ms", "idleness_ms", "health_interval_ms", "restart_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StreamConfigError(f"stream.{name}={value!r} is invalid: must be an integer >= 0")
        for name, suffix in (("batches_dir", "-batches"), ("tls_dir", "-tls"), ("grants_dir", "-grants")):
            if not getattr(self, name):  # next to the input directory (where the exporter puts batches)
                beside = Path(self.input_dir).with_name(Path(self.input_dir).name + suffix)
                object.__setattr__(self, name, str(beside))
        try:
            ipaddress.ip_address(self.bind_address)
        except ValueError:
            raise StreamConfigError(
                f"stream.bind_address={self.bind_address!r} is invalid: must be an IP address"
            ) from None
        if self.execution_mode not in ("thread", "process"):
            raise StreamConfigError(
                f"stream.execution_mode={self.execution_mode!r} is invalid: allowed thread, process"
            )
        if (
            self.execution_mode == "process"
            and self.jobmanager is None
            and not self.unsafe_process_mode_ports
        ):
            raise StreamConfigError(
                "stream.execution_mode='process' is refused on the embedded MiniCluster: the gRPC "
                "servers of its Python workers listen on every interface; use thread mode, or a cluster"
            )

    @classmethod
    def under(cls, root: Path, **overrides: Any) -> StreamConfig:
        """Directories laid out under one root (the platform's `data_dir/stream`)."""
        dirs = {
            "input_dir": str(root / "input"),
            "rules_dir": str(root / "rules"),
            "alerts_dir": str(root / "alerts"),
            "health_dir": str(root / "health"),
            "checkpoint_dir": str(root / "checkpoints"),
            "batches_dir": str(root / "input-batches"),
            "tls_dir": str(root / "tls"),
            "grants_dir": str(root / "grants"),
        }
        return cls(**{**dirs, **overrides})

    def make_dirs(self) -> None:
        """Create every directory (owner-only: events carry personal data)."""
        for name in (
            "input_dir",
            "rules_dir",
            "alerts_dir",
            "health_dir",
            "checkpoint_dir",
            "batches_dir",
            "tls_dir",
            "grants_dir",
        ):
            Path(getattr(self, name)).mkdir(mode=0o700, parents=True, exist_ok=True)

    def to_json(self) -> str:
        """JSON form, passed to a job process or a cluster submission."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StreamConfig:
        """Inverse of `to_json`; unknown keys are refused."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise StreamConfigError("stream config must be a JSON object")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if "out_of_orderness_ms" in unknown:
            raise StreamConfigError(
                "stream config: out_of_orderness_ms was replaced by allowed_lateness_ms "
                "(one lateness for the correlations of both engines)"
            )
        if unknown:
            raise StreamConfigError(f"stream config: unknown keys {unknown}; allowed: {sorted(allowed)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise StreamConfigError(f"stream config: {exc}") from None
