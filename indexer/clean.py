"""Pure text-cleaning helpers shared by the loaders.

Everything here works on plain strings (no I/O), so it can be tested in isolation:

* Unicode normalisation that is safe for CJK (ligatures, odd spaces, soft hyphens,
  zero-width characters, Kangxi radicals, NFC -- never NFKC on the whole text);
* running header / footer and page-number detection over the lines of many pages;
* joining words hyphenated across line ends, with evidence from the document's own
  vocabulary;
* heading / bullet / table-of-contents line recognition.

Repeated sentences and paragraphs (pull quotes) are found by indexer/repeats.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from languages.scripts import is_cjk

# --------------------------------------------------------------------------- unicode

LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",  # long s + t
    "\ufb06": "st",
}

# Characters that are some kind of space: become a plain space.
_ODD_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t\x0b\x0c"
# Invisible characters that only get in the way of matching: removed.
_INVISIBLE = "\u00ad\u200b\u2060\ufeff\u180e"

_TRANSLATE = {ord(k): v for k, v in LIGATURES.items()}
_TRANSLATE.update({ord(c): " " for c in _ODD_SPACES})
_TRANSLATE.update({ord(c): None for c in _INVISIBLE})
_TRANSLATE[ord("\r")] = "\n"


def _kangxi(ch: str) -> str:
    # Kangxi radicals and CJK radical supplement (U+2E80-U+2FDF) are look-alikes that PDF
    # fonts emit instead of the unified ideograph ("⼿" for "手"): map only these with NFKC.
    return unicodedata.normalize("NFKC", ch)


_KANGXI_RE = re.compile("[\u2e80-\u2fdf]")
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def normalize_unicode(text: str) -> str:
    """Expand ligatures, normalise spaces, drop soft hyphens / zero-width characters and
    control characters, map Kangxi radicals to ideographs, then NFC.

    Line breaks are kept (``\\r\\n`` and ``\\r`` become ``\\n``); full-width CJK
    punctuation is untouched (that is why this is NFC and not NFKC).
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n")
    text = text.translate(_TRANSLATE)
    text = _CONTROL_RE.sub("", text)
    text = _KANGXI_RE.sub(lambda m: _kangxi(m.group(0)), text)
    return unicodedata.normalize("NFC", text)


_WS_RE = re.compile(r"[ \t]+")


def collapse_spaces(line: str) -> str:
    """Collapse runs of spaces in one line and strip it."""
    return _WS_RE.sub(" ", line).strip()


def clean_text(text: str) -> str:
    """Normalise Unicode and collapse every run of whitespace (newlines included) to one space."""
    return " ".join(normalize_unicode(text).split())


# ----------------------------------------------------------------------- joining

_HYPHEN_END_RE = re.compile(r"(\w+)-$")
_WORD_START_RE = re.compile(r"^(\w+)")
_TOKEN_RE = re.compile(r"\w+(?:-\w+)*")


def vocabulary(texts: Iterable[str]) -> set[str]:
    """Lower-case words and inline hyphenated compounds seen in ``texts`` (evidence for
    :func:`join_hyphenated`). Words split at a line end are not counted as compounds."""
    vocab: set[str] = set()
    for text in texts:
        for line in text.split("\n"):
            tokens = _TOKEN_RE.findall(line.lower())
            if line.rstrip().endswith("-") and tokens:
                tokens = tokens[:-1]  # the last token is cut by the line break
            vocab.update(tokens)
    return vocab


def join_hyphenated(left: str, right: str, vocab: set[str] | None = None) -> str | None:
    """If ``left`` ends with a word hyphenated at the line end, return the joined text of
    the two lines; else None.

    The hyphen is kept when the next part starts with an upper-case letter or a digit
    ("South-" + "South" -> "South-South"), when the first part is a number, or when the
    document itself writes the compound with a hyphen and never without one
    ("custom-" + "built" -> "custom-built" if "custom-built" occurs elsewhere). Otherwise
    it is a typographic break and the word is rejoined ("pov-" + "erty" -> "poverty").
    """
    m = _HYPHEN_END_RE.search(left)
    if not m or left.endswith("--"):
        return None
    r = _WORD_START_RE.match(right)
    if not r:
        return None
    a, b = m.group(1), r.group(1)
    first = b[0]
    keep = (
        first.isupper()
        or first.isdigit()
        or a[-1].isdigit()
        or (
            vocab is not None
            and f"{a}-{b}".lower() in vocab
            and f"{a}{b}".lower() not in vocab
        )
    )
    if keep:
        return left + right
    return left[:-1] + right


def join_lines(lines: Sequence[str], vocab: set[str] | None = None) -> str:
    """Join the hard-wrapped lines of one paragraph into one line."""
    out = ""
    for raw in lines:
        line = collapse_spaces(raw)
        if not line:
            continue
        if not out:
            out = line
            continue
        joined = join_hyphenated(out, line, vocab)
        if joined is not None:
            out = joined
        elif is_cjk(out[-1]) and is_cjk(line[0]):
            out = out + line
        else:
            out = out + " " + line
    return out


# ---------------------------------------------------------- headers, footers, numbers

_PAGE_NUM_RE = re.compile(
    r"^(?:page|p\.|pg\.?|seite|página|第)?\s*[-–—\[(]?\s*"
    r"(?:\d{1,5}|[ivxlcdm]{1,7})"
    r"\s*[-–—\])]?\s*(?:(?:of|/|de|von|sur)\s*\d{1,5})?\s*页?$",
    re.IGNORECASE,
)


