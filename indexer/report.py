"""What `povqa index` reports: a line per file, the totals, and progress hooks for a display."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FileReport:
    source: str
    status: str  # indexed | unchanged | skipped | failed | duplicate | removed
    pages: int = 0
    chunks: int = 0
    embedded: int = 0
    message: str = ""
    unit: str = "pages"  # what a page of this file is: "slides" of a deck, "row ranges" of a spreadsheet

    def line(self) -> str:
        if self.status in ("indexed", "unchanged"):
            extra = f", {self.embedded} embedded" if self.status == "indexed" else ""
            return f"{self.status:9} {self.source}: {self.pages} {self.unit}, {self.chunks} chunks{extra}"
        return f"{self.status:9} {self.source}: {self.message}"


@dataclass
class BuildReport:
    files: list[FileReport] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    embedded_chunks: int = 0
    embedded_texts: int = 0
    seconds: float = 0.0
    written: bool = False
    index_path: Path | None = None

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]


class BuildProgress:
    """Hooks for a progress display; the default does nothing."""

    def start_embedding(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def start_lexicon(self, total: int) -> None:
        """The corpus words to embed for the cross-lingual lexicon (then `advance` as they are done)."""

    def file_done(self, report: FileReport) -> None: ...
