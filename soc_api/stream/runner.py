"""Running the job next to the spool: start (resuming from the last checkpoint), tick, status, restart, stop.

`StreamRunner` is what the platform process calls: it owns the exporter, the committer and the
rule-directory sync, starts the job (in this process's MiniCluster, or submitted to a cluster with
`flink run`), and on every `tick` syncs rules, exports the pending events and commits alerts.

Supervision: `status()` says how the consumer is (`StreamStatus`: the job's state, progress, lag,
last error); when the embedded job has stopped (FAILED once its restart strategy gave up, CANCELED,
FINISHED), `restart(now=...)` starts it again from its last retained checkpoint. Nothing committed is
lost or doubled: the restored job's sources resume from the checkpoint, its exactly-once sink drops
what was not committed, and the committer skips alert ids already in the topic.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from datasoc.errors import DatasocError
from datasoc.transport import EVENTS, Transport
from datasoc.transport.offsets import write_durably
from detection.stream.batch import END_OF_TIME
from detection.stream.config import StreamConfig
from soc_api.stream.committer import AlertCommitter, CommitReport, HealthReader, Progress
from soc_api.stream.exporter import EventExporter
from soc_api.stream.grants import GrantSource, GrantSync
from soc_api.stream.rules import RuleChangeWriter, RuleDirectorySync

_CHECKPOINT = re.compile(r"chk-(\d+)")
#: Version of the job's state layout. A checkpoint of another layout cannot be restored into the job
#: (Flink refuses state it cannot map, or the correlations would start without theirs), so a start
#: over one begins without state. 3: one layout, correlations by bucket in each lane's keyed state.
#: 4: the grant trace (grant changes in broadcast state, cumulative records in each lane's keyed state).
STATE_LAYOUT = 4
_LAYOUT_FILE = "state-layout.json"
#: Flink job states after which the job does nothing more until it is started again.
STOPPED = frozenset({"FAILED", "CANCELED", "FINISHED"})


class StreamRunnerError(DatasocError):
    """The runner cannot do what was asked (the message says why and what to do)."""


def state_layout(config: StreamConfig) -> str:
    """The state layout a job of `config` has (the lanes own the correlation buckets)."""
    trace = "-trace" if config.trace_grants else ""
    return f"{STATE_LAYOUT}-lanes{config.parallelism}-buckets{config.correlation_buckets}{trace}"


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest completed (has `_metadata`) retained checkpoint under `checkpoint_dir`, if any."""
    found = [
        (int(m.group(1)), meta.stat().st_mtime, meta.parent)
        for meta in checkpoint_dir.glob("*/chk-*/_metadata")
        if (m := _CHECKPOINT.fullmatch(meta.parent.name))
    ]
    # Several job ids (one per run): the newest file wins, then the highest number.
    return max(found, key=lambda f: (f[1], f[0]))[2] if found else None


@dataclass
class JobHealth:
    """What the job has reported through its health output (kept by the platform process)."""

    counts: Counter[str] = field(default_factory=Counter)
    #: Outcome of every rule change, in order (version, accepted, disabled, rejected with errors).
    rule_changes: list[dict[str, Any]] = field(default_factory=list)
    #: Per lane, the last per-rule figures: rule -> [matches, evaluation ns, errors].
    rules: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    #: The most recent problem records (bad input, rule errors, late events), newest last.
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add(self, records: Sequence[Mapping[str, Any]], *, keep: int = 200) -> None:
        """Fold committed health records in (see `HealthReader`)."""
        for record in records:
            kind = str(record.get("kind", "unknown"))
            self.counts[kind] += 1
            if kind == "rule_change":
                self.rule_changes.append(dict(record))
            elif kind == "rule_health":
                self.rules[int(record.get("subtask", 0))] = dict(record.get("rules") or {})
            else:
                self.problems.append(dict(record))
        del self.problems[:-keep]


@dataclass(frozen=True)
class StreamStatus:
    """The detection consumer as a supervisor sees it.

    `state`: the Flink job's (RUNNING, RESTARTING, FAILED, CANCELED, FINISHED, ...), `NOT_STARTED`,
    or `SUBMITTED` for a cluster job (watched by its cluster). `progress`: spool offset before which
    every event is evaluated and its alerts committed (None before the first batch). `lag`: events in
    `events` from `progress` to its end. `last_error`: why the job stopped, when it failed.
    """

    state: str
    progress: int | None
    lag: int
    last_error: str | None
    restarts: int

    @property
    def stopped(self) -> bool:
        """Whether the job does nothing until `restart` (see `STOPPED`)."""
        return self.state in STOPPED


