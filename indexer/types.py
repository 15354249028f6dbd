"""The indexer's nouns: a Document (one indexed file) and its Chunks (`assistant.types` re-exports both)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: The collection of a file directly in the indexed folder.
DEFAULT_COLLECTION = "default"


def collection_of(source: str) -> str:
    """A file's collection: the first folder of its `source` below the indexed folder
    (`docs_corpus/<collection>/file.pdf`), DEFAULT_COLLECTION for a file directly in it."""
    first, sep, _ = source.partition("/")
    return first if sep and first else DEFAULT_COLLECTION


class Document(BaseModel):
    """One indexed file."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(description="Stable id derived from the file's content.")
    title: str
    source: str = Field(description="File name, relative to the indexed folder.")
    kind: str = Field(description="'pdf', 'note', 'word', 'slides', 'web', 'sheet', 'table' (CSV) or 'image'.")
    pages: int = Field(description="Page count: slides of a deck, row ranges of a spreadsheet; 1 for a note, a "
                                   "Word file or a web page.")
    chunks: int = 0
    language: str = Field(description="ISO 639-1 code of the dominant language, or 'und'.")
    sha256: str
    size: int
    mtime: float
    page_labels: list[str] = Field(default_factory=list, description=(
        "What each page is called where it is not a numbered page: 'slide 4', \"Sheet 'Budget', rows 12–18\"; "
        "empty for the other kinds."))
    ocr: str = Field("", description=(
        "The OCR engine that read scanned pages of the file ('tesseract 5.3.0'); 'none' when pages needed OCR and "
        "no engine was installed (the file is read again once one is); '' when no page needed it."))

    @property
    def collection(self) -> str:
        """The collection it belongs to: the first folder of its `source` ('reports' for docs_corpus/reports/a.pdf),
        'default' for a file directly in the indexed folder. Read from the source, not stored: moving a file to
        another folder moves it to another collection, and an index built before collections has them."""
        return collection_of(self.source)

    @property
    def page_unit(self) -> str:
        """What the file's pages are, in the `povqa index` lines: pages, slides or row ranges."""
        return {"slides": "slides", "sheet": "row ranges", "table": "row ranges"}.get(self.kind, "pages")

    def location(self, page: int) -> str:
        """Where `page` is, as a reader would say it: 'page 3', 'slide 4', "Sheet 'Budget', rows 12–18"; '' for
        kinds without pages (notes, Word files, web pages: their section heading says where)."""
        if 1 <= page <= len(self.page_labels):
            return self.page_labels[page - 1]
        if self.kind in ("pdf", "image"):
            return f"page {page}"
        if self.kind == "slides":
            return f"slide {page}"
        return ""


class Chunk(BaseModel):
    """A piece of one document, with its page range, section and sentence spans."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_id: str = Field(description="Short hash key, stable for the same document and text.")
    doc_id: str
    ord: int = Field(description="Position of the chunk within its document.")
    page_start: int = Field(ge=1)
    page_end: int = Field(ge=1)
    section: str = ""
    text: str
    sentences: list[tuple[int, int]] = Field(
        description="Character spans [start, end) of the sentences of `text`."
    )
    sentence_pages: list[int] = Field(description="Page of each sentence (same order as `sentences`).")

    def sentence_texts(self) -> list[str]:
        return [self.text[a:b] for a, b in self.sentences]

    @property
    def page(self) -> int:
        return self.page_start
