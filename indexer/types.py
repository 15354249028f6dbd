"""The indexer's nouns: a Document (one indexed file) and its Chunks (`assistant.types` re-exports both)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Document(BaseModel):
    """One indexed file."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(description="Stable id derived from the file's content.")
    title: str
    source: str = Field(description="File name, relative to the indexed folder.")
    kind: str = Field(description="'pdf' or 'note'.")
    pages: int = Field(description="Page count (1 for a note).")
    chunks: int = 0
    language: str = Field(description="ISO 639-1 code of the dominant language, or 'und'.")
    sha256: str
    size: int
    mtime: float


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
