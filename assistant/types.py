"""The domain nouns: Document -> Chunk -> Passage (scored evidence) -> Citation -> Answer.

`Document` and `Chunk` are the indexer's (indexer/types.py), re-exported here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from indexer.types import Chunk, Document

__all__ = ["Answer", "Chunk", "Citation", "Document", "SearchResult"]


class SearchResult(BaseModel):
    """The public shape of one search hit (CLI --json and HTTP)."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str
    title: str
    source: str
    page: int
    section: str
    text: str
    score: float
    chunk_id: str | None = None


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=1)
    doc_id: str
    title: str
    source: str
    page: int
    section: str
    quote: str = Field(description="Verbatim text of the cited chunk.")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str
    refused: bool
    question_language: str
    citations: list[Citation] = Field(default_factory=list)
    passages: list[SearchResult] = Field(default_factory=list)
    generator: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
