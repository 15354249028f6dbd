"""What a loader returns (`LoadedDocument` of `Block` s), and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class IngestError(Exception):
    """A file that cannot be indexed. ``str(err)`` is ONE clear line:
    ``'<file name>: <reason and what to do>'``."""

    def __init__(self, path: Path, reason: str):
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path.name}: {self.reason}")


class UnsupportedFile(IngestError):
    """The file's extension is not one we index: report it as skipped, not failed."""


@dataclass
class Block:
    page: int  # 1-based page number (always 1 for notes)
    kind: str  # "heading" or "paragraph"
    text: str  # cleaned text; a paragraph is one logical paragraph, a heading one line


@dataclass
class LoadedDocument:
    path: Path
    kind: str  # "pdf", "note", "word", "slides", "web", "sheet", "table" (CSV) or "image"
    title: str
    page_count: int
    pages: list[str]  # cleaned full text of each page (index i = page i+1)
    blocks: list[Block] = field(default_factory=list)
    language: str = "und"  # ISO 639-1 code (languages.detect), 'und' if too little text
    sha256: str = ""
    size: int = 0
    mtime: float = 0.0
    #: What to call each page where it is not a numbered page ('slide 4', "Sheet 'Budget', rows 12–18"); empty
    #: for PDFs, notes, Word files and web pages.
    page_labels: list[str] = field(default_factory=list)
    #: The OCR engine that read scanned pages of it ('tesseract 5.3.0'); 'none' when pages needed OCR and no
    #: engine was installed; '' when no page needed it.
    ocr: str = ""
