"""A document's title: its PDF metadata title when that is a real one, else its first heading."""

from __future__ import annotations

import re
from pathlib import Path

from indexer import clean
from indexer.loaders.model import Block


_FILENAME_TITLE_RE = re.compile(r"\.(?:docx?|pdf|pptx?|xlsx?|txt|md|rtf|odt|indd|tex|html?)\s*$", re.IGNORECASE)
_JUNK_TITLES = {"untitled", "untitled document", "title", "document", "no title", "none", "unknown", "microsoft word"}


def meaningful_title(title: str | None, path: Path) -> str | None:
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


def title_from_blocks(blocks: list[Block]) -> str | None:
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
