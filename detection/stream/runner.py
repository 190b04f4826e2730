"""Running the job next to the spool: start (resuming from the last checkpoint), tick, stop.

`StreamRunner` is what the platform process calls: it owns the exporter, the committer and the
rule-directory sync, starts the job (in this process's MiniCluster, or submitted to a cluster with
`flink run`), and on every `tick` syncs rules, exports one file of events and commits alerts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from datasoc.transport import Transport
from detection.loader import rule_files
from detection.stream.bridge import AlertCommitter, CommitReport, EventExporter, RuleChangeWriter
from detection.stream.config import StreamConfig
from detection.stream.rules import RuleChange

_CHECKPOINT = re.compile(r"chk-(\d+)")


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest completed (has `_metadata`) retained checkpoint under `checkpoint_dir`, if any."""
    found = [
        (int(m.group(1)), meta.stat().st_mtime, meta.parent)
        for meta in checkpoint_dir.glob("*/chk-*/_metadata")
        if (m := _CHECKPOINT.fullmatch(meta.parent.name))
    ]
    # Several job ids (one per run): the newest file wins, then the highest number.
    return max(found, key=lambda f: (f[1], f[0]))[2] if found else None


class RuleDirectorySync:
    """Feeds the broadcast stream from rule directories: new or changed files are put, removed ones
    disabled. What was sent is kept in a manifest (key -> SHA-256), so a restart sends only the diff."""

    def __init__(self, roots: Sequence[Path], writer: RuleChangeWriter, manifest: Path) -> None:
        self._roots = tuple(roots)
        self.writer = writer
        self._manifest = manifest
        self._sent: dict[str, str] = json.loads(manifest.read_text()) if manifest.exists() else {}

    def _current(self) -> dict[str, str]:
        texts: dict[str, str] = {}
        for root in self._roots:
            for file in rule_files([root]):
                key = str(file.relative_to(root)) if root.is_dir() else file.name
                texts[key] = file.read_text(encoding="utf-8")
        return texts

    def sync(self) -> RuleChange | None:
        """Write one change with every difference; None when nothing changed."""
        texts = self._current()
        digests = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in texts.items()}
        put = {k: texts[k] for k, d in digests.items() if self._sent.get(k) != d}
        disable = sorted(set(self._sent) - set(texts))
        if not put and not disable:
            return None
        change = self.writer.write(put=put, disable=disable)
        self._sent = digests
        tmp = self._manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._sent, sort_keys=True))
        os.replace(tmp, self._manifest)
        return change


class StreamRunner:
    """The platform side of one job (see module docstring)."""

    def __init__(self, transport: Transport, config: StreamConfig, rule_roots: Sequence[Path] = ()) -> None:
        config.make_dirs()
        self.config = config
        self.exporter = EventExporter(transport, Path(config.input_dir))
        self.committer = AlertCommitter(transport, Path(config.alerts_dir))
        root = Path(config.rules_dir)
        self.rules = RuleDirectorySync(
            rule_roots, RuleChangeWriter(root), root.parent / "rules-manifest.json"
        )
        self._client: Any = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, resume: bool = True) -> StreamConfig:
        """Sync rules, export what is pending, start the job; returns the config it started with."""
        config = self.config
        if resume and config.restore_from is None:
            found = latest_checkpoint(Path(config.checkpoint_dir))
            config = replace(config, restore_from=str(found) if found else None)
        self.rules.sync()
        self.exporter.export()
        if config.jobmanager:
            self._process = submit_to_cluster(config)
        else:
            from detection.stream.job import start

            self._client = start(config)
        return config

    def tick(self, *, now: datetime, max_records: int = 10_000) -> CommitReport:
        """One round: rule changes, one file of new events, committed alerts into the topic."""
        self.rules.sync()
        self.exporter.export(max_records)
        return self.committer.commit_pending(now=now)

    def stop(self) -> None:
        """Cancel the embedded job (checkpoints are retained) and commit what was committed."""
        if self._client is not None:
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
    home = flink_home()
    job_file = Path(__file__).resolve().with_name("job.py")
    command = [
        str(home / "bin" / "flink"),
        "run",
        "-d",
        "-m",
        config.jobmanager,
        "-py",
        str(job_file),
        "-pyclientexec",
        sys.executable,
        "-pyexec",
        sys.executable,
        config.to_json(),
    ]
    env = {**os.environ, "FLINK_HOME": str(home)}
    return subprocess.Popen(command, env=env)  # noqa: S603 - fixed argv: the wheel's flink script, our config
