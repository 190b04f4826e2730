"""Submitting the Kafka detection job (`detection.stream.kafka_job`) to a standalone Flink cluster,
and asking the cluster's REST API about it (state, cancel).

The client is the wheel's `flink run -d -py`, with this interpreter on the client and in the
TaskManagers (`-pyclientexec`, `-pyexec`): the project must be importable there (one machine, or
the same venv path on every TaskManager host). Nothing else is shared: the rule change travels in
the job graph, events and alerts through Kafka, checkpoints where the cluster's configuration
puts them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soc_api.errors import PlatformError

_JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")
#: `flink run` starts a JVM and a Python client and compiles the job: about 20 s when loaded.
SUBMIT_TIMEOUT_S = 300.0


class ClusterJobError(PlatformError):
    """The cluster refused the job, or did not answer about it (the message has the client's output)."""


def submit_kafka_job(
    config_json: str, jobmanager: str, environment: Mapping[str, str], *, restore_from: str | None = None
) -> str:
    """`flink run -d -m <jobmanager>` of the Kafka job with `config_json`; returns the job id.
    With `restore_from` (a retained checkpoint's path, as the cluster sees it) the job resumes from it
    (`-s`): its Kafka offsets, keyed state and pending transactions.

    `environment` names the Flink installation (`FLINK_HOME`, `FLINK_LIB_DIR` with the Kafka
    connector, `JAVA_HOME`; `services.flink.Flink.client_environment` gives them for the test cluster).
    """
    import pyflink

    from detection.stream import kafka_job

    flink = Path(environment.get("FLINK_HOME", Path(pyflink.__file__).resolve().parent)) / "bin" / "flink"
    command = [
        str(flink),
        "run",
        "-d",
        "-m",
        jobmanager,
        *(("-s", restore_from) if restore_from else ()),
        "-py",
        str(Path(kafka_job.__file__).resolve()),
        "-pyclientexec",
        sys.executable,
        "-pyexec",
        sys.executable,
        config_json,
    ]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv: the wheel's flink script, our config
            command,
            env={**os.environ, **environment},
            capture_output=True,
            text=True,
            timeout=SUBMIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterJobError(f"flink run did not finish in {SUBMIT_TIMEOUT_S:.0f} s") from None
    found = _JOB_ID.search(done.stdout + done.stderr)
    if done.returncode != 0 or found is None:
        # Java frames say little here; the Python client's traceback says what went wrong.
        lines = [line for line in (done.stdout + done.stderr).splitlines() if not line.startswith("\tat ")]
        tail = "\n".join(lines[-60:])
        raise ClusterJobError(f"flink run exited with {done.returncode}:\n{tail}")
    return found.group(1)


def _rest(jobmanager: str, path: str, *, method: str = "GET", missing_ok: bool = False) -> Any:
    request = urllib.request.Request(f"http://{jobmanager}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our cluster
            body = response.read()
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code == 404:
            return None
        raise ClusterJobError(f"flink REST {method} {path}: {exc}") from None
    except (OSError, urllib.error.URLError) as exc:
        raise ClusterJobError(f"flink REST {method} {path}: {exc}") from None
    return json.loads(body) if body else None


@dataclass(frozen=True)
class JobFigures:
    """What the JobManager says of one job: its state (`MISSING` when it does not know the job, as
    after a JobManager restart without HA), restarts, completed checkpoints and the newest one."""

    state: str
    restarts: int = 0
    completed_checkpoints: int = 0
    latest_checkpoint: str | None = None


def job_figures(jobmanager: str, job_id: str) -> JobFigures:
    """`JobFigures` from `/jobs/<id>`, its `numRestarts` metric and `/jobs/<id>/checkpoints`;
    `ClusterJobError` when the JobManager does not answer."""
    found = _rest(jobmanager, f"/jobs/{job_id}", missing_ok=True)
    if not isinstance(found, dict):
        return JobFigures("MISSING")
    state = str(found.get("state", "UNKNOWN"))
    metrics = _rest(jobmanager, f"/jobs/{job_id}/metrics?get=numRestarts", missing_ok=True)
    restarts = 0
    for metric in metrics if isinstance(metrics, list) else ():
        if isinstance(metric, dict) and metric.get("id") == "numRestarts":
            restarts = int(float(metric.get("value", 0)))
    checkpoints = _rest(jobmanager, f"/jobs/{job_id}/checkpoints", missing_ok=True)
    completed, latest = 0, None
    if isinstance(checkpoints, dict):
        counts = checkpoints.get("counts") or {}
        completed = int(counts.get("completed", 0)) if isinstance(counts, dict) else 0
        newest = (checkpoints.get("latest") or {}).get("completed")
        if isinstance(newest, dict) and newest.get("external_path"):
            latest = str(newest["external_path"])
    return JobFigures(state, restarts, completed, latest)


def job_state(jobmanager: str, job_id: str) -> str:
    """The job's state (`RUNNING`, `FAILED`...) as the JobManager reports it."""
    found = _rest(jobmanager, f"/jobs/{job_id}")
    return str(found.get("state", "UNKNOWN")) if isinstance(found, dict) else "UNKNOWN"


def job_exceptions(jobmanager: str, job_id: str) -> str:
    """The root exception of a failing job (for error messages)."""
    found = _rest(jobmanager, f"/jobs/{job_id}/exceptions")
    if not isinstance(found, dict):
        return ""
    history = found.get("exceptionHistory") or {}
    entries = history.get("entries") if isinstance(history, dict) else None
    trace = str(entries[0].get("stacktrace", "")) if entries else str(found.get("root-exception", ""))
    # The causes say what failed; the frames between them do not.
    causes = [line for line in trace.splitlines() if not line.startswith("\tat ")]
    return "\n".join(causes)[-4000:]


#: States from which a job is not cancelled (the REST API answers 409 Conflict).
TERMINAL = frozenset({"FAILED", "CANCELED", "FINISHED"})


def cancel_job(jobmanager: str, job_id: str) -> None:
    """Cancel the job unless it already ended (its last checkpoint stays in the cluster's
    checkpoint directory)."""
    if job_state(jobmanager, job_id) not in TERMINAL:
        _rest(jobmanager, f"/jobs/{job_id}?mode=cancel", method="PATCH")
