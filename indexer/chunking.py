"""Structure-aware chunking: headings and paragraphs in, chunks with pages, section and sentence spans out.

A chunk never crosses documents or sections. Paragraphs are packed up to a target
size; a paragraph longer than the maximum is cut at sentence boundaries; the last
`overlap_sentences` sentences of a chunk open the next one of the same section.
Every sentence keeps the page it came from, so a citation names the right page
even when a chunk runs across a page break.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from indexer.config import ChunkingSettings
from indexer.text import split_sentences
from indexer.types import Chunk

# Bump indexer.format.CHUNKER_VERSION whenever chunk boundaries change for the same input.

_SECTION_MAX_CHARS = 160


@dataclass
class _Sentence:
    para_text: str  # the whole paragraph, so chunk text is sliced from it verbatim
    start: int
    end: int
    page: int
    para: int  # index of the paragraph it belongs to

    @property
    def text(self) -> str:
        return self.para_text[self.start : self.end]


def chunk_id_for(doc_id: str, ord_: int, text: str) -> str:
    return hashlib.sha1(f"{doc_id}\x1f{ord_}\x1f{text}".encode()).hexdigest()[:16]


def chunk_blocks(doc_id: str, blocks: Iterable, settings: ChunkingSettings) -> list[Chunk]:
    """Chunk a document's blocks (objects with `.page`, `.kind` 'heading'|'paragraph', `.text`)."""
    chunks: list[Chunk] = []
    section = ""
    section_sentences: list[_Sentence] = []
    para_counter = 0

    def flush_section() -> None:
        if section_sentences:
            _pack(doc_id, section, section_sentences, settings, chunks)
            section_sentences.clear()

    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if block.kind == "heading":
            flush_section()
            section = text[:_SECTION_MAX_CHARS]
            continue
        para_counter += 1
        for a, b in split_sentences(text):
            for a2, b2 in _cut_long(text, a, b, settings.max_chars):
                section_sentences.append(_Sentence(text, a2, b2, block.page, para_counter))
    flush_section()
    return chunks


def _cut_long(text: str, start: int, end: int, limit: int) -> Iterable[tuple[int, int]]:
    """Cut a run-on "sentence" (tables, lists without punctuation) into pieces of at most `limit` chars."""
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        if cut <= start:
            cut = start + limit  # no space (CJK, URLs): hard cut
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


def _pack(doc_id: str, section: str, sentences: list[_Sentence], settings: ChunkingSettings, out: list[Chunk]) -> None:
    current: list[_Sentence] = []
    size = 0
    fresh = 0  # sentences in `current` that are not overlap from the previous chunk

    def emit() -> None:
        nonlocal current, size, fresh
        out.append(_make_chunk(doc_id, len(out), section, current))
        keep = current[-settings.overlap_sentences :] if settings.overlap_sentences else []
        # Don't carry overlap that would itself fill most of the next chunk.
        if sum(len(s.text) for s in keep) > settings.target_chars // 2:
            keep = []
        current = list(keep)
        size = sum(len(s.text) + 1 for s in current)
        fresh = 0

    for sentence in sentences:
        length = len(sentence.text) + 1
        new_paragraph = bool(current) and current[-1].para != sentence.para
        over_target = size + length > settings.target_chars
        # Prefer to break between paragraphs once past the target; inside a paragraph only
        # once halfway from the target to the maximum.
        over_soft_max = size + length > (settings.target_chars + settings.max_chars) // 2
        if fresh and ((new_paragraph and over_target) or over_soft_max):
            emit()
        current.append(sentence)
        size += length
        fresh += 1
    if fresh:
        out.append(_make_chunk(doc_id, len(out), section, current))


def _make_chunk(doc_id: str, ord_: int, section: str, sentences: list[_Sentence]) -> Chunk:
    # Group consecutive sentences by paragraph; each group is one verbatim slice of its paragraph.
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pages: list[int] = []
    offset = 0
    i = 0
    while i < len(sentences):
        j = i
        while j + 1 < len(sentences) and sentences[j + 1].para == sentences[i].para:
            j += 1
        first, last = sentences[i], sentences[j]
        if parts:
            parts.append("\n\n")
            offset += 2
        base = offset - first.start
        parts.append(first.para_text[first.start : last.end])
        for sentence in sentences[i : j + 1]:
            spans.append((base + sentence.start, base + sentence.end))
            pages.append(sentence.page)
        offset += last.end - first.start
        i = j + 1
    text = "".join(parts)
    return Chunk(
        chunk_id=chunk_id_for(doc_id, ord_, text),
        doc_id=doc_id,
        ord=ord_,
        page_start=min(pages),
        page_end=max(pages),
        section=section,
        text=text,
        sentences=spans,
        sentence_pages=pages,
    )
