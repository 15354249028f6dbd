"""PDFs: text extracted page by page (pypdf), running headers and tables of contents removed, lines grouped into
headings and paragraphs."""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from indexer import clean
from indexer.loaders.blocks import drop_repeats
from indexer.loaders.model import Block, IngestError
from indexer.loaders.scans import no_text_reason, ocr_scanned_pages
from indexer.loaders.titles import meaningful_title, title_from_blocks
from languages.scripts import is_cjk

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs warnings ('Ignoring wrong pointing object ...') for files it repairs on
    the fly; they are not errors for us."""
    logger = logging.getLogger("pypdf")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(old)


_DAMAGED = "not a readable PDF (damaged or truncated)"
_DAMAGED_HINT = "re-download or re-export the file"


def _read_pdf(path: Path) -> tuple[list[str], str | None]:
    """Extract the raw text of every page, one page object at a time.

    Returns (page texts, metadata title or None)."""
    _check_pdf_bytes(path)
    with _quiet_pypdf():
        reader = _open_pdf(path)
        texts = _page_texts(path, reader)
        title = _metadata_title(reader)
    return texts, title


def _check_pdf_bytes(path: Path) -> None:
    """A PDF header near the start and an end marker near the end, or IngestError."""
    with open(path, "rb") as f:
        head = f.read(1024)
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    if b"%PDF-" not in head:
        raise IngestError(path, f"{_DAMAGED}: no PDF header found (is it really a PDF?); {_DAMAGED_HINT}")
    if b"%%EOF" not in tail:
        raise IngestError(path, f"{_DAMAGED}: the file ends before the PDF end marker (%%EOF); {_DAMAGED_HINT}")


def _open_pdf(path: Path):
    """pypdf's reader of the file, decrypted when it has an empty password; IngestError otherwise."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PdfReadError

    try:
        reader = PdfReader(path)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as e:
        raise IngestError(path, f"{_DAMAGED}: {_short(e)}; {_DAMAGED_HINT}") from None
    except Exception as e:  # pypdf raises many kinds on junk input
        raise IngestError(path, f"{_DAMAGED}: {_short(e)}; {_DAMAGED_HINT}") from None

    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")
        except DependencyError:
            raise IngestError(
                path, "encrypted PDF that needs the 'cryptography' package to open; install it or remove the encryption and re-add it"
            ) from None
        except Exception as e:
            raise IngestError(path, f"encrypted PDF that cannot be opened ({_short(e)}); remove the password and re-add it") from None
        if not ok:
            raise IngestError(path, "encrypted PDF: remove the password and re-add it")
    return reader


def _page_texts(path: Path, reader) -> list[str]:
    """The text of each page ('' for a page that cannot be read); IngestError when there is none to read."""
    from pypdf.errors import FileNotDecryptedError

    try:
        n = len(reader.pages)
    except FileNotDecryptedError:
        raise IngestError(path, "encrypted PDF: remove the password and re-add it") from None
    except Exception as e:
        raise IngestError(path, f"{_DAMAGED}: cannot read its page list ({_short(e)}); {_DAMAGED_HINT}") from None
    if n == 0:
        raise IngestError(path, f"{_DAMAGED}: it has no pages; {_DAMAGED_HINT}")

    texts: list[str] = []
    failures = 0
    for i in range(n):
        try:
            page = reader.pages[i]
            texts.append(page.extract_text() or "")
        except FileNotDecryptedError:
            raise IngestError(path, "encrypted PDF: remove the password and re-add it") from None
        except Exception as e:  # one bad page should not lose the document
            failures += 1
            log.warning("%s: page %d could not be read (%s); skipped", path.name, i + 1, _short(e))
            texts.append("")
        finally:
            page = None  # noqa: F841  (do not keep page objects alive)
    if failures == n:
        raise IngestError(path, f"{_DAMAGED}: no page could be read; {_DAMAGED_HINT}")
    return texts


def _metadata_title(reader) -> str | None:
    """The title in the PDF's metadata, if it has one that can be read."""
    title = None
    try:
        meta = reader.metadata
        if meta is not None:
            title = meta.title
            if title is not None and not isinstance(title, str):
                title = str(title)
    except Exception:
        title = None
    return title