def is_page_number_line(line: str) -> bool:
    """'3', '- 3 -', 'Page 3 of 13', '[3]', 'iv', '3 / 13'."""
    s = line.strip()
    return bool(s) and len(s) <= 20 and bool(_PAGE_NUM_RE.match(s))


def line_key(line: str) -> str:
    """Comparison key for running headers: lower case, digits folded, spaces collapsed."""
    s = re.sub(r"\d+", "#", line.lower())
    return " ".join(s.split())


def find_running_lines(
    pages_lines: Sequence[Sequence[str]], zone: int = 4, min_share: float = 0.5
) -> set[str]:
    """Keys (see :func:`line_key`) of lines that repeat near the top or bottom of many pages.

    A line counts when it is among the first or last ``zone`` non-empty lines of a page and
    its key occurs on at least ``min_share`` of the pages (and on at least 2 pages; on 3 or
    more when the document has 6 pages or more).
    """
    n = len(pages_lines)
    if n < 2:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages_lines:
        nonempty = [ln for ln in lines if ln.strip()]
        zone_lines = nonempty[:zone] + nonempty[-zone:] if len(nonempty) > zone else nonempty
        counts.update({line_key(ln) for ln in zone_lines if len(line_key(ln)) >= 2})
    need = max(2 if n < 6 else 3, int(min_share * n + 0.999))
    return {k for k, c in counts.items() if c >= need and k.strip("# ")}


def strip_running_lines(lines: Sequence[str], running: set[str], zone: int = 4) -> list[str]:
    """Remove running header/footer lines and page-number lines from the top and bottom
    ``zone`` non-empty lines of one page."""
    idx = [i for i, ln in enumerate(lines) if ln.strip()]
    zone_idx = set(idx[:zone]) | set(idx[-zone:])
    drop = {i for i in zone_idx if line_key(lines[i]) in running or is_page_number_line(lines[i])}
    # a running header broken over two lines on one page ("VERSION 1.4 |" + "TITLE")
    for a, b in zip(idx, idx[1:]):
        if a in zone_idx and b in zone_idx and line_key(lines[a] + " " + lines[b]) in running:
            drop.update((a, b))
    return [ln for i, ln in enumerate(lines) if i not in drop]


# ----------------------------------------------------------- headings, bullets, TOC

_TOC_RE = re.compile(r"(?:\s?[.·…_]){4,}\s*(?:\d{1,4}|[ivxlc]{1,6})\s*$", re.IGNORECASE)
_BULLET_RE = re.compile(r"^\s*(?:[•●▪◦■□▫‣⁃∙·–—*+-]|o(?=\s+[A-Z(“\"]))\s+")
_NUMBERED_ITEM_RE = re.compile(r"^\s*(?:\d{1,2}|[a-z])[.)]\s+\S")
_NUMBERED_HEADING_RE = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,5}\.|[A-Z]\.)\s+(?=\S)")
_MINOR_WORDS = {
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or",
    "the", "to", "with", "vs", "via", "per", "its", "de", "la", "le", "et", "du", "des", "y",
    "en", "el", "und", "der", "die", "das",
}
TERMINAL = ".!?:;。！？；："


def is_toc_line(line: str) -> bool:
    """A table-of-contents entry with dot leaders: 'Introduction ........ 3'."""
    return bool(_TOC_RE.search(line))


def strip_toc_leaders(line: str) -> str:
    """'Introduction ........ 3' -> 'Introduction'."""
    return _TOC_RE.sub("", line).rstrip()


def bullet_text(line: str) -> str | None:
    """The text of a bullet line without its marker, or None if it is not a bullet."""
    m = _BULLET_RE.match(line)
    if not m:
        return None
    rest = line[m.end():].strip()
    return rest or None


def is_numbered_item(line: str) -> bool:
    return bool(_NUMBERED_ITEM_RE.match(line))


def is_all_caps(text: str) -> bool:
    cased = [c for c in text if c.isupper() or c.islower()]
    return len(cased) >= 2 and all(c.isupper() for c in cased)


def is_title_case(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    if not words:
        return False
    significant = [w for w in words if w.lower() not in _MINOR_WORDS]
    if not significant:
        return False
    caps = sum(1 for w in significant if w[0].isupper())
    return caps / len(significant) >= 0.75 and words[0][0].isupper()


def looks_like_heading(line: str, max_chars: int = 100) -> bool:
    """Short line, no final sentence punctuation, and either ALL CAPS, Title Case or
    numbered ("2.1 Something", "II. Something")."""
    s = line.strip()
    if not s or len(s) > max_chars or len(s) < 2:
        return False
    if s[-1] in ".,;!?。，；！" or s[-1] == ":" and not is_all_caps(s):
        return False
    if not any(c.isalpha() for c in s):
        return False
    first = s[0]
    if not (first.isupper() or first.isdigit() or is_cjk(first) or first in "“\"'("):
        return False
    if is_all_caps(s):
        return True
    if _NUMBERED_HEADING_RE.match(s):
        rest = _NUMBERED_HEADING_RE.sub("", s, count=1)
        return len(s) <= 90 and bool(rest) and (rest[0].isupper() or is_cjk(rest[0]))
    return is_title_case(s) and len(s.split()) <= 12
