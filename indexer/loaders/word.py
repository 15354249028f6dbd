"""Word documents (.docx) with python-docx: headings become sections, tables rows of `column: value` text.

A Word file has no fixed pages (they depend on the printer and fonts), so it is one page like a note and a
citation names its section heading. Paragraphs in the `Title` and `Heading n` styles (or any style built on
one, or with an outline level) are headings; body paragraphs and tables come in document order; headers,
footers, comments and text boxes are left out.
"""

from __future__ import annotations

from pathlib import Path

from indexer.loaders.formats import FormatRead, check_office_zip, paragraph_text, table_blocks
from indexer.loaders.model import Block, IngestError
from indexer.loaders.titles import meaningful_title

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def load_word(path: Path) -> FormatRead:
    check_office_zip(path, "Word", parsed_whole=lambda name: name.startswith("word/") and name.endswith(".xml"))
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise IngestError(path, f"not a readable Word file ({type(exc).__name__}: {str(exc)[:120]}); "
                                "save it again from Word as .docx") from None
    except Exception as exc:  # lxml and zipfile raise many kinds on a damaged file
        raise IngestError(path, f"not a readable Word file ({type(exc).__name__}); save it again from Word") from None
    blocks = list(_body_blocks(document))
    if not blocks:
        raise IngestError(path, "no text in the Word file (it may hold only images or drawings); "
                                "add its text or save it as a PDF with a text layer")
    title = (meaningful_title(document.core_properties.title, path)
             or next((b.text for b in blocks if b.kind == "heading"), None) or path.stem)
    return FormatRead("word", title[:200], blocks, 1)


def _body_blocks(document):
    """The body's headings, paragraphs and table rows, in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in document.element.body.iterchildren():
        if child.tag == f"{_W}p":
            paragraph = Paragraph(child, document)
            text = paragraph_text(paragraph.text)
            if text:
                yield Block(1, "heading" if _is_heading(paragraph) else "paragraph", text)
        elif child.tag == f"{_W}tbl":
            table = Table(child, document)
            rows = [[paragraph_text(cell.text) for cell in row.cells] for row in table.rows]
            yield from table_blocks(rows)


def _is_heading(paragraph) -> bool:
    style = paragraph.style
    while style is not None:
        name = (style.name or "").lower()
        if name == "title" or name.startswith("heading"):
            return True
        style = style.base_style
    ppr = paragraph._p.pPr
    level = ppr.find(f"{_W}outlineLvl") if ppr is not None else None
    return level is not None and level.get(f"{_W}val") not in (None, "9")
