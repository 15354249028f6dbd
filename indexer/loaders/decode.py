"""The bytes of a text note to a string: byte-order marks, UTF-16 without one, legacy 8-bit encodings; binary
files refused."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from indexer.loaders.model import IngestError


def decode_text(path: Path, data: bytes) -> str:
    binary = "not a text file (binary content); save it as UTF-8 text (.txt/.md) or as a PDF"
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encodings = ["utf-32"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    elif b"\x00" in data:
        bom_less = _bom_less_utf16(data)
        if bom_less is None:
            raise IngestError(path, binary)
        encodings = [bom_less]
    else:
        encodings = ["utf-8"]
    for enc in encodings:
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        if encodings[0] != "utf-8":
            raise IngestError(path, binary)
        text = _decode_legacy(data)
        if text is None:
            raise IngestError(path, binary)
    if _looks_binary(text):
        raise IngestError(path, binary)
    return text.lstrip("\ufeff")


def _bom_less_utf16(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' for UTF-16 text saved without a byte-order mark (mostly Latin script: every
    other byte is zero), else None."""
    sample = data[:8192]
    sample = sample[: len(sample) // 2 * 2]
    if len(sample) < 8:
        return None
    odd_zero = sample[1::2].count(0) / (len(sample) // 2)
    even_zero = sample[0::2].count(0) / (len(sample) // 2)
    if odd_zero > 0.4 and even_zero < 0.05:
        return "utf-16-le"
    if even_zero > 0.4 and odd_zero < 0.05:
        return "utf-16-be"
    return None


def _decode_legacy(data: bytes) -> str | None:
    """Non-UTF-8 text: Windows-1252 / Latin-1 when the result reads like Latin text,
    else whatever charset-normalizer finds (GBK, Shift-JIS, cp1251, ...)."""
    try:
        latin = data.decode("cp1252")
    except UnicodeDecodeError:
        latin = data.decode("latin-1")
    if _plausible_latin(latin):
        return latin
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        return None
    return str(best)


_LATIN_PUNCT = set("–—‘’‚“”„…•€£¥©®°±×÷§¶«»¿¡·ªº²³¹½¼¾")


def _plausible_latin(text: str) -> bool:
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return True
    good = sum(1 for c in non_ascii if c in _LATIN_PUNCT or (c.isalpha() and ord(c) < 0x250))
    runs = re.findall(r"[^\x00-\x7f]+", text)
    mean_run = sum(map(len, runs)) / len(runs)
    return good / len(non_ascii) >= 0.9 and mean_run <= 1.6


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    sample = text[:100_000]
    bad = sum(
        1
        for c in sample
        if c == "\ufffd" or (unicodedata.category(c) in {"Cc", "Cs", "Co", "Cn"} and c not in "\t\n\r\f\v")
    )
    return bad / len(sample) > 0.01
