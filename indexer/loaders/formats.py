"""What the readers of Word, PowerPoint, web pages, spreadsheets and images share: what they return, the checks
an Office file passes before a library opens it, and the table from file suffix to reader.

An Office file (.docx, .pptx, .xlsx) is a zip of XML parts. Before python-docx, python-pptx or openpyxl sees one:
a password-protected file (an OLE container holding an `EncryptedPackage` stream, not a zip) or a renamed old
binary file (.doc, .ppt, .xls) gets its own line; a file that is not a zip is damaged; and a zip whose parts
would expand past `MAX_EXPANDED_BYTES` in all, or whose largest part expands more than `MAX_RATIO` times, is
refused as a zip bomb without being expanded (Python's zipfile never inflates a part past the size its
directory declares, so the declared sizes are a bound).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from indexer import clean
from indexer.loaders.model import Block, IngestError

#: An Office file whose parts would expand to more than this is refused (a zip bomb, or too large to read).
MAX_EXPANDED_BYTES = 1 << 30
#: ... and so is one with a part of over 10 MB that expands more than this many times (XML compresses 5-20x).
MAX_RATIO = 200
#: Parts that python-docx and python-pptx parse whole (as a tree in memory) may be at most this large.
MAX_PARSED_PART_BYTES = 100 << 20

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_OLD_FORMAT = {".docx": ".doc", ".pptx": ".ppt", ".xlsx": ".xls"}


@dataclass
class FormatRead:
    """What a reader found: the blocks of the file, how many pages (slides, row ranges) it has and, where a
    page is not a numbered page, what to call each one ('slide 4', "Sheet 'Budget', rows 12–18")."""

    kind: str
    title: str
    blocks: list[Block]
    page_count: int
    page_labels: list[str] = field(default_factory=list)
    ocr: str = ""  # the OCR engine that read pages of it ('tesseract 5.3.0'), 'none' when one was needed and absent


def check_office_zip(path: Path, app: str, parsed_whole: Callable[[str], bool] = lambda name: False) -> None:
    """IngestError unless `path` is an unencrypted Office zip that is safe to open (see the module's doc).
    `parsed_whole(part name)` says which parts the library reads into memory whole (limited in size)."""
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(8)
    if head == _OLE_MAGIC:
        if _holds(path, _ENCRYPTED_STREAM):
            raise IngestError(path, f"password-protected {app} file: open it in {app}, remove the password "
                                    "(File > Info > Protect) and save it again, then re-add it")
        raise IngestError(path, f"an old binary {app} file ({_OLD_FORMAT.get(suffix, 'OLE')}) named {suffix}: "
                                f"open it in {app} and save it as {suffix}")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError(path, f"not a readable {app} file (damaged, truncated or not really {suffix}: "
                                f"{_short(exc)}); save it again from {app}") from None
    total = sum(i.file_size for i in infos)
    worst = max(infos, key=lambda i: i.file_size / max(1, i.compress_size), default=None)
    ratio = worst.file_size / max(1, worst.compress_size) if worst else 0
    if total > MAX_EXPANDED_BYTES or (worst and worst.file_size > 10 << 20 and ratio > MAX_RATIO):
        raise IngestError(path, f"refused: its zip parts would expand to {total / 1e6:,.0f} MB "
                                f"({ratio:,.0f} times their packed size): a zip bomb, or too large to read")
    for info in infos:
        if parsed_whole(info.filename) and info.file_size > MAX_PARSED_PART_BYTES:
            raise IngestError(path, f"too large to read: its part {info.filename} is {info.file_size / 1e6:,.0f} MB "
                                    f"(at most {MAX_PARSED_PART_BYTES >> 20} MB); split the file")


def _holds(path: Path, needle: bytes, block: int = 1 << 20) -> bool:
    """Whether the file's bytes contain `needle`, read a block at a time."""
    tail = b""
    with open(path, "rb") as f:
        while data := f.read(block):
            if needle in tail + data:
                return True
            tail = data[-len(needle):]
    return False


def _short(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:160]


def text_of(value: object) -> str:
    """A cell's or a run's value as text: numbers without a spurious '.0', dates as ISO dates, spaces collapsed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".10g")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return clean.collapse_spaces(clean.normalize_unicode(str(value)).replace("\n", " "))


def row_text(header: list[str], values: list[str]) -> str:
    """A table row as `header: value` pairs ('Name: Wang Yan; Position: Senior Economist'); a value without a
    header stands alone; empty cells are left out."""
    parts = []
    for i, value in enumerate(values):
        if not value:
            continue
        name = header[i] if i < len(header) else ""
        parts.append(f"{name}: {value}" if name and name != value else value)
    return "; ".join(parts)


def table_blocks(rows: list[list[str]], page: int = 1) -> list[Block]:
    """A small table (Word, PowerPoint) as paragraphs: its first row is the header, each other row one
    paragraph of `header: value` pairs; a one-row or one-column table is its cells' text."""
    rows = [_dedupe_merged(r) for r in rows if any(r)]
    if not rows:
        return []
    if len(rows) == 1 or max(len(r) for r in rows) == 1:
        return [Block(page, "paragraph", "; ".join(v for v in r if v)) for r in rows]
    header = rows[0]
    return [Block(page, "paragraph", text) for r in rows[1:] if (text := row_text(header, r))]


def _dedupe_merged(row: list[str]) -> list[str]:
    """A merged cell appears once per column it spans: keep its first appearance."""
    out = []
    for i, value in enumerate(row):
        out.append("" if i and value and value == row[i - 1] else value)
    return out


_SPACE_RE = re.compile(r"\s+")


def paragraph_text(text: str) -> str:
    return clean.collapse_spaces(_SPACE_RE.sub(" ", clean.normalize_unicode(text or ""))).strip()



#: File suffix -> "module:function" of its reader under indexer.loaders (imported when a file needs it, so that
#: python-docx, openpyxl, trafilatura and Pillow load only for those files). PDFs and notes: `pdf`, `notes`.
FORMAT_READERS = {
    ".docx": "word:load_word", ".pptx": "slides:load_slides", ".html": "web:load_web_page",
    ".htm": "web:load_web_page", ".xlsx": "sheets:load_spreadsheet", ".csv": "sheets:load_csv",
    ".tsv": "sheets:load_csv", ".png": "scans:load_image", ".jpg": "scans:load_image", ".jpeg": "scans:load_image",
    ".tif": "scans:load_image", ".tiff": "scans:load_image",
}


def read_format(path: Path) -> FormatRead:
    """Read `path` with the reader of its suffix (one of FORMAT_READERS)."""
    import importlib

    module, _, function = FORMAT_READERS[path.suffix.lower()].partition(":")
    return getattr(importlib.import_module(f"indexer.loaders.{module}"), function)(path)
