"""The syslog envelope: the message (MSG) of an RFC 5424 or RFC 3164 record, without its header.

A sender mapped to a parser other than `linux_syslog` (say `auditd`, for hosts whose audisp
forwards `audit.log` over syslog) ships records of that parser's format wrapped in a syslog
header; the header is taken off here so the parser sees its own format. What is not a syslog
header is passed on unchanged (a sender may ship bare lines over TCP).

- RFC 5424 §6: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [BOM]MSG`.
- RFC 3164 §4.1: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG` (an RFC 3339 time is accepted in
  place of the BSD one, as rsyslog writes it).
"""

from __future__ import annotations

import re
from typing import Final

_PRI: Final = re.compile(r"<\d{1,3}>")
_RFC5424: Final = re.compile(r"1 \S+ \S+ \S+ \S+ \S+ ")
_RFC3164: Final = re.compile(
    r"(?:[A-Z][a-z]{2} [ \d]?\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\S+)"  # TIMESTAMP
    r" \S+ [^\s:\[\]]{1,48}(?:\[\d{1,10}\])?: ?"  # HOSTNAME TAG[PID]:
)


def syslog_message(text: str) -> str:
    """The MSG part of a syslog record, or `text` itself when it has no syslog header."""
    pri = _PRI.match(text)
    if pri is None:
        return text
    rest = text[pri.end() :]
    head = _RFC5424.match(rest)
    if head is not None:
        return _after_structured_data(rest[head.end() :]).removeprefix("\ufeff")
    head = _RFC3164.match(rest)
    return rest[head.end() :] if head is not None else rest


def _after_structured_data(rest: str) -> str:
    # STRUCTURED-DATA is "-" or one or more [ID param="value"...] elements; a value may hold
    # escaped quotes and brackets (RFC 5424 §6.3.3), so the elements are walked, not matched.
    if rest.startswith("-"):
        return rest[2:] if rest.startswith("- ") else rest[1:]
    index = 0
    while index < len(rest) and rest[index] == "[":
        quoted = False
        index += 1
        while index < len(rest):
            char = rest[index]
            if quoted and char == "\\":
                index += 2
                continue
            if char == '"':
                quoted = not quoted
            elif char == "]" and not quoted:
                index += 1
                break
            index += 1
    return rest[index + 1 :] if rest[index : index + 1] == " " else rest[index:]
