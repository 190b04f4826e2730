"""`[[collect.evtx]]` folders: new files, growing files and restarts, on real `.evtx` files."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from collectors.inputs.evtxfolder import EvtxFolder
from collectors.parsers import WindowsEventParser
from collectors.sink import TransportSink
from datasoc.transport import DEADLETTER, EVENTS, Spool
from tests.collectors.evtx_files import grown
from tests.collectors.inputs.conftest import NOW

REGRESSION = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "sigma" / "regression_data"
SAMPLES = sorted(REGRESSION.rglob("*.evtx")) if REGRESSION.is_dir() else []
pytestmark = pytest.mark.skipif(not SAMPLES, reason="needs ../shared/data (SigmaHQ regression .evtx files)")


def folder(spool: Spool, tmp_path: Path) -> EvtxFolder:
    sink = TransportSink(spool)
    parser = WindowsEventParser(collector="evtx:win")
    return EvtxFolder([str(tmp_path / "in" / "*.evtx")], parser, sink, tmp_path / "state.json", source="win")


def polls(folder: EvtxFolder, new_id: Callable[[], str], times: int = 2) -> tuple[int, int]:
    accepted = rejected = 0
    for _ in range(times):
        report = folder.poll(now=NOW, new_id=new_id)
        accepted, rejected = accepted + report.accepted, rejected + report.rejected
    return accepted, rejected


def test_new_and_growing_files_are_read_once_and_resumed_after_a_restart(
    spool: Spool, tmp_path: Path
) -> None:
    counter = itertools.count()
    new_id = lambda: f"id-{next(counter)}"  # noqa: E731
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "Security.evtx"
    log.write_bytes(grown(SAMPLES[0], 1))
    first = folder(spool, tmp_path)
    assert first.poll(now=NOW, new_id=new_id).accepted == 0  # seen changing: read once it holds still
    assert first.poll(now=NOW, new_id=new_id).accepted == 1
    with log.open("r+b") as stream:  # the log grows in place (same inode): two more chunks
        stream.write(grown(SAMPLES[0], 3))
    os.utime(log, ns=(1, 2))
    assert polls(first, new_id) == (2, 0)
    (tmp_path / "in" / "System.evtx").write_bytes(SAMPLES[1].read_bytes())  # a new file
    assert polls(first, new_id) == (1, 0)
    # A restart reads the committed positions: nothing is delivered twice.
    again = folder(spool, tmp_path)
    assert polls(again, new_id, times=3) == (0, 0)
    assert spool.range(EVENTS).end == 4
    state = orjson.loads((tmp_path / "state.json").read_bytes())
    assert sorted(entry["last_record_id"] for entry in state["files"].values()) == [1, 3]


def test_a_log_replaced_on_the_same_inode_is_read_again_from_its_start(spool: Spool, tmp_path: Path) -> None:
    counter = itertools.count()
    new_id = lambda: f"id-{next(counter)}"  # noqa: E731
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "Security.evtx"
    log.write_bytes(grown(SAMPLES[0], 3))
    tail = folder(spool, tmp_path)
    assert polls(tail, new_id) == (3, 0)
    with log.open("r+b") as stream:  # cleared and restarted: ids begin at 1 again
        stream.truncate(0)
        stream.write(grown(SAMPLES[0], 1))
    os.utime(log, ns=(3, 4))
    report_before = spool.range(EVENTS).end
    assert polls(tail, new_id) == (1, 0)
    assert spool.range(EVENTS).end == report_before + 1


def test_a_damaged_file_is_dead_lettered_once(spool: Spool, tmp_path: Path) -> None:
    counter = itertools.count()
    new_id = lambda: f"id-{next(counter)}"  # noqa: E731
    (tmp_path / "in").mkdir()
    log = tmp_path / "in" / "Security.evtx"
    data = bytearray(grown(SAMPLES[0], 2))
    data[4096 + 65536 + 600 : 4096 + 65536 + 2000] = b"\xff" * 1400  # the second chunk's record
    log.write_bytes(bytes(data))
    tail = folder(spool, tmp_path)
    assert polls(tail, new_id) == (1, 1)
    assert polls(tail, new_id, times=3) == (0, 0)  # unchanged: not read (nor dead-lettered) again
    with log.open("ab") as stream:  # it grows: the damaged chunk it had passed is not reported again
        stream.write(grown(SAMPLES[0], 3)[4096 + 2 * 65536 :])
    assert polls(tail, new_id) == (1, 0)
    assert spool.range(DEADLETTER).end == 1