class StreamRunner:
    """The platform side of one job (see module docstring).

    `progress` is the spool offset on `events` before which every event has been evaluated by the job
    and every alert it raised is committed in `alerts` (a batch counts once every lane's marker of it
    is committed).
    """

    def __init__(
        self,
        transport: Transport,
        config: StreamConfig,
        rule_roots: Sequence[Path] = (),
        *,
        grants: GrantSource | None = None,
        idle_heartbeat: timedelta | None = timedelta(seconds=5),
        clean_grace: timedelta = timedelta(minutes=2),
    ) -> None:
        config.make_dirs()
        self.config = config
        self._transport = transport
        self._root = Path(config.input_dir).parent
        self._idle_heartbeat = idle_heartbeat
        self._clean_grace = clean_grace
        self._last_input: datetime | None = None
        if config.trace_grants and grants is None:
            raise StreamRunnerError("stream.trace_grants needs a grant source (the governance store)")
        self._grant_source = grants if config.trace_grants else None
        self._open_inputs(rule_roots)
        self.committer = self._committer()
        self.health_reader = HealthReader(Path(config.health_dir))
        self.health = JobHealth()
        self._client: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self.skipped_checkpoint: Path | None = None
        self.restarts = 0
        self._last_error: str | None = None

    def _open_inputs(self, rule_roots: Sequence[Path]) -> None:
        """The exporter and the rule sync over the job's input and rules directories as they are."""
        config = self.config
        self.exporter = EventExporter(
            self._transport, Path(config.input_dir), batches=Path(config.batches_dir)
        )
        writer = RuleChangeWriter(Path(config.rules_dir))
        self.rules = RuleDirectorySync(rule_roots, writer, self._root / "rules-manifest.json")
        self.grants = (
            GrantSync(self._grant_source, Path(config.grants_dir), self._root / "grants-manifest.json")
            if self._grant_source is not None
            else None
        )

    @property
    def grants_version(self) -> int | None:
        """The newest grant change written (stamped on exported batches), None without the trace."""
        return self.grants.version if self.grants is not None else None

    def _sync_grants(self) -> None:
        if self.grants is not None:
            self.grants.sync()

    def _committer(self) -> AlertCommitter:
        files = self.exporter.files()
        start = int(files[0].name.split("-")[1]) if files else None
        return AlertCommitter(
            self._transport,
            Path(self.config.alerts_dir),
            progress_file=self._root / "progress.json",
            start=start,
        )

    @property
    def progress(self) -> int | None:
        """See the class docstring (None until the job has committed its first batch)."""
        return self.committer.progress.position

    def start(self, *, resume: bool = True) -> StreamConfig:
        """Sync rules, export what is pending, start the job; returns the config it started with.

        Without a checkpoint to resume from, the job starts without state: the input directory, rule
        files and progress are reset and every retained event is exported again (alerts already in
        the topic are recognised by their ids and not appended twice).
        """
        config = self.config
        if resume and config.restore_from is None:
            found = self.checkpoint_to_resume()
            config = replace(config, restore_from=str(found) if found else None)
        if config.restore_from is None:
            self._reset()
        layout = {"layout": state_layout(config)}
        write_durably(self._root / _LAYOUT_FILE, json.dumps(layout).encode(), os.fsync)
        self.rules.sync()
        self._sync_grants()
        self.exporter.export(grants_version=self.grants_version)
        if config.jobmanager:
            self._process = submit_to_cluster(config)
        else:
            from detection.stream.job import start

            self._client = start(config)
        return config

    def checkpoint_to_resume(self) -> Path | None:
        """The newest retained checkpoint if its state layout is this job's; otherwise None, and
        `skipped_checkpoint` names the one passed over (the caller reports it: the job then starts
        without state and every retained event is evaluated again)."""
        found = latest_checkpoint(Path(self.config.checkpoint_dir))
        self.skipped_checkpoint = None
        if found is None:
            return None
        marker = self._root / _LAYOUT_FILE
        stored = json.loads(marker.read_text(encoding="utf-8")).get("layout") if marker.exists() else None
        if stored != state_layout(self.config):
            self.skipped_checkpoint = found
            return None
        return found

    def _reset(self) -> None:
        for directory in (
            Path(self.config.input_dir),
            Path(self.config.batches_dir),
            Path(self.config.rules_dir),
            Path(self.config.grants_dir),
        ):
            for path in directory.iterdir():
                path.unlink()
        for name in ("progress.json", "rules-manifest.json", "grants-manifest.json"):
            (self._root / name).unlink(missing_ok=True)
        self._open_inputs(self.rules.roots)
        # A new chain starts at the exporter's genesis; the alert ids already known stay known.
        self.committer.progress = Progress()

    def tick(self, *, now: datetime, file_records: int = 10_000, budget: int = 200_000) -> CommitReport:
        """One round: rule changes, new events in files of up to `file_records` (at most `budget` records
        a round, so a round stays short; a heartbeat when idle), committed alerts into the topic,
        committed health folded into `health`, evaluated input files removed.

        Everything pending is exported, not one file a round: at one round a second that capped the
        job at `file_records` events/s whatever its speed."""
        self.rules.sync()
        self._sync_grants()  # first: the batches exported below are judged with these grants
        exported = 0
        gv = self.grants_version
        while exported < budget and (
            n := self.exporter.export(min(file_records, budget - exported), grants_version=gv)
        ):
            exported += n
        if exported:
            self._last_input = now
        elif self._idle_heartbeat is not None and (
            self._last_input is None or now - self._last_input >= self._idle_heartbeat
        ):
            # An idle input still lets time pass: windows of "fewer than N" rules close on time.
            self.exporter.heartbeat(int(now.timestamp() * 1000))
            self._last_input = now
        report = self.committer.commit_pending(now=now)
        self.health.add(self.health_reader.read())
        if self.progress is not None:
            self.exporter.clean(self.progress, now=now, grace=self._clean_grace)
        return report

    @property
    def flushed(self) -> bool:
        """Whether a `flush` has gone through the job: its heartbeat's marker is committed, and with it
        every alert that closing the open windows raised (time travels in band, see `BatchMarker`)."""
        return self.committer.progress.time >= END_OF_TIME

    def flush(self) -> None:
        """End of input (demo, offline runs): event time jumps to the end, every open window closes.
        Events exported afterwards are late for correlation (their single-event alerts still fire)."""
        self.exporter.export_all(grants_version=self.grants_version)
        self.exporter.heartbeat(END_OF_TIME)

    def job_status(self) -> str | None:
        """The embedded job's Flink status (RUNNING, RESTARTING, FAILED, CANCELED, ...); None when not
        started here (a cluster job is watched by the cluster)."""
        if self._client is None:
            return None
        try:
            return str(self._client.get_job_status().result()).rsplit(".", 1)[-1]
        except Exception as exc:  # PyFlink's errors are plain exceptions
            # A job that ended takes its MiniCluster down: its result says how it ended.
            return self._ended(exc)

    def _ended(self, asking: Exception) -> str:
        result = self._client.get_job_execution_result()
        if not result.done():  # not ended: the status query itself failed
            self._last_error = (
                f"job status unavailable: {(str(asking).splitlines() or [repr(asking)])[0][:300]}"
            )
            return "UNKNOWN"
        try:
            result.result()
        except Exception as exc:
            text = str(exc)
            if "JobCancellationException" in text:
                return "CANCELED"
            causes = [line for line in text.splitlines() if line.startswith("Caused by:")]
            self._last_error = (causes[-1] if causes else text.splitlines()[0] if text else repr(exc))[:500]
            return "FAILED"
        return "FINISHED"

    def status(self) -> StreamStatus:
        """The consumer's state, progress, lag and last error (see `StreamStatus`)."""
        state = "SUBMITTED" if self._process is not None else self.job_status() or "NOT_STARTED"
        events = self._transport.range(EVENTS)
        progress = self.progress
        lag = events.end - (progress if progress is not None else events.start)
        return StreamStatus(state, progress, max(lag, 0), self._last_error, self.restarts)

    def restart(self, *, now: datetime) -> StreamConfig:
        """Start the embedded job again from its last retained checkpoint (cancelling it first if it is
        still running); what it committed stays committed once. Returns the config it started with."""
        if self.config.jobmanager:
            raise StreamRunnerError(
                "a cluster job is restarted by its cluster (its restart strategy); not by the runner"
            )
        self.stop()
        # Whatever the old job committed before it stopped goes into the topic first.
        self.committer.commit_pending(now=now)
        self.restarts += 1
        return self.start(resume=True)

    @property
    def job_client(self) -> Any:
        """PyFlink's `JobClient` of the embedded job (None when not started here)."""
        return self._client

    def stop(self) -> None:
        """Cancel the embedded job if it still runs (its checkpoints are retained)."""
        if self._client is not None and self.job_status() not in STOPPED:
            self._client.cancel().result()
        self._client = None


def flink_home() -> Path:
    """The Flink distribution inside the apache-flink wheel (`pyflink/`: bin, lib, conf, opt)."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def submit_to_cluster(config: StreamConfig) -> subprocess.Popen[bytes]:
    """`flink run -d -m <jobmanager> -py job.py CONFIG` with this interpreter on client and workers.

    The cluster's TaskManagers must see the same directories (one machine or a shared filesystem)
    and have this project importable by the interpreter given as `-pyexec`.
    """
    assert config.jobmanager, "submit_to_cluster needs config.jobmanager"
    from detection.stream import job

    home = flink_home()
    command = [
        str(home / "bin" / "flink"),
        "run",
        "-d",
        "-m",
        config.jobmanager,
        "-py",
        str(Path(job.__file__).resolve()),
        "-pyclientexec",
        sys.executable,
        "-pyexec",
        sys.executable,
        config.to_json(),
    ]
    env = {**os.environ, "FLINK_HOME": str(home)}
    return subprocess.Popen(command, env=env)  # noqa: S603 - fixed argv: the wheel's flink script, our config
