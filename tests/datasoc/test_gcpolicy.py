"""The service process's garbage-collector settings (datasoc.gcpolicy)."""

from __future__ import annotations

import gc

from datasoc.gcpolicy import MIDDLE, OLD, YOUNG, service_gc


def test_service_settings_apply_within_the_block_and_are_undone_after() -> None:
    before = gc.get_threshold()
    kept = [object() for _ in range(10)]  # alive before: frozen out of the collector's sight
    with service_gc():
        assert gc.get_threshold() == (YOUNG, MIDDLE, OLD)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert len(kept) == 10
