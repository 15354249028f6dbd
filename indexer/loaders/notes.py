"""Text and Markdown notes: decoded, split into headings and paragraphs, Markdown syntax removed."""

from __future__ import annotations

import re
from pathlib import Path

from indexer import clean
from indexer.loaders.blocks import drop_repeats
from indexer.loaders.decode import decode_text
from indexer.loaders.model import Block, IngestError


def load_note(path: Path, markdown: bool) -> tuple[str, list[Block], int]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(path, f"cannot read the file ({e.strerror or e}); check its permissions") from None
    text = decode_text(path, data)
    segs = segment_note(text, markdown=markdown)
    blocks = drop_repeats([Block(page=1, kind=k, text=t) for k, t in segs])
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
    note = _NoteBlocks(clean.vocabulary(lines), markdown)
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        i += 1
        if markdown and _MD_FENCE_RE.match(line):
            note.flush()
            in_fence = not in_fence
        elif not stripped:
            note.flush()
        elif in_fence:
            note.cur.append(stripped)
        elif markdown and (taken := note.markdown_line(line, stripped, nxt)):
            i += taken - 1  # a Setext heading's underline is read with it
        else:
            note.text_line(line, stripped)
    note.flush()
    return note.out


class _NoteBlocks:
    """`segment_note`'s blocks so far (`out`), and the lines of the paragraph being read (`cur`)."""

    def __init__(self, vocab: set[str], markdown: bool):
        self.vocab = vocab
        self.markdown = markdown
        self.out: list[tuple[str, str]] = []
        self.cur: list[str] = []
        self.cur_is_item = False

    def flush(self) -> None:
        """End the paragraph being read: its lines become one block (a heading when it is one short line)."""
        cur = self.cur
        if not cur:
            return
        # one line per paragraph (unwrapped text): every line is a paragraph
        groups = [[ln] for ln in cur] if any(len(ln) > 200 for ln in cur[:-1]) else [list(cur)]
        for g in groups:
            joined = clean.join_lines(g, self.vocab)
            if self.markdown:
                joined = strip_markdown_inline(joined)
            joined = clean.collapse_spaces(joined)
            if not joined:
                continue
            if len(g) == 1 and not self.cur_is_item and _is_note_heading(joined):
                self.out.append(("heading", joined))
            else:
                self.out.append(("paragraph", joined))
        cur.clear()
        self.cur_is_item = False

    def markdown_line(self, line: str, stripped: str, nxt: str) -> int:
        """Read a Markdown heading or rule: the number of lines it takes (2 for a Setext heading), 0 if it is
        not one."""
        m = _MD_HEADING_RE.match(line)
        if m:
            self.flush()
            h = clean.collapse_spaces(strip_markdown_inline(m.group(2)))
            if h:
                self.out.append(("heading", h))
            return 1
        if not self.cur and _MD_SETEXT_RE.match(nxt) and not _MD_BULLET_RE.match(line):
            h = clean.collapse_spaces(strip_markdown_inline(stripped))
            if h:
                self.out.append(("heading", h))
            return 2
        if _MD_RULE_RE.match(line):
            self.flush()
            return 1
        return 0

    def text_line(self, line: str, stripped: str) -> None:
        """Read a line of text: a bullet or numbered item starts a paragraph of its own."""
        b = _MD_BULLET_RE.match(line)
        if b and b.group(1).strip():
            self.flush()
            self.cur.append(b.group(1).strip())
            self.cur_is_item = True
            return
        if _MD_NUMBERED_RE.match(line):
            self.flush()
            self.cur.append(stripped)
            self.cur_is_item = True
            return
        self.cur.append(stripped)


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
