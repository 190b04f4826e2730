"""The job in PyFlink's other execution mode (`process`: Python workers beside the JVM).

Regression for a pitfall of PyFlink 2.3 found here: `MapState.put_all` iterates its argument as
pairs in process mode and as a dict in thread mode, so a correlation's state write failed (and
the job restarted forever) only in process mode. Slow: its own job start.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.detection.stream.conftest import NOW, make_event, open_platform, rule_texts

CORE_DOWNLOAD = "5a0c1b9e-0d7e-4f43-9a11-000000000001"
FAILED_LOGINS = "5a0c1b9e-0d7e-4f43-9a11-000000000003"


@pytest.mark.slow
def test_process_mode_raises_single_and_correlation_alerts(tmp_path: Path) -> None:
    from detection.stream.job import start

    platform = open_platform(
        tmp_path, execution_mode="process", unsafe_process_mode_ports=True, checkpoint_interval_ms=300
    )
    spool, config = platform.spool, platform.config
    platform.rules.write(put=rule_texts("core_download.yml", "failed_login.yml"))
    client = start(config)
    try:
        fails = [
            make_event(f"pm-f{i}", NOW + timedelta(seconds=i), "user.login", user="pm", outcome="failure")
            for i in range(3)
        ]
        download = make_event("pm-dl", NOW + timedelta(seconds=4), "dataset.download", classification="core")
        platform.feed([*fails, download])
        platform.wait_for("both alerts", lambda: len(platform.alerts()) >= 2, timeout=120)
        (correlation,) = platform.alerts_of(FAILED_LOGINS)
        assert sorted(correlation["event_ids"]) == ["pm-f0", "pm-f1", "pm-f2"]
        assert [a["event_ids"] for a in platform.alerts_of(CORE_DOWNLOAD)] == [["pm-dl"]]
        # No restart loop: the job committed the batch's marker, so progress covers every event.
        platform.wait_for("progress", lambda: platform.committer.progress.position is not None)
        assert platform.committer.total.invalid == 0
    finally:
        client.cancel().result()
        spool.close()
