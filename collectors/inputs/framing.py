"""Syslog frames out of a TCP byte stream (RFC 6587), detected per frame, bounded in size.

RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN a decimal without leading zero.
RFC 6587 §3.4.2 non-transparent framing: the message ends at LF (a trailing CR is removed too).
A frame starting with a digit is octet-counted, anything else (normally `<PRI>`) is LF-framed, so
one connection may mix both as rsyslog and syslog-ng senders sometimes do.

Bad input never stops the stream: a frame over `max_frame` bytes or with a bad length is
returned as a rejected `Frame` (its first `max_frame` bytes kept as evidence), the decoder skips
to the end of that frame (or the next LF when the length cannot be trusted) and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors.inputs.errors import InputConfigError

_MAX_LEN_DIGITS = 10


@dataclass(frozen=True, slots=True)
class Frame:
    """One syslog message (or rejected piece of stream): raw bytes and, if rejected, the reason."""

    raw: bytes
    error: str | None = None


class FrameDecoder:
    """Incremental RFC 6587 decoder for one connection; feed bytes, get complete frames."""

    def __init__(self, *, max_frame: int = 64 * 1024) -> None:
        if max_frame < 16:
            raise InputConfigError("collect.syslog.max_frame", "must be at least 16 bytes")
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._skip = 0  # bytes of an oversized octet-counted frame still to discard
        self._skip_to_lf = False  # discarding the rest of an oversized LF-framed message

    @property
    def pending(self) -> bool:
        """True while a frame has started and not ended (bytes buffered, or a frame being skipped)."""
        return bool(self._buffer) or self._skip > 0 or self._skip_to_lf

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by `data` (possibly none); keeps at most `max_frame` bytes buffered."""
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            if self._skip:
                dropped = min(self._skip, len(self._buffer))
                del self._buffer[:dropped]
                self._skip -= dropped
                continue
            if self._skip_to_lf:
                end = self._buffer.find(b"\n")
                if end < 0:
                    self._buffer.clear()
                    break
                del self._buffer[: end + 1]
                self._skip_to_lf = False
                continue
            frame = self._next_frame()
            if frame is None:
                break
            if frame.error is not None or frame.raw.strip():
                frames.append(frame)
        return frames

    def finish(self) -> list[Frame]:
        """At end of stream: the last LF-less message, or a rejected truncated frame."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        if self._skip:
            self._skip = 0
            return []
        if self._skip_to_lf or not rest.strip():
            return []
        if rest[:1].isdigit():
            problem = _header_problem(rest)
            if problem in (None, _WAIT):
                problem = "stream ended inside an octet-counted frame (truncated)"
            return [Frame(rest[: self.max_frame], problem)]
        return [Frame(rest.removesuffix(b"\r"))]

    def _next_frame(self) -> Frame | None:
        buffer = self._buffer
        if buffer[:1].isdigit():
            return self._counted()
        end = buffer.find(b"\n", 0, self.max_frame + 1)
        if end >= 0:
            raw = bytes(buffer[:end])
            del buffer[: end + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            return Frame(raw)  # blank lines come back empty and are dropped by `feed`
        if len(buffer) > self.max_frame:
            raw = bytes(buffer[: self.max_frame])
            del buffer[: self.max_frame]
            self._skip_to_lf = True
            return Frame(raw, f"message longer than {self.max_frame} bytes without LF")
        return None

    def _counted(self) -> Frame | None:
        buffer = self._buffer
        problem = _header_problem(buffer)
        if problem == _WAIT:
            return None  # the length may still be arriving
        if problem is not None:
            return self._bad_header(problem)
        space = buffer.find(b" ", 0, _MAX_LEN_DIGITS + 1)
        length = int(bytes(buffer[:space]))
        if length > self.max_frame:
            kept = bytes(buffer[space + 1 : space + 1 + self.max_frame])
            available = len(buffer) - space - 1
            del buffer[: space + 1 + min(length, available)]
            self._skip = max(0, length - available)
            return Frame(kept, f"octet count {length} exceeds the limit of {self.max_frame}")
        if len(buffer) - space - 1 < length:
            return None
        raw = bytes(buffer[space + 1 : space + 1 + length])
        del buffer[: space + 1 + length]
        return Frame(raw.removesuffix(b"\n").removesuffix(b"\r"))

    def _bad_header(self, reason: str) -> Frame | None:
        # The length cannot be trusted: the frame runs to the next LF, where the stream
        # resynchronises. Until that LF (or `max_frame` bytes) has arrived, wait, so what the
        # rejected frame keeps does not depend on how the stream was split into reads.
        buffer = self._buffer
        end = buffer.find(b"\n", 0, self.max_frame + 1)
        if end >= 0:
            raw = bytes(buffer[:end])
            del buffer[: end + 1]
        elif len(buffer) >= self.max_frame:
            raw = bytes(buffer[: self.max_frame])
            del buffer[: self.max_frame]
            self._skip_to_lf = True
        else:
            return None
        return Frame(raw, reason)


_WAIT = "wait"


def _header_problem(buffer: bytes | bytearray) -> str | None:
    """Why an octet-counted header is bad, `_WAIT` while it may still be arriving, else None."""
    space = buffer.find(b" ", 0, _MAX_LEN_DIGITS + 1)
    if space < 0:
        if len(buffer) <= _MAX_LEN_DIGITS and bytes(buffer).isdigit():
            return _WAIT
        return "octet count is not followed by a space within 10 digits"
    digits = bytes(buffer[:space])
    if not digits.isdigit() or digits.startswith(b"0"):
        return f"invalid octet count {digits[:12]!r}"
    return None
