"""A library of 1,000+ pages made from the real documents, for the indexing benchmark (bench/index_speed.py).

    python -m bench.big_corpus [--pages 1000] [--out DIR]      # prints the folder; reuses it when it exists

The material is the real PDFs of `docs_corpus/` and `../shared/corpus/` (four PDFs, 56 pages), each copied
until the pages reach the target (18 copies, 1,008 pages). povqa indexes a file once per content, so every
copy is varied: copy k of a PDF is a new PDF (fpdf2, DejaVu Sans 9 pt, one output page per source page) of the
page texts as povqa reads them (`load_document(...).pages`), each page's lines rotated by k (its last k lines
moved to the top) and every digit d of a number written as (d + k) mod 10, the title ending in "(copy k)".
Characters DejaVu has no glyph for (the Chinese names in the CAITEC annex) are left out. Copy 0 is each PDF as
it is. With --notes the notes (.md, .txt) come too, varied the same way (paragraphs rotated, digits shifted);
they are left out by default because a note counts as one page whatever its length (the two notes are 110
chunks), which would make pages/s meaningless.

The folder is cached under the output folder by the target and this file's version, so reruns are cheap.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from bench.common import ROOT, WORK

SOURCES = [ROOT / "docs_corpus", ROOT.parent / "shared" / "corpus"]
VERSION = 2
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_DIGIT = re.compile(r"\d")


def vary(lines: list[str], k: int) -> list[str]:
    """Copy k of a page's (or note's) lines: rotated by k, every digit shifted by k."""
    if k == 0 or not lines:
        return lines
    r = k % len(lines)
    rotated = lines[-r:] + lines[:-r] if r else lines
    return [_DIGIT.sub(lambda m: str((int(m.group()) + k) % 10), line) for line in rotated]


def _sources() -> tuple[list[Path], list[Path]]:
    pdfs: dict[str, Path] = {}
    notes: dict[str, Path] = {}
    for folder in SOURCES:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() == ".pdf":
                pdfs.setdefault(path.name, path)
            elif path.suffix.lower() in (".md", ".txt") and path.name != "SOURCES.md":
                notes.setdefault(path.name, path)
    return list(pdfs.values()), list(notes.values())


def _write_pdf(path: Path, title: str, pages: list[str], k: int) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.set_font("DejaVu", size=9)
    pdf.set_title(f"{title} (copy {k})")
    for text in pages:
        pdf.add_page()
        lines = vary([line for line in text.splitlines() if line.strip()], k)
        cmap = pdf.current_font.cmap
        body = "\n".join("".join(ch for ch in line if ord(ch) in cmap) for line in lines)
        pdf.multi_cell(0, 3.6, body, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def build(target_pages: int = 1000, out: Path | None = None, with_notes: bool = False) -> Path:
    """The folder of copies holding at least `target_pages` pages (made once, then reused)."""
    from indexer.loaders import load_document

    folder = (out or WORK) / f"big-corpus-{target_pages}{'-notes' if with_notes else ''}-v{VERSION}"
    if (folder / "DONE").exists():
        return folder
    pdfs, notes = _sources()
    notes = notes if with_notes else []
    loaded = [(path, load_document(path)) for path in pdfs]
    per_copy = sum(doc.page_count for _, doc in loaded) + len(notes)
    copies = math.ceil(target_pages / per_copy)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(copies):
        sub = folder / f"copy-{k:02d}"
        sub.mkdir(exist_ok=True)
        for path, doc in loaded:
            _write_pdf(sub / path.name, doc.title, doc.pages, k) if k else (sub / path.name).write_bytes(path.read_bytes())
        for path in notes:
            paragraphs = path.read_text("utf-8").split("\n\n")
            (sub / path.name).write_text("\n\n".join(vary(paragraphs, k)), "utf-8")
    (folder / "DONE").write_text(f"{copies} copies of {per_copy} pages\n", "utf-8")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--notes", action="store_true", help="copy the notes too")
    args = parser.parse_args(argv)
    print(build(args.pages, args.out, args.notes))


if __name__ == "__main__":
    main()
