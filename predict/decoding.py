"""Bytes -> text for the encodings Arabic news arrives in, without silent mojibake.

Order: a BOM decides (UTF-8, UTF-16 LE/BE); otherwise strict UTF-8; otherwise
Windows-1256, accepted only when the result reads as Arabic. Anything else is
reported, never guessed.
"""

from __future__ import annotations

import codecs

from predict.text import has_arabic


class DecodeError(ValueError):
    """The bytes are not text in an encoding mihwar accepts."""


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def looks_binary(data: bytes) -> bool:
    """NUL bytes outside a UTF-16 text, or many control bytes, mean a binary file."""
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return bool(sample) and controls / len(sample) > 0.05


def detect_encoding(sample: bytes) -> str:
    """Encoding of a file from its first bytes (BOM, UTF-8, or Windows-1256)."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if looks_binary(sample):
        raise DecodeError("binary data, not text")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a sample may end inside a character
        return "utf-8"
    except UnicodeDecodeError:
        pass
    text = sample.decode("cp1256", errors="replace")
    if "\ufffd" not in text and has_arabic(text, 0.5):
        return "cp1256"
    raise DecodeError("not UTF-8, UTF-16 with BOM, or Windows-1256 Arabic text")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a whole file; return (text, encoding)."""
    encoding = detect_encoding(data[:65536])
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise DecodeError(f"invalid {encoding} at byte {exc.start}") from None
