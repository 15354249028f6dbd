"""Turn one file (PDF or text/Markdown note) into a cleaned, structured document.

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
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from indexer import clean

#: Bumped whenever cleaning or segmentation changes what a file turns into; recorded in the manifest,
#: so an incremental build re-reads files whose bytes did not change.
LOADER_VERSION = 2

SUPPORTED_SUFFIXES = {".pdf", ".md", ".markdown", ".txt"}
PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------- errors

class IngestError(Exception):
    """A file that cannot be indexed. ``str(err)`` is ONE clear line:
    ``'<file name>: <reason and what to do>'``."""

    def __init__(self, path: Path, reason: str):
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path.name}: {self.reason}")


class UnsupportedFile(IngestError):
    """The file's extension is not one we index: report it as skipped, not failed."""


# -------------------------------------------------------------------------- model

@dataclass
class Block:
    page: int  # 1-based page number (always 1 for notes)
    kind: str  # "heading" or "paragraph"
    text: str  # cleaned text; a paragraph is one logical paragraph, a heading one line


@dataclass
class LoadedDocument:
    path: Path
    kind: str  # "pdf" or "note"
    title: str
    page_count: int
    pages: list[str]  # cleaned full text of each page (index i = page i+1)
    blocks: list[Block] = field(default_factory=list)
    language: str = "und"  # ISO 639-1 code from py3langid ('und' if too little text)
    sha256: str = ""
    size: int = 0
    mtime: float = 0.0


