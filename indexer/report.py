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
    embedded_words: int = 0  # lexicon words embedded in this run (the others came from the previous index)
    seconds: float = 0.0
    written: bool = False
    index_path: Path | None = None

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]


class BuildProgress:
    """Hooks for a progress display over the whole run; the default does nothing.

    The run's work is counted in pages: those of the files read and embedded in this run (unchanged files cost
    nothing). `start(total)` gives the total and revises it while files are still being read (a file's pages are
    known once it is read; until then its bytes stand in for them), `advance(pages)` adds what is done (chunks
    embedded by every embedder, their sentences, their new lexicon words), `stage` names what runs after."""

    def start(self, total: float) -> None: ...

    def advance(self, pages: float) -> None: ...

    def stage(self, description: str) -> None: ...

    def file_done(self, report: FileReport) -> None: ...
