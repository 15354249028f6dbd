"""PowerPoint decks (.pptx) with python-pptx: one slide is one page, its title the section, its speaker notes
included after its text.

Text frames, tables (rows of `column: value` text) and grouped shapes are read top to bottom, left to right;
each paragraph of a text frame (a bullet) is a paragraph. A slide without a title is called 'Slide n', so a
chunk never runs from one slide into the next under the wrong title.
"""

from __future__ import annotations

from pathlib import Path

from indexer.loaders.formats import FormatRead, check_office_zip, paragraph_text, table_blocks
from indexer.loaders.model import Block, IngestError
from indexer.loaders.titles import meaningful_title


def load_slides(path: Path) -> FormatRead:
    check_office_zip(path, "PowerPoint", parsed_whole=lambda name: name.startswith("ppt/") and name.endswith(".xml"))
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    try:
        deck = Presentation(str(path))
        slides = list(deck.slides)
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise IngestError(path, f"not a readable PowerPoint file ({type(exc).__name__}: {str(exc)[:120]}); "
                                "save it again from PowerPoint as .pptx") from None
    except Exception as exc:  # lxml and zipfile raise many kinds on a damaged file
        raise IngestError(path, f"not a readable PowerPoint file ({type(exc).__name__}); "
                                "save it again from PowerPoint") from None
    if not slides:
        raise IngestError(path, "the deck has no slides: nothing to index")
    blocks: list[Block] = []
    for number, slide in enumerate(slides, start=1):
        blocks.extend(_slide_blocks(slide, number))
    if not any(b.kind == "paragraph" for b in blocks):
        raise IngestError(path, "no text on any slide (only pictures?); add the text or speaker notes")
    headings = [b.text for b in blocks if b.kind == "heading" and not b.text.startswith("Slide ")]
    title = meaningful_title(deck.core_properties.title, path) or (headings[0] if headings else path.stem)
    return FormatRead("slides", title[:200], blocks, len(slides),
                      page_labels=[f"slide {n}" for n in range(1, len(slides) + 1)])


def _slide_blocks(slide, number: int) -> list[Block]:
    title_shape = slide.shapes.title
    title = paragraph_text(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
    blocks = [Block(number, "heading", title or f"Slide {number}")]
    for shape in _reading_order(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        blocks.extend(_shape_blocks(shape, number))
    if slide.has_notes_slide:
        frame = slide.notes_slide.notes_text_frame
        if frame is not None:
            blocks.extend(Block(number, "paragraph", t) for p in frame.paragraphs if (t := paragraph_text(p.text)))
    return blocks


def _reading_order(shapes) -> list:
    return sorted(shapes, key=lambda s: ((s.top or 0) // 50_000, s.left or 0))  # rows of ~1.4 mm


def _shape_blocks(shape, page: int) -> list[Block]:
    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        return [b for inner in _reading_order(shape.shapes) for b in _shape_blocks(inner, page)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[paragraph_text(cell.text) for cell in row.cells] for row in shape.table.rows]
        return table_blocks(rows, page)
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return [Block(page, "paragraph", t) for p in shape.text_frame.paragraphs if (t := paragraph_text(p.text))]
    return []
