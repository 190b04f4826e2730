"""CEF over RFC 5424 syslog (pure): the upward cascade's wire format, and its parser.

CEF (ArcSight Common Event Format, "Implementing ArcSight CEF" rev. 25):
    CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
(1) header fields escape backslash and pipe (`\\\\`, `\\|`); they may not hold line breaks (replaced
    by a space); (2) extension values escape backslash, equals sign and line breaks (`\\\\`, `\\=`,
    `\\n`, `\\r`); pipes are literal there; (3) extension keys are alphanumeric; (4) severity 0-10.

RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG`; PRI = facility × 8 +
severity. Sent over TLS with RFC 5425 octet counting (`LEN SP MSG`), one frame per message.
SD-PARAM values escape `"`, `\\` and `]` (RFC 5424 §6.3.3). The SD-ID `datasoc@32473` uses the
example enterprise number of RFC 5612 until one is registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from datasoc.event import format_timestamp

SD_ID = "datasoc@32473"
_KEY = re.compile(r"[A-Za-z0-9]+\Z")
_BOM = "\ufeff"


def escape_header(value: str) -> str:
    """(1) A CEF header field."""
    text = value.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def escape_value(value: str) -> str:
    """(2) A CEF extension value."""
    return (
        value.replace("\\", "\\\\")
        .replace("=", "\\=")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


@dataclass(frozen=True, slots=True)
class CefEvent:
    """A CEF record: header fields and extension pairs (in order)."""

    vendor: str
    product: str
    version: str
    signature_id: str
    name: str
    severity: int
    extension: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not 0 <= self.severity <= 10:
            raise ValueError(f"CEF severity {self.severity}: 0 to 10")
        for key, _ in self.extension:
            if not _KEY.match(key):
                raise ValueError(f"CEF extension key {key!r}: letters and digits only (3)")

    def format(self) -> str:
        """The CEF line."""
        header = "|".join(
            escape_header(v)
            for v in (
                self.vendor,
                self.product,
                self.version,
                self.signature_id,
                self.name,
                str(self.severity),
            )
        )
        extension = " ".join(f"{k}={escape_value(v)}" for k, v in self.extension)
        return f"CEF:0|{header}|{extension}"

    def ext(self) -> dict[str, str]:
        """The extension as a mapping."""
        return dict(self.extension)


def parse_cef(line: str) -> CefEvent:
    """Parse a CEF line made by `CefEvent.format` or any conforming sender (the receiver's side)."""
    if not line.startswith("CEF:"):
        raise ValueError("not a CEF record")
    fields: list[str] = []
    current: list[str] = []
    i = len("CEF:")
    while len(fields) < 7:
        if i >= len(line):
            raise ValueError("CEF header is incomplete")
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] in "\\|":
            current.append(line[i + 1])
            i += 2
            continue
        if ch == "|":
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if fields[0] != "0":
        raise ValueError(f"CEF version {fields[0]!r} is not 0")
    return CefEvent(
        vendor=fields[1],
        product=fields[2],
        version=fields[3],
        signature_id=fields[4],
        name=fields[5],
        severity=int(fields[6]),
        extension=tuple(_parse_extension(line[i:])),
    )


_PAIR_START = re.compile(r"(?:^| )([A-Za-z0-9]+)=")


def _parse_extension(text: str) -> list[tuple[str, str]]:
    # A key starts after a space and ends at an unescaped "="; a value runs to the next key.
    starts = []
    for match in _PAIR_START.finditer(text):
        # A "=" in a value is always escaped, so an unescaped "key=" after a space is a key.
        if _unescaped_equals(text, match.end() - 1):
            starts.append((match.start(1), match.end(), match.group(1)))
    pairs = []
    for n, (_begin, value_start, key) in enumerate(starts):
        value_end = starts[n + 1][0] - 1 if n + 1 < len(starts) else len(text)
        pairs.append((key, _unescape_value(text[value_start:value_end])))
    return pairs


def _unescaped_equals(text: str, position: int) -> bool:
    backslashes = 0
    j = position - 1
    while j >= 0 and text[j] == "\\":
        backslashes += 1
        j -= 1
    return backslashes % 2 == 0


def _unescape_value(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def sd_escape(value: str) -> str:
    """RFC 5424 §6.3.3: PARAM-VALUE escapes `"`, `\\` and `]`."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(
    *,
    at: datetime,
    hostname: str,
    app_name: str,
    facility: int,
    severity: int,
    msgid: str,
    params: Mapping[str, str],
    message: str,
) -> bytes:
    """An RFC 5424 message (UTF-8 MSG with its BOM), without framing."""
    sd = "[" + SD_ID + "".join(f' {k}="{sd_escape(v)}"' for k, v in params.items()) + "]"
    head = f"<{facility * 8 + severity}>1 {format_timestamp(at)} {hostname} {app_name} - {msgid} {sd} "
    return (head + _BOM + message).encode("utf-8")


def octet_frame(message: bytes) -> bytes:
    """RFC 5425 §4.3 octet counting: `MSG-LEN SP SYSLOG-MSG`."""
    return str(len(message)).encode("ascii") + b" " + message


_HEADER = re.compile(rb"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ")


@dataclass(frozen=True, slots=True)
class SyslogRecord:
    """A parsed RFC 5424 message (the receiver's side)."""

    priority: int
    timestamp: str
    hostname: str
    app_name: str
    msgid: str
    params: dict[str, str]
    message: str


def parse_syslog(data: bytes) -> SyslogRecord:
    """Parse one RFC 5424 message with one SD element (as `syslog_message` makes them)."""
    match = _HEADER.match(data)
    if match is None:
        raise ValueError("not an RFC 5424 message")
    rest = data[match.end() :].decode("utf-8")
    params: dict[str, str] = {}
    if rest.startswith("-"):
        rest = rest[2:]
    else:
        if not rest.startswith("[" + SD_ID):
            raise ValueError("unexpected structured data")
        i = len(SD_ID) + 1
        while rest[i] != "]":
            name_end = rest.index("=", i)
            name = rest[i + 1 : name_end]
            i = name_end + 2
            value: list[str] = []
            while rest[i] != '"':
                if rest[i] == "\\":
                    i += 1
                value.append(rest[i])
                i += 1
            params[name] = "".join(value)
            i += 1
        rest = rest[i + 2 :]
    return SyslogRecord(
        priority=int(match.group(1)),
        timestamp=match.group(2).decode(),
        hostname=match.group(3).decode(),
        app_name=match.group(4).decode(),
        msgid=match.group(6).decode(),
        params=params,
        message=rest.removeprefix(_BOM),
    )
