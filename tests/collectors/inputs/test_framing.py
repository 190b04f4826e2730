"""RFC 6587 framing: octet counting and LF framing, per frame, bounded, never raising."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.inputs.framing import Frame, FrameDecoder

MSG = "<34>1 2026-11-28T10:00:00Z host app - - - 中文消息".encode()


def counted(message: bytes) -> bytes:
    return b"%d " % len(message) + message


def test_octet_counting_and_lf_framing_mix_on_one_connection() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(counted(MSG) + MSG + b"\n" + counted(b"<13>with\nnewline inside") + b"<13>last\r\n")
    assert [f.raw for f in frames] == [MSG, MSG, b"<13>with\nnewline inside", b"<13>last"]
    assert all(f.error is None for f in frames)
    assert decoder.finish() == []


def test_frames_split_across_reads_are_reassembled() -> None:
    stream = counted(MSG) + MSG + b"\n"
    decoder = FrameDecoder()
    frames = [frame for byte in stream for frame in decoder.feed(bytes([byte]))]
    assert [f.raw for f in frames] == [MSG, MSG]


def test_oversized_frames_are_rejected_and_the_stream_resumes() -> None:
    decoder = FrameDecoder(max_frame=32)
    frames = decoder.feed(counted(b"y" * 100) + b"<1>ok\n" + b"z" * 100 + b"\n<1>after\n")
    assert [(f.error is None, f.raw[:5]) for f in frames] == [
        (False, b"yyyyy"),
        (True, b"<1>ok"),
        (False, b"zzzzz"),
        (True, b"<1>af"),
    ]
    assert "exceeds the limit" in (frames[0].error or "")
    assert len(frames[0].raw) == 32


def test_bad_octet_counts_are_rejected_up_to_the_next_lf() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(b"12345678901 too long\n007 zero-led\n5x <1>\n<1>ok\n")
    assert [f.error is not None for f in frames] == [True, True, True, False]
    assert frames[-1].raw == b"<1>ok"


def test_end_of_stream_reports_truncated_frames_and_keeps_a_last_lf_less_message() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"50 <1>short") == []
    (frame,) = decoder.finish()
    assert frame.error is not None
    assert "truncated" in frame.error
    decoder = FrameDecoder()
    assert decoder.feed(b"<1>no newline") == []
    assert decoder.finish() == [Frame(b"<1>no newline")]


@settings(max_examples=300, deadline=None)
@given(stream=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=8))
# Found by this test: a bad header's rejected frame kept whatever had arrived when it was seen.
@example(stream=b"0\x00\x00", cuts=[2])
@example(stream=b"07 abc\n<1>x\n", cuts=[1, 3])
def test_any_bytes_any_split_same_frames_bounded_buffer(stream: bytes, cuts: list[int]) -> None:
    whole = FrameDecoder(max_frame=64)
    expected = whole.feed(stream) + whole.finish()
    pieces = FrameDecoder(max_frame=64)
    got: list[Frame] = []
    last = 0
    for cut in sorted(c for c in cuts if c <= len(stream)):
        got += pieces.feed(stream[last:cut])
        last = cut
        assert len(pieces._buffer) <= 64 + 11
    got += pieces.feed(stream[last:]) + pieces.finish()
    assert got == expected
    assert all(len(f.raw) <= 64 for f in got)
