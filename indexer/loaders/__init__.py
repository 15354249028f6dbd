"""Turn one file (PDF, text/Markdown note, Word, PowerPoint, web page, spreadsheet, CSV or image of a page) into a
cleaned, structured document.

``load_document(path)`` returns a :class:`LoadedDocument`: per-page cleaned text plus the
document's content as :class:`Block` s (headings and paragraphs, in reading order, with
the 1-based page each comes from). Running headers/footers, page numbers, table-of-contents
leaders and repeated pull-quote sentences are removed; words hyphenated across lines are
rejoined; Unicode is normalised without damaging CJK.

Invariant: every ``block.text`` occurs verbatim in ``pages[block.page - 1]`` (a page's text
is its blocks' texts joined by blank lines), so a quote taken from a block can always be
found and highlighted in the page text.

A file that cannot be indexed raises :class:`IngestError` with a one-line message
``'<file name>: <reason and what to do>'``; an unsupported extension raises
:class:`UnsupportedFile` (a subclass: callers report it as "skipped", not as a failure).

The modules: `pdf` (PDFs), `notes` (text and Markdown notes) with `decode` (a note's bytes to text),
`titles`, `blocks` (pull quotes and split sentences, for both kinds), `model` (what is returned, the errors);
`word`, `slides`, `web`, `sheets` and `scans` (OCR of scanned PDF pages and images, with `indexer.ocr`) for the
other formats, dispatched by suffix through `formats.FORMAT_READERS`.
Bump `indexer.format.LOADER_VERSION` whenever a change here changes what a file turns into.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from indexer.loaders.blocks import rejoin_split_sentences
from indexer.loaders.formats import FORMAT_READERS, read_format
from indexer.loaders.model import Block, IngestError, LoadedDocument, UnsupportedFile
from indexer.loaders.notes import load_note, segment_note, strip_markdown_inline
from indexer.loaders.pdf import load_pdf, segment_pdf_lines
from languages.detect import detect_language
from languages.scripts import is_cjk

__all__ = [
    "SUPPORTED_SUFFIXES", "Block", "IngestError", "LoadedDocument", "UnsupportedFile", "document_language",
    "file_sha256", "load_document", "rejoin_split_sentences", "segment_note", "segment_pdf_lines",
    "strip_markdown_inline",
]

SUPPORTED_SUFFIXES = {".pdf", ".md", ".markdown", ".txt", *FORMAT_READERS}
PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}


def load_document(path: Path) -> LoadedDocument:
    """Load, clean and structure one file. Raises IngestError / UnsupportedFile."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFile(
            path,
            f"unsupported file type '{suffix or '(no extension)'}'; skipped "
            f"(supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}; convert it to PDF or text to index it)",
        )
    try:
        st = path.stat()
    except FileNotFoundError:
        raise IngestError(path, "file not found; check the path") from None
    except OSError as e:
        raise IngestError(path, f"cannot read the file ({e.strerror or e}); check its permissions") from None
    if path.is_dir():
        raise IngestError(path, "is a folder, not a file")
    if st.st_size == 0:
        raise IngestError(path, "empty file (0 bytes): nothing to index; replace it with the complete document or remove it")
    try:
        digest = file_sha256(path)
    except OSError as e:
        raise IngestError(path, f"cannot read the file ({e.strerror or e}); check its permissions") from None

    labels, ocr = [], ""
    if suffix in PDF_SUFFIXES:
        kind = "pdf"
        title, blocks, page_count, ocr = load_pdf(path)
    elif suffix in FORMAT_READERS:  # Word, PowerPoint, web pages, spreadsheets, images: their blocks are final
        read = read_format(path)
        kind, title, blocks, page_count, labels, ocr = (read.kind, read.title, read.blocks, read.page_count,
                                                         read.page_labels, read.ocr)
    else:
        kind = "note"
        title, blocks, page_count = load_note(path, markdown=suffix in MARKDOWN_SUFFIXES)

    if suffix not in FORMAT_READERS:
        blocks = rejoin_split_sentences(blocks)
    pages = _pages_from_blocks(blocks, page_count)
    return LoadedDocument(
        path=path,
        kind=kind,
        title=title,
        page_count=page_count,
        pages=pages,
        blocks=blocks,
        language=document_language(blocks),
        sha256=digest,
        size=st.st_size,
        mtime=st.st_mtime,
        page_labels=labels,
        ocr=ocr,
    )


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes, read in 1 MiB blocks (the document's identity)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pages_from_blocks(blocks: list[Block], page_count: int) -> list[str]:
    per_page: list[list[str]] = [[] for _ in range(page_count)]
    for b in blocks:
        per_page[b.page - 1].append(b.text)
    return ["\n\n".join(texts) for texts in per_page]


def document_language(blocks: list[Block], min_letters: int = 20) -> str:
    """ISO 639-1 code of the dominant language (`languages.detect_language` on the first ~20k characters of the
    paragraphs), 'und' if there is too little text or no clear language."""
    paragraphs = [b.text for b in blocks if b.kind == "paragraph"] or [b.text for b in blocks]
    sample = ""
    for t in paragraphs:  # the first ~20k characters are plenty
        sample += t + "\n"
        if len(sample) > 20_000:
            break
    # a CJK character carries about as much as a short word: weigh it more
    if sum(c.isalpha() + 2 * is_cjk(c) for c in sample) < min_letters:
        return "und"
    return detect_language(sample, default="und")
