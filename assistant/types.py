"""The domain nouns: Document -> Chunk -> Passage (scored evidence) -> Citation -> Answer.

`Document` and `Chunk` are the indexer's (indexer/types.py), re-exported here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from indexer.types import Chunk, Document

__all__ = ["Answer", "Chunk", "Citation", "Document", "SearchResult", "place"]


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
    location: str = Field("", description=(
        "Where it is, as a reader would say it: 'page 3', 'slide 4', \"Sheet 'Budget', rows 12–18\"; '' for notes, "
        "Word files and web pages, which have no pages (`section` says where)."))


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=1)
    doc_id: str
    title: str
    source: str
    page: int
    section: str
    quote: str = Field(description="Verbatim text of the cited chunk.")
    location: str = Field("", description=(
        "Where it is, as a reader would say it: 'page 3', 'slide 4', \"Sheet 'Budget', rows 12–18\"; '' for notes, "
        "Word files and web pages, which have no pages (`section` says where)."))


def place(page: int, location: str) -> str:
    """A citation's place in one line of text: 'p. 3' for a page (or a file without pages), else its label
    ('slide 4', "Sheet 'Budget', rows 12–18")."""
    return location if location and not location.startswith("page ") else f"p. {page}"


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field("", description=(
        "Where the server keeps the answer: its id for GET /api/answers/{id}, the exports and POST /api/feedback "
        "(kept for POVQA_SERVER__KEEP_ANSWERS_DAYS); '' where nobody keeps it (the CLI, an in-process povqa eval)."))
    answer: str
    refused: bool
    question_language: str
    citations: list[Citation] = Field(default_factory=list)
    passages: list[SearchResult] = Field(default_factory=list)
    generator: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