# ---------------------------------------------------------------------- entry point

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

    if suffix in PDF_SUFFIXES:
        kind = "pdf"
        title, blocks, page_count = _load_pdf(path)
    else:
        kind = "note"
        title, blocks, page_count = _load_note(path, markdown=suffix in MARKDOWN_SUFFIXES)

    blocks = rejoin_split_sentences(blocks)
    pages = _pages_from_blocks(blocks, page_count)
    return LoadedDocument(
        path=path,
        kind=kind,
        title=title,
        page_count=page_count,
        pages=pages,
        blocks=blocks,
        language=detect_language(blocks),
        sha256=digest,
        size=st.st_size,
        mtime=st.st_mtime,
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


def detect_language(blocks: list[Block], min_letters: int = 20) -> str:
    """ISO 639-1 code of the dominant language (py3langid), 'und' if there is too little text."""
    paragraphs = [b.text for b in blocks if b.kind == "paragraph"] or [b.text for b in blocks]
    sample = ""
    for t in paragraphs:  # the first ~20k characters are plenty
        sample += t + "\n"
        if len(sample) > 20_000:
            break
    # a CJK character carries about as much as a short word: weigh it more
    if sum(c.isalpha() + 2 * clean.is_cjk(c) for c in sample) < min_letters:
        return "und"
    import py3langid as langid

    lang, _score = langid.classify(sample)
    return lang or "und"


# ------------------------------------------------------------------------------ PDF

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
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

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

    with _quiet_pypdf():
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

        title = None
        try:
            meta = reader.metadata
            if meta is not None:
                title = meta.title
                if title is not None and not isinstance(title, str):
                    title = str(title)
        except Exception:
            title = None
    return texts, title


def _short(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg[:160]


def _load_pdf(path: Path) -> tuple[str, list[Block], int]:
    raw_pages, meta_title = _read_pdf(path)
    page_count = len(raw_pages)

    letters = sum(sum(ch.isalnum() for ch in t) for t in raw_pages)
    if letters < max(20, 20 * page_count):
        raise IngestError(
            path,
            "no extractable text: looks like a scanned/image-only PDF; run OCR (e.g. ocrmypdf) first",
        )

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
    blocks = _drop_repeats(blocks)

    title = _meaningful_title(meta_title, path) or _title_from_blocks(blocks) or path.stem
    return title, blocks, page_count


_OPEN_END = re.compile(r"[\w,]$")


def rejoin_split_sentences(blocks: list[Block], reach: int = 2) -> list[Block]:
    """Rejoin a sentence that a pull quote or caption was spliced into.

    "... between China and most other" / <pull quote> / "developing countries is smaller ...":
    a paragraph that stops mid-sentence, followed within `reach` blocks on the same page by a
    paragraph that starts in lowercase, is one sentence (also when the pull quote was already
    dropped as a repeat and the two halves are adjacent); interposed blocks follow it.
    """
    out = list(blocks)
    i = 0
    while i < len(out):
        b = out[i]
        # at least 8 words: short lowercase list items ("- first bullet") are not sentence halves
        if b.kind == "paragraph" and _OPEN_END.search(b.text) and len(b.text.split()) >= 8:
            for j in range(i + 1, min(i + 1 + reach, len(out))):
                nxt = out[j]
                if nxt.page != b.page:
                    break
                if nxt.kind == "paragraph" and nxt.text[:1].islower():
                    out[i] = Block(b.page, b.kind, f"{b.text} {nxt.text}")
                    del out[j]
                    break
        i += 1
    return out


def _drop_repeats(blocks: list[Block]) -> list[Block]:
    """Drop repeated sentences (pull quotes) from paragraphs; empty paragraphs go."""
    paras = [b for b in blocks if b.kind == "paragraph"]
    for i in clean.contained_paragraphs([(b.page, b.text) for b in paras]):
        paras[i].text = ""
    paras = [b for b in paras if b.text]
    for b, text in zip(paras, clean.drop_repeated_sentences([b.text for b in paras])):
        b.text = text
    return [b for b in blocks if b.text]


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
    return c.isupper() or c.isdigit() or clean.is_cjk(c) or clean.bullet_text(nxt) is not None or c in "“\"('‘"


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


_FILENAME_TITLE_RE = re.compile(r"\.(?:docx?|pdf|pptx?|xlsx?|txt|md|rtf|odt|indd|tex|html?)\s*$", re.IGNORECASE)
_JUNK_TITLES = {"untitled", "untitled document", "title", "document", "no title", "none", "unknown", "microsoft word"}


def _meaningful_title(title: str | None, path: Path) -> str | None:
    """The PDF metadata title, unless it is empty, a placeholder or a file name."""
    if not title:
        return None
    t = clean.clean_text(title)
    t = re.sub(r"^microsoft (?:word|powerpoint|excel) - ", "", t, flags=re.IGNORECASE)
    if not t or _FILENAME_TITLE_RE.search(t) or t.lower() in _JUNK_TITLES:
        return None
    if t.lower().startswith("untitled"):
        return None
    if t.lower() in {path.stem.lower(), path.name.lower()}:
        return None
    if " " not in t and re.search(r"[_\\/]", t):
        return None  # looks like a file name without extension
    t = clean.clean_text(t.replace("_", " "))
    if sum(c.isalpha() for c in t) < 3:
        return None
    return t


def _title_from_blocks(blocks: list[Block]) -> str | None:
    """The first heading; when the document opens with several headings (cover page),
    the longest of them."""
    leading: list[str] = []
    for b in blocks[:8]:
        if b.kind != "heading":
            break
        leading.append(b.text)
    if leading:
        return max(leading, key=len)[:200]
    for b in blocks:
        if b.kind == "heading":
            return b.text[:200]
    return None


# ---------------------------------------------------------------------------- notes

def _decode_text(path: Path, data: bytes) -> str:
    binary = "not a text file (binary content); save it as UTF-8 text (.txt/.md) or as a PDF"
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encodings = ["utf-32"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    elif b"\x00" in data:
        bom_less = _bom_less_utf16(data)
        if bom_less is None:
            raise IngestError(path, binary)
        encodings = [bom_less]
    else:
        encodings = ["utf-8"]
    for enc in encodings:
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        if encodings[0] != "utf-8":
            raise IngestError(path, binary)
        text = _decode_legacy(data)
        if text is None:
            raise IngestError(path, binary)
    if _looks_binary(text):
        raise IngestError(path, binary)
    return text.lstrip("\ufeff")


def _bom_less_utf16(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' for UTF-16 text saved without a byte-order mark (mostly Latin script: every
    other byte is zero), else None."""
    sample = data[:8192]
    sample = sample[: len(sample) // 2 * 2]
    if len(sample) < 8:
        return None
    odd_zero = sample[1::2].count(0) / (len(sample) // 2)
    even_zero = sample[0::2].count(0) / (len(sample) // 2)
    if odd_zero > 0.4 and even_zero < 0.05:
        return "utf-16-le"
    if even_zero > 0.4 and odd_zero < 0.05:
        return "utf-16-be"
    return None


def _decode_legacy(data: bytes) -> str | None:
    """Non-UTF-8 text: Windows-1252 / Latin-1 when the result reads like Latin text,
    else whatever charset-normalizer finds (GBK, Shift-JIS, cp1251, ...)."""
    try:
        latin = data.decode("cp1252")
    except UnicodeDecodeError:
        latin = data.decode("latin-1")
    if _plausible_latin(latin):
        return latin
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        return None
    return str(best)


_LATIN_PUNCT = set("–—‘’‚“”„…•€£¥©®°±×÷§¶«»¿¡·ªº²³¹½¼¾")


def _plausible_latin(text: str) -> bool:
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return True
    good = sum(1 for c in non_ascii if c in _LATIN_PUNCT or (c.isalpha() and ord(c) < 0x250))
    runs = re.findall(r"[^\x00-\x7f]+", text)
    mean_run = sum(map(len, runs)) / len(runs)
    return good / len(non_ascii) >= 0.9 and mean_run <= 1.6


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    sample = text[:100_000]
    bad = sum(
        1
        for c in sample
        if c == "\ufffd" or (unicodedata.category(c) in {"Cc", "Cs", "Co", "Cn"} and c not in "\t\n\r\f\v")
    )
    return bad / len(sample) > 0.01


def _load_note(path: Path, markdown: bool) -> tuple[str, list[Block], int]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(path, f"cannot read the file ({e.strerror or e}); check its permissions") from None
    text = _decode_text(path, data)
    segs = segment_note(text, markdown=markdown)
    blocks = _drop_repeats([Block(page=1, kind=k, text=t) for k, t in segs])
    if not blocks:
        raise IngestError(path, "no text in the file (only blank lines or markup); add content or remove it")
    title = next((b.text for b in blocks if b.kind == "heading"), None)
    if title is None:
        first = blocks[0].text
        title = first if len(first) <= 100 else path.stem
    return title[:200], blocks, 1


_MD_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT_RE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_RULE_RE = re.compile(r"^\s{0,3}(?:(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,})$")
_MD_BULLET_RE = re.compile(r"^\s*[-*+•]\s+(.*)$")
_MD_NUMBERED_RE = re.compile(r"^\s*\d{1,3}[.)]\s+\S")
_MD_FENCE_RE = re.compile(r"^\s*(```|~~~)")


def segment_note(text: str, markdown: bool = True) -> list[tuple[str, str]]:
    """Split a note into ('heading'|'paragraph', text) blocks.

    Blank lines separate paragraphs, hard-wrapped lines are joined, bullets and numbered
    items are paragraphs of their own, '#' headings (Markdown) and short ALL-CAPS or
    Title-Case one-line paragraphs are headings. Markdown emphasis and link syntax are
    removed (``[text](url)`` -> ``text``, ``<https://x>`` -> ``https://x``).
    """
    lines = clean.normalize_unicode(text).split("\n")
    vocab = clean.vocabulary(lines)
    out: list[tuple[str, str]] = []
    cur: list[str] = []
    cur_is_item = False

    def flush() -> None:
        nonlocal cur_is_item
        if not cur:
            return
        # one line per paragraph (unwrapped text): every line is a paragraph
        groups = [[ln] for ln in cur] if any(len(ln) > 200 for ln in cur[:-1]) else [list(cur)]
        for g in groups:
            joined = clean.join_lines(g, vocab)
            if markdown:
                joined = strip_markdown_inline(joined)
            joined = clean.collapse_spaces(joined)
            if not joined:
                continue
            if len(g) == 1 and not cur_is_item and _is_note_heading(joined):
                out.append(("heading", joined))
            else:
                out.append(("paragraph", joined))
        cur.clear()
        cur_is_item = False

    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        i += 1
        if markdown and _MD_FENCE_RE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if not stripped:
            flush()
            continue
        if in_fence:
            cur.append(stripped)
            continue
        if markdown:
            m = _MD_HEADING_RE.match(line)
            if m:
                flush()
                h = clean.collapse_spaces(strip_markdown_inline(m.group(2)))
                if h:
                    out.append(("heading", h))
                continue
            if not cur and _MD_SETEXT_RE.match(nxt) and not _MD_BULLET_RE.match(line):
                h = clean.collapse_spaces(strip_markdown_inline(stripped))
                if h:
                    out.append(("heading", h))
                i += 1
                continue
            if _MD_RULE_RE.match(line):
                flush()
                continue
        b = _MD_BULLET_RE.match(line)
        if b and b.group(1).strip():
            flush()
            cur.append(b.group(1).strip())
            cur_is_item = True
            continue
        if _MD_NUMBERED_RE.match(line):
            flush()
            cur.append(stripped)
            cur_is_item = True
            continue
        cur.append(stripped)
    flush()
    return out


def _is_note_heading(text: str) -> bool:
    if clean.is_all_caps(text):
        return len(text) <= 80 and text[-1] not in ".,;!?"
    return clean.looks_like_heading(text, max_chars=80) and len(text.split()) <= 10


_ESCAPABLE = r"\\`*_{}\[\]()#+\-.!|~<>"
_PLACEHOLDER_BASE = 0xF0000  # supplementary private use area: never in real text


def strip_markdown_inline(text: str) -> str:
    """Remove Markdown inline syntax: emphasis, code, links, images, autolinks, HTML tags."""
    # protect backslash escapes
    text = re.sub(r"\\([" + _ESCAPABLE + "])", lambda m: chr(_PLACEHOLDER_BASE + ord(m.group(1))), text)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)  # images -> alt text
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # [text](url)
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)  # [text][ref]
    text = re.sub(r"<((?:https?|ftp)://[^>\s]+|mailto:[^>\s]+)>", r"\1", text)  # autolinks
    text = re.sub(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>", "", text)  # HTML tags
    text = re.sub(r"`+([^`]+?)`+", r"\1", text)
    text = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"\1", text)
    text = re.sub(r"__(?=\S)(.+?)(?<=\S)__", r"\1", text)
    text = re.sub(r"~~(?=\S)(.+?)(?<=\S)~~", r"\1", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", r"\1", text)
    # restore escapes
    text = re.sub(
        "[" + chr(_PLACEHOLDER_BASE) + "-" + chr(_PLACEHOLDER_BASE + 127) + "]",
        lambda m: chr(ord(m.group(0)) - _PLACEHOLDER_BASE),
        text,
    )
    return text
