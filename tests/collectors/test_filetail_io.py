"""File tail on real files and a real spool: restart, rotation, copytruncate, partial lines, crash replay."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.errors import CollectorError
from collectors.inputs.filetail import FileTail, TailReport
from collectors.parsers import PARSERS
from collectors.sink import TransportSink
from datasoc.transport import DEADLETTER, EVENTS, Spool

NOW = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
IDS = itertools.count()
PG_TAIL = ',,,,,,,,,"psql","client backend",,0'
PG = (
    '2026-03-02 10:05:01.000 CST,"chenjing","wjw",2211,"10.10.8.30:50112",65e27a3d.8a3,{n},"SELECT",'
    '2026-03-02 10:00:00 CST,3/45,0,LOG,00000,"AUDIT: SESSION,{n},1,READ,SELECT,TABLE,public.dzbl_zy,'
    '""SELECT xm\n  FROM dzbl_zy\n WHERE xm = \'张三\'"",<not logged>"' + PG_TAIL
)


def line(n: int, text: str = "message") -> str:
    return f"2026-03-02T09:10:{n % 60:02d}+08:00 db-01 app[7]: {text} {n} 数据\n"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool.open(tmp_path / "spool") as opened:
        yield opened


def tail(
    spool: Spool, tmp_path: Path, pattern: str = "app.log", parser: str = "linux_syslog", **kw: Any
) -> FileTail:
    return FileTail(
        [str(tmp_path / "logs" / pattern)],
        PARSERS[parser](collector="file:test"),
        TransportSink(spool, batch_size=4),
        tmp_path / "tail.state",
        source="file:app",
        **kw,
    )


def poll(follower: FileTail) -> TailReport:
    return follower.poll(now=NOW, new_id=lambda: f"new-{next(IDS)}")


def events(spool: Spool) -> list[dict[str, Any]]:
    return [json.loads(r.payload) for r in spool.read(EVENTS, 0, 100_000)]


def originals(spool: Spool) -> list[str]:
    return [e["log.original"] for e in events(spool)]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir()
    return directory


def append(path: Path, text: str | bytes) -> None:
    with path.open("ab") as stream:
        stream.write(text.encode() if isinstance(text, str) else text)


def test_restart_resumes_exactly(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, "".join(line(n) for n in range(5)))
    first = tail(spool, tmp_path)
    assert poll(first).accepted == 5
    first.close()
    append(log, "".join(line(n) for n in range(5, 8)))
    second = tail(spool, tmp_path)
    report = poll(second)
    assert (report.accepted, report.rejected) == (3, 0)
    assert originals(spool) == [line(n).rstrip("\n") for n in range(8)]
    assert poll(second).accepted == 0


def test_partial_line_waits_for_its_newline(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1) + line(2)[:20])
    follower = tail(spool, tmp_path)
    assert poll(follower).accepted == 1
    append(log, line(2)[20:])
    assert poll(follower).accepted == 1
    assert originals(spool) == [line(1).rstrip("\n"), line(2).rstrip("\n")]


def test_rotation_by_rename_finishes_old_file_then_new(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1) + line(2) + line(3)[:15])
    follower = tail(spool, tmp_path)
    assert poll(follower).accepted == 2
    os.rename(log, logs / "app.log.1")
    append(logs / "app.log.1", line(3)[15:] + line(4)[:-3])  # the writer finishes before reopening
    append(log, line(10) + line(11))
    report = poll(follower)
    assert report.rotations == 1
    assert report.accepted == 4  # 3, the flushed partial 4, then 10 and 11
    assert originals(spool)[2:] == [
        line(3).rstrip("\n"),
        line(4)[:-3],
        line(10).rstrip("\n"),
        line(11).rstrip("\n"),
    ]


def test_rotation_within_the_pattern_reads_nothing_twice(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1) + line(2)[:-3])
    follower = tail(spool, tmp_path, pattern="app.log*")
    poll(follower)
    os.rename(log, logs / "app.log.1")
    append(log, line(3))
    poll(follower)  # renamed: still matched, read on; idle now, so its partial line is flushed
    poll(follower)
    got = originals(spool)
    assert sorted(got) == sorted([line(1).rstrip("\n"), line(2)[:-3], line(3).rstrip("\n")])
    assert poll(follower).accepted == 0


def test_rotation_while_stopped_drains_the_renamed_file(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1))
    first = tail(spool, tmp_path)
    poll(first)
    first.close()
    append(log, line(2))
    os.rename(log, logs / "app.log.1")
    append(log, line(3))
    second = tail(spool, tmp_path)
    report = poll(second)
    assert report.accepted == 2
    assert sorted(originals(spool)) == sorted(line(n).rstrip("\n") for n in (1, 2, 3))
    assert report.lost == []


def test_copytruncate_restarts_from_zero_with_new_ids(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1, "same") + line(2) + line(3))
    follower = tail(spool, tmp_path)
    poll(follower)
    shutil.copy(log, logs / "app.log.1")
    with log.open("r+b") as stream:
        stream.truncate(0)
    append(log, line(1, "same"))  # identical text at line 1 of the new generation
    report = poll(follower)
    assert (report.truncations, report.accepted) == (1, 1)
    got = events(spool)
    assert got[0]["log.original"] == got[3]["log.original"]
    assert got[0]["event.id"] != got[3]["event.id"]


def test_rewritten_past_the_old_offset_is_detected(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1))
    follower = tail(spool, tmp_path)
    poll(follower)
    log.write_text(line(7, "other") + line(8) + line(9))  # truncated and refilled before the next look
    report = poll(follower)
    assert (report.truncations, report.accepted) == (1, 3)


class Crash(Exception):
    """Stands for the process dying."""


def test_crash_between_append_and_commit_replays_without_loss(
    spool: Spool, tmp_path: Path, logs: Path
) -> None:
    log = logs / "app.log"
    append(log, "".join(line(n) for n in range(6)))
    ok = tail(spool, tmp_path)
    poll(ok)
    ok.close()
    append(log, "".join(line(n) for n in range(6, 10)))

    def dying_fsync(fd: int) -> None:
        raise Crash

    crashing = tail(spool, tmp_path, fsync=dying_fsync)
    with pytest.raises(Crash):
        poll(crashing)  # the spool append returned; the offset commit did not happen
    crashing.close()
    restarted = tail(spool, tmp_path)
    assert poll(restarted).accepted == 4  # read again
    ids = Counter(e["event.id"] for e in events(spool))
    assert len(ids) == 10  # every line is there, under one stable id each
    assert sorted(ids.values()) == [1] * 6 + [2] * 4  # the replay duplicates, removed downstream by id


def test_multiline_pgaudit_records(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "postgresql.csv"
    first, second = PG.format(n=1), PG.format(n=2)
    append(log, first + "\n" + second[:60])
    follower = tail(spool, tmp_path, pattern="*.csv", parser="pgaudit_csv")
    assert poll(follower).accepted == 1
    append(log, second[60:] + "\n")
    assert poll(follower).accepted == 1
    assert originals(spool) == [first, second]


def test_bad_lines_go_to_the_dead_letter_topic(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1).encode() + b"\xff\xfe not utf-8\n" + line(2).encode())
    report = poll(tail(spool, tmp_path))
    assert (report.accepted, report.rejected) == (2, 1)
    (dead,) = [json.loads(r.payload) for r in spool.read(DEADLETTER, 0, 10)]
    assert dead["source"] == "file:app"
    assert dead["position"] == 2
    assert "invalid UTF-8" in dead["reason"]


def test_corrupt_state_file_is_a_clear_error(spool: Spool, tmp_path: Path, logs: Path) -> None:
    (tmp_path / "tail.state").write_text("{not json")
    with pytest.raises(CollectorError, match=r"tail\.state"):
        tail(spool, tmp_path)


def test_deleted_file_is_drained_through_the_open_handle(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1))
    follower = tail(spool, tmp_path)
    poll(follower)
    append(log, line(2) + line(3)[:-3])
    log.unlink()
    report = poll(follower)
    assert (report.accepted, report.rotations) == (2, 1)
    assert originals(spool)[1:] == [line(2).rstrip("\n"), line(3)[:-3]]
    assert json.loads((tmp_path / "tail.state").read_text())["files"] == {}


def test_renamed_while_stopped_inside_the_pattern_is_finished(
    spool: Spool, tmp_path: Path, logs: Path
) -> None:
    log = logs / "app.log"
    append(log, line(1) + line(2)[:-3])
    first = tail(spool, tmp_path, pattern="app.log*")
    poll(first)
    first.close()
    os.rename(log, logs / "app.log.1")
    append(log, line(5))
    second = tail(spool, tmp_path, pattern="app.log*")
    poll(second)
    poll(second)  # the renamed file stayed idle: its partial line is flushed
    assert sorted(originals(spool)) == sorted([line(1).rstrip("\n"), line(2)[:-3], line(5).rstrip("\n")])
    state = json.loads((tmp_path / "tail.state").read_text())["files"]
    assert sorted(p["path"] for p in state.values()) == [str(log), str(logs / "app.log.1")]


def test_same_instance_after_a_failed_commit_reads_again(spool: Spool, tmp_path: Path, logs: Path) -> None:
    log = logs / "app.log"
    append(log, line(1) + line(2))
    calls = itertools.count()

    def flaky_fsync(fd: int) -> None:
        if next(calls) == 0:
            raise OSError("disk full")
        os.fsync(fd)

    follower = tail(spool, tmp_path, fsync=flaky_fsync)
    with pytest.raises(OSError, match="disk full"):
        poll(follower)
    assert poll(follower).accepted == 2  # nothing committed, so the same records again
    assert Counter(e["event.id"] for e in events(spool)).most_common()[0][1] == 2
    assert poll(follower).accepted == 0
