"""Two corrections to pySigma 1.5.1's value modifiers, registered in its own modifier registry.

The Sigma specification (appendix "Modifiers") lists `utf16le` (alias of `wide`), `utf16be`, `utf16`
(UTF-16 with byte-order mark) and `wide`. pySigma 1.5.1:

1. has no `utf16le` name, so such a rule fails to parse;
2. represents the BOM of `|utf16` as the character U+FEFF, which `|base64` and `|base64offset` then
   encode as UTF-8 (EF BB BF) instead of the UTF-16LE BOM (FF FE): `Payload|utf16|base64` could never
   match real UTF-16 data.

`register()` adds `utf16le` and replaces `base64`/`base64offset` with subclasses that encode a
leading U+FEFF as FF FE when a UTF-16 modifier came before. `sigma.modifiers.modifier_mapping` is the
registry pySigma parses modifier names with (sigma/rule/detection.py), so rules still go through
pySigma unchanged; the SQLite reference sees the same corrected values.
"""

from __future__ import annotations

from base64 import b64encode

from sigma import modifiers as sigma_modifiers
from sigma.exceptions import SigmaValueError
from sigma.modifiers import (
    SigmaBase64Modifier,
    SigmaBase64OffsetModifier,
    SigmaUTF16Modifier,
    SigmaWideModifier,
)
from sigma.types import SigmaExpansion, SigmaString

_BOM_CHAR = "\ufeff"
_BOM_UTF16LE = b"\xff\xfe"


def _encoded(modifier: SigmaBase64Modifier | SigmaBase64OffsetModifier, val: SigmaString) -> bytes:
    if val.contains_special():
        raise SigmaValueError(
            "Base64 encoding of strings with wildcards is not allowed", source=modifier.source
        )
    text = str(val)
    if SigmaUTF16Modifier in modifier.applied_modifiers and text.startswith(_BOM_CHAR):
        return _BOM_UTF16LE + text[1:].encode()
    return text.encode()


class Base64Modifier(SigmaBase64Modifier):
    """`|base64` (Sigma spec), with the UTF-16 BOM encoded as bytes FF FE."""

    def modify(self, val: SigmaString) -> SigmaString:
        return SigmaString(b64encode(_encoded(self, val)).decode())


class Base64OffsetModifier(SigmaBase64OffsetModifier):
    """`|base64offset` (Sigma spec): the three encodings of the value at byte offsets 0, 1 and 2."""

    def modify(self, val: SigmaString) -> SigmaExpansion:
        data = _encoded(self, val)
        return SigmaExpansion(
            [
                SigmaString(
                    b64encode(i * b" " + data)[
                        self.start_offsets[i] : self.end_offsets[(len(data) + i) % 3]
                    ].decode()
                )
                for i in range(3)
            ]
        )


def register() -> None:
    """Install the corrections in pySigma's modifier registry (idempotent)."""
    sigma_modifiers.modifier_mapping["utf16le"] = SigmaWideModifier
    sigma_modifiers.modifier_mapping["base64"] = Base64Modifier
    sigma_modifiers.modifier_mapping["base64offset"] = Base64OffsetModifier
    sigma_modifiers.reverse_modifier_mapping[Base64Modifier.__name__] = "base64"
    sigma_modifiers.reverse_modifier_mapping[Base64OffsetModifier.__name__] = "base64offset"
    sigma_modifiers.reverse_modifier_mapping[SigmaWideModifier.__name__] = "wide"
