"""The platform compiles its rules through the compiled-rule cache under `data_dir`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from datasoc.settings import load_settings
from datasoc.transport import Spool
from soc_api.platform import load_detector, load_stream, rule_cache_dir


def test_in_process_detector_starts_from_the_cache(tmp_path: Path) -> None:
    settings = load_settings(
        None, {"DATASOC_DATA_DIR": str(tmp_path), "DATASOC_DETECTION__ENGINE": "inprocess"}
    )
    first = load_detector(settings)
    assert first.rules.cache is not None
    assert first.rules.cache.written > 20
    second = load_detector(settings)
    assert second.rules.cache is not None
    assert second.rules.cache.hits == first.rules.cache.written
    assert [r.id for r in second.rules.rules] == [r.id for r in first.rules.rules]
    assert stat.S_IMODE(rule_cache_dir(settings).stat().st_mode) == 0o700


def test_the_job_inherits_the_cache_location(tmp_path: Path) -> None:
    settings = load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path)})
    spool = Spool.open(tmp_path / "spool")
    try:
        load_stream(settings, spool)
    finally:
        spool.close()
    assert os.environ["DATASOC_RULE_CACHE"] == str(tmp_path / "cache" / "rules")