def _short(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg[:160]


def load_pdf(path: Path) -> tuple[str, list[Block], int, str]:
    """(title, blocks, page count, the OCR engine that read its scanned pages: see `scans.ocr_scanned_pages`)."""
    raw_pages, meta_title = _read_pdf(path)
    raw_pages, ocr = ocr_scanned_pages(path, raw_pages)
    page_count = len(raw_pages)

    letters = sum(sum(ch.isalnum() for ch in t) for t in raw_pages)
    if letters < max(20, 20 * page_count):
        raise IngestError(path, no_text_reason(ocr))
    title, blocks = blocks_from_pages(path, raw_pages, meta_title)
    return title, blocks, page_count, ocr


def blocks_from_pages(path: Path, raw_pages: list[str], meta_title: str | None) -> tuple[str, list[Block]]:
    """(title, blocks) of a PDF's raw page texts (or OCR'd pages): running lines stripped, lines joined into
    headings and paragraphs, repeated pull quotes dropped."""
    pages_lines = [[clean.collapse_spaces(ln) for ln in clean.normalize_unicode(t).split("\n")] for t in raw_pages]
    running = clean.find_running_lines(pages_lines)
    pages_lines = [clean.strip_running_lines(lines, running) for lines in pages_lines]
    vocab = clean.vocabulary("\n".join(lines) for lines in pages_lines)
    doc_width = _typical_width([ln for lines in pages_lines for ln in lines])

    blocks: list[Block] = []
    for pno, lines in enumerate(pages_lines, start=1):
        page_width = _typical_width(lines) if sum(len(ln) >= 30 for ln in lines) >= 8 else doc_width
        for kind, text in segment_pdf_lines(lines, page_width, vocab):
            blocks.append(Block(page=pno, kind=kind, text=text))
    blocks = drop_repeats(blocks)

    title = meaningful_title(meta_title, path) or title_from_blocks(blocks) or path.stem
    return title, blocks


def _typical_width(lines: list[str]) -> int:
    """The length of a full line of body text (90th percentile of line lengths)."""
    lengths = sorted(len(ln) for ln in lines if len(ln) >= 10)
    if not lengths:
        return 80
    return max(40, lengths[int(0.9 * (len(lengths) - 1))])


_CONNECTOR_END = re.compile(r"(?:[&,:/–-]|\b(?:and|of|the|for|to|in|on|with|a|an|or|at|by|de|et))$", re.IGNORECASE)
# Markdown link syntax that made it into a PDF verbatim: "[text](#)" -> "text"
_MD_LINK_IN_PDF_RE = re.compile(r"\[([^\[\]]+)\]\((?:#[^)\s]*|https?://[^)\s]*)\)")
_CONTENTS_RE = re.compile(r"^(?:table of )?contents$", re.IGNORECASE)


def segment_pdf_lines(lines: list[str], width: int, vocab: set[str] | None = None) -> list[tuple[str, str]]:
    """Group the cleaned lines of one page into ('heading'|'paragraph', text) blocks.

    A paragraph ends at a blank line, before a bullet, a numbered item or a heading, and
    after a line that ends a sentence while being clearly shorter than a full line.
    """
    lines = _drop_toc(lines)
    out: list[tuple[str, str]] = []
    cur: list[str] = []

    def flush() -> None:
        if cur:
            text = clean.join_lines(cur, vocab)
            text = _MD_LINK_IN_PDF_RE.sub(lambda m: m.group(1).replace("\\(", "(").replace("\\)", ")"), text)
            if text:
                out.append(("paragraph", text))
            cur.clear()

    def prev_ends_paragraph() -> bool:
        if not cur:
            return True
        last = cur[-1]
        return _ends_sentence(last) or (len(last) < 0.8 * width and not _CONNECTOR_END.search(last))

    for i, line in enumerate(lines):
        if not line:
            flush()
            continue
        nxt = next((ln for ln in lines[i + 1:] if ln), None)

        bullet = clean.bullet_text(line)
        if bullet is not None:
            flush()
            cur.append(bullet)
            continue

        if _is_pdf_heading(line, width, nxt) and prev_ends_paragraph():
            flush()
            if out and out[-1][0] == "heading" and _continues_heading(out[-1][1], line, width):
                out[-1] = ("heading", clean.join_lines([out[-1][1], line], vocab))
            else:
                out.append(("heading", line))
            continue

        if clean.is_numbered_item(line) and prev_ends_paragraph():
            flush()

        cur.append(line)
        if _ends_sentence(line) and len(line) < 0.8 * width:
            flush()
        elif (
            len(line) < 0.65 * width
            and nxt is not None
            and (nxt[0].isupper() or nxt[0].isdigit() or clean.bullet_text(nxt) is not None)
            and not _CONNECTOR_END.search(line)
        ):
            flush()  # a short line that does not reach the margin ends its paragraph
    flush()
    return out


def _ends_sentence(line: str) -> bool:
    s = line.rstrip("”\"'’)]）」")
    return bool(s) and s[-1] in clean.TERMINAL


def _is_pdf_heading(line: str, width: int, nxt: str | None) -> bool:
    caps = clean.is_all_caps(line)
    if not caps and len(line) > 0.75 * width:
        return False
    if not clean.looks_like_heading(line, max_chars=150 if caps else 100):
        return False
    if nxt is None:
        return True
    c = nxt[0]
    return c.isupper() or c.isdigit() or is_cjk(c) or clean.bullet_text(nxt) is not None or c in "“\"('‘"


def _continues_heading(prev: str, line: str, width: int) -> bool:
    """A heading wrapped over two lines ('... NOTE &' + 'USER GUIDE')."""
    if _CONNECTOR_END.search(prev):
        return True
    return clean.is_all_caps(prev) and clean.is_all_caps(line) and len(prev) >= 0.6 * width


def _drop_toc(lines: list[str]) -> list[str]:
    """Remove table-of-contents entries (lines with dot leaders), their wrapped first
    parts and the 'Contents' title; a TOC repeats the headings and has no content."""
    toc = [clean.is_toc_line(ln) for ln in lines]
    if sum(toc) < 2:
        return [clean.strip_toc_leaders(ln) if t else ln for ln, t in zip(lines, toc)]
    drop = list(toc)
    nonempty = [i for i, ln in enumerate(lines) if ln]
    for k, i in enumerate(nonempty):
        if drop[i]:
            continue
        prev_i = nonempty[k - 1] if k > 0 else None
        next_i = nonempty[k + 1] if k + 1 < len(nonempty) else None
        if _CONTENTS_RE.match(lines[i]) and next_i is not None and toc[next_i]:
            drop[i] = True
        elif next_i is not None and toc[next_i] and prev_i is not None and (toc[prev_i] or _CONTENTS_RE.match(lines[prev_i])):
            drop[i] = True  # first line of an entry wrapped over two lines
    return [ln for ln, d in zip(lines, drop) if not d]
