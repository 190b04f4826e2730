"""Fuzzing the syslog path without sockets: any byte stream -> frames -> parser -> batch.

Never an exception; every frame is either an event or a dead letter with reason and source.
"""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.inputs.framing import FrameDecoder
from collectors.inputs.records import RawRecord, RecordRules, build_batch, reject_record
from collectors.parsers import LinuxSyslogParser
from tests.collectors.inputs.conftest import NOW

RULES = RecordRules(
    source="fuzz", collector="syslog:fuzz", parser=LinuxSyslogParser(collector="syslog"), stage="parse"
)
LINES = st.sampled_from(
    [
        b"<38>1 2026-11-28T10:00:00+08:00 web01 sshd 1 - - "
        b"\xef\xbb\xbfAccepted password for \xe5\xbc\xa0 from ::1 port 2 ssh2",
        b"<86>Nov 28 10:00:01 web01 sudo[7]: root : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/true",
        b'<13>1 2026-11-28T10:00:00Z h a - - [x@1 k="v\\"] m',
        b"<999>Nov 28 10:00:01 h x: y",
        b"\xff\xfe\x00",
    ]
)
STREAMS = st.lists(
    st.one_of(
        LINES.map(lambda line: b"%d %s" % (len(line), line)),
        LINES.map(lambda line: line + b"\n"),
        st.binary(max_size=300),
        st.integers(0, 10**12).map(lambda n: b"%d " % n),
    ),
    max_size=10,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(stream=STREAMS)
def test_any_stream_becomes_events_or_dead_letters(stream: bytes) -> None:
    decoder = FrameDecoder(max_frame=256)
    frames = decoder.feed(stream) + decoder.finish()
    counter = itertools.count()
    good = [RawRecord(i, f.raw) for i, f in enumerate(frames, 1) if f.error is None]
    batch = build_batch(good, RULES, now=NOW, new_id=lambda: f"id-{next(counter)}")
    for i, frame in enumerate(frames, 1):
        if frame.error is not None:
            reject_record(batch, RULES, RawRecord(i, frame.raw), frame.error, now=NOW)
    assert batch.accepted + batch.rejected == len(frames)
    for dead in map(orjson.loads, batch.dead):
        assert dead["source"] == "fuzz"
        assert dead["reason"]
        assert dead["raw_b64"] is not None
