"""Bytes -> text for the encodings Arabic news arrives in, without silent mojibake.

Order: a BOM decides (UTF-8, UTF-32 and UTF-16 LE/BE); otherwise UTF-8; otherwise
Windows-1256, accepted only when the sample reads as Arabic and is not UTF-8
with a few broken bytes. Anything else is reported, never guessed. Streams
(JSONL, CSV, stdin) are decoded with undecodable bytes *marked* (as lone
surrogates, see `find_invalid`) so one bad byte costs one record, not the file.
"""

from __future__ import annotations

import codecs
import re
from typing import BinaryIO, Iterator

from predict.text import has_arabic

SAMPLE_BYTES = 65536
MARK = "mihwar-mark"
_SURROGATE = re.compile("[\ud800-\udfff]")


class DecodeError(ValueError):
    """The bytes are not text in an encoding mihwar accepts."""


def _mark(exc: UnicodeDecodeError) -> tuple[str, int]:
    """Error handler: each undecodable byte becomes U+DC00+byte, which no valid text holds."""
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(MARK, _mark)

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _looks_utf16(sample: bytes) -> bool:
    """UTF-16 without a BOM: the high byte of every character is 0x00 (Latin) or 0x06 (Arabic)."""
    half = len(sample) // 2
    if half < 8:
        return False
    even, odd = sample[0 : 2 * half : 2], sample[1 : 2 * half : 2]
    high = lambda part: (part.count(0) + part.count(6)) / half  # noqa: E731
    return max(high(even), high(odd)) > 0.9 and min(high(even), high(odd)) < 0.5


def looks_binary(data: bytes) -> bool:
    """Many NUL or control bytes mean a binary file (one stray NUL does not)."""
    sample = data[:8192]
    if not sample:
        return False
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return sample.count(0) > max(2, len(sample) // 1000) or controls / len(sample) > 0.05


def looks_binary_stream(sample: bytes) -> bool:
    """A stream of records (JSONL, CSV) looks binary as a whole (`looks_binary`) and in at least a tenth of its
    lines (LF or CR): one row holding NUL bytes is that row's error, not the whole file's, while a PDF (about
    three lines in ten binary, the rest ASCII) is still binary."""
    if not looks_binary(sample):
        return False
    lines = [line for line in re.split(rb"[\r\n]+", sample[:8192]) if line.strip()]
    return sum(map(looks_binary, lines)) * 10 >= len(lines)


def _mostly_utf8(sample: bytes) -> bool:
    """Invalid UTF-8, but most non-ASCII characters decode: UTF-8 with broken bytes, not a code page."""
    text = sample.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for c in text if ord(c) > 127) - bad
    return good > bad


def detect_encoding(sample: bytes, stream: bool = False) -> str:
    """Encoding of a file from its first bytes (BOM, UTF-8, or Windows-1256).

    For a ``stream`` of records, text that is neither clean UTF-8 nor Windows-1256
    Arabic is read as UTF-8 with its bad bytes marked, so each record holding one
    is reported on its own.
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if _looks_utf16(sample):
        raise DecodeError("UTF-16 without a byte-order mark; save it as UTF-8 (or UTF-16 with BOM)")
    if (looks_binary_stream if stream else looks_binary)(sample):
        raise DecodeError("binary data, not text")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)  # a sample may end inside a character
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(sample):
        return "utf-8"  # broken bytes are reported where they are, never re-read as Windows-1256
    text = sample.decode("cp1256", errors="replace")
    if "\ufffd" not in text and has_arabic(text, 0.5):
        return "cp1256"
    if stream:
        return "utf-8"
    raise DecodeError("not UTF-8, UTF-16 with BOM, or Windows-1256 Arabic text")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a whole file; return (text, encoding)."""
    encoding = detect_encoding(data[:SAMPLE_BYTES])
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise DecodeError(f"invalid {_name(encoding)} at byte {exc.start} (a broken byte in the text; "
                          "not re-read as another encoding)") from None


def find_invalid(text: str) -> int | None:
    """Index of the first lone surrogate (an undecodable byte, or a bad JSON escape), or None.

    Encoding fails at exactly that character, and encoding a text (C, about 1 ns a character) is much
    quicker than searching it with a regex, so a valid text is checked by encoding it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def safe_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so it can always be written."""
    return _SURROGATE.sub("\ufffd", text)


def text_lines(stream: BinaryIO, universal: bool = False) -> tuple[str, Iterator[str]]:
    """(encoding, lines) of a binary stream, decoded in chunks with bad bytes marked; lines keep their ending.

    With ``universal`` (CSV, as Python's ``newline=""`` reads it), a line ends at LF, CRLF or a lone CR, so old
    Mac files (Excel's "CSV (Macintosh)"), mixed endings and line breaks inside quoted cells all read right: the
    csv module joins the lines of a quoted cell again. Otherwise (JSONL) a line ends at LF, or at CR in a stream
    whose first 64 KB hold a CR and no LF (a raw CR inside a JSON string is then one broken row, not two)."""
    head = stream.read(SAMPLE_BYTES)
    encoding = detect_encoding(head, stream=True)
    return encoding, _lines(head, stream, encoding, universal)


_LINE_END = re.compile("\r\n|\r|\n")


def _lines(head: bytes, stream: BinaryIO, encoding: str, universal: bool) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors=MARK)
    pending, chunk, end = "", head, None
    while chunk:
        text = pending + decoder.decode(chunk)
        if universal:
            pending = yield from _universal(text)
        else:
            if end is None:
                end = "\r" if "\n" not in text and "\r" in text else "\n"
            *complete, pending = text.split(end)
            for line in complete:
                yield line + end
        chunk = stream.read(SAMPLE_BYTES)
    pending += decoder.decode(b"", final=True)
    if pending:  # the last line (with universal lines, perhaps ending with the CR kept back)
        yield pending


def _universal(text: str) -> Iterator[str]:
    """The complete lines of ``text`` (ending at CRLF, CR or LF); returns the rest. A CR at the very end is kept
    back: the next chunk may start with its LF."""
    start = 0
    for m in _LINE_END.finditer(text):
        if m.end() == len(text) and m.group() == "\r":
            break
        yield text[start:m.end()]
        start = m.end()
    return text[start:]


def _name(encoding: str) -> str:
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32", "cp1256": "Windows-1256"}.get(encoding, encoding)

