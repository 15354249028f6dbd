"""Scanned pages: OCR for PDF pages that have no text layer and for images of pages (.png, .jpg, .tiff).

A PDF page is scanned when its text layer holds fewer than `MIN_PAGE_CHARS` letters and digits: in a file
that has no text at all (which would be refused), every such page is read by OCR; in a file with text, only
such pages that show an image (a scanned page bound into a born-digital report), so a blank page or a page
of drawings costs nothing. Pages are rendered by pdfium (pypdfium2) at `RENDER_DPI`, one at a time while the
engine reads the previous ones (indexer.ocr), and their text then goes through the same cleaning as any
PDF's text (running headers, hyphenation, headings) and keeps its page number.

An image file is read frame by frame (a multi-page TIFF is several pages), turned upright by its EXIF
orientation, and cleaned the same way. Without an OCR engine, a file that needs one gets `NEEDS_OCR`'s line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from indexer.loaders.formats import FormatRead
from indexer.loaders.model import IngestError
from indexer.ocr import NEEDS_OCR, OcrEngine, get_ocr_engine

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
MIN_PAGE_CHARS = 20
RENDER_DPI = 300
#: A page is rendered (or an image scaled down) to at most this many pixels (A3 at 300 dpi is 17.4 million).
MAX_PIXELS = 40_000_000
#: What a document records when it has scanned pages and no OCR engine read them.
NO_ENGINE = "none"

_DEFAULT = object()


def ocr_scanned_pages(path: Path, raw_pages: list[str], engine: OcrEngine | None | object = _DEFAULT
                      ) -> tuple[list[str], str]:
    """`raw_pages` (a PDF's extracted page texts) with its scanned pages read by OCR, and the engine's label
    ('' when no page needed OCR, `NO_ENGINE` when pages needed it and no engine is installed)."""
    letters = [sum(ch.isalnum() for ch in text) for text in raw_pages]
    whole = sum(letters) < max(20, 20 * len(raw_pages))
    todo = [i for i, n in enumerate(letters) if n < MIN_PAGE_CHARS]
    if not todo:
        return raw_pages, ""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except Exception as exc:  # pdfium refuses what pypdf repaired: keep pypdf's text
        log.warning("%s: pdfium cannot open it for OCR (%s)", path.name, exc)
        return raw_pages, ""
    try:
        if not whole:
            todo = [i for i in todo if _has_image(pdf, i)]
        if not todo:
            return raw_pages, ""
        engine = get_ocr_engine() if engine is _DEFAULT else engine
        if engine is None:
            log.warning("%s: %d page(s) are scanned images; %s", path.name, len(todo), NEEDS_OCR)
            return raw_pages, NO_ENGINE
        pages = list(raw_pages)
        for i, text in zip(todo, engine.read_pages(_rendered(pdf, todo))):
            pages[i] = text
        log.info("%s: %d page(s) read by OCR (%s)", path.name, len(todo), engine.label)
        return pages, engine.label
    finally:
        pdf.close()


def no_text_reason(ocr: str) -> str:
    """The line for a PDF with no text even after `ocr_scanned_pages`."""
    if ocr == NO_ENGINE:
        return f"no extractable text: looks like a scanned/image-only PDF; {NEEDS_OCR}"
    if ocr:
        return (f"no extractable text: a scanned/image-only PDF in which OCR ({ocr}) found no text either; "
                "check that the scan is legible, or run OCR yourself (e.g. ocrmypdf) and re-add it")
    return "no extractable text: looks like a scanned/image-only PDF; run OCR (e.g. ocrmypdf) first"


def _has_image(pdf, index: int) -> bool:
    import pypdfium2.raw as pdfium_c

    try:
        page = pdf[index]
        try:
            return next(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3), None) is not None
        finally:
            page.close()
    except Exception as exc:
        log.debug("page %d: cannot list its objects (%s)", index + 1, exc)
        return False


def _rendered(pdf, indexes: list[int]) -> Iterator[tuple[object, int]]:
    """(grey image, dpi) of each page, rendered when the OCR engine asks for it."""
    for i in indexes:
        page = pdf[i]
        try:
            width, height = page.get_size()  # points
            dpi = RENDER_DPI
            pixels = (width * dpi / 72) * (height * dpi / 72)
            if pixels > MAX_PIXELS:
                dpi = int(dpi * (MAX_PIXELS / pixels) ** 0.5)
            image = page.render(scale=dpi / 72, grayscale=True).to_pil()
        except Exception as exc:
            log.warning("page %d could not be rendered for OCR (%s); left empty", i + 1, exc)
            from PIL import Image

            image, dpi = Image.new("L", (8, 8), 255), RENDER_DPI
        finally:
            page.close()
        yield image, dpi


# ---------------------------------------------------------------------------------------------------- images

def load_image(path: Path, engine: OcrEngine | None | object = _DEFAULT) -> FormatRead:
    """An image of one page (or a multi-page TIFF), read by OCR and cleaned like a PDF's text."""
    from PIL import Image, UnidentifiedImageError

    engine = get_ocr_engine() if engine is _DEFAULT else engine
    if engine is None:
        raise IngestError(path, f"an image of a page, to be read by OCR: {NEEDS_OCR}")
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            texts = list(engine.read_pages(_frames(path, image)))
    except UnidentifiedImageError:
        raise IngestError(path, f"not a readable image (damaged, or not really {path.suffix.lower()}); "
                                "save it again as PNG or JPEG") from None
    except Image.DecompressionBombError as exc:
        raise IngestError(path, f"refused: the image is too large to read ({exc}); scale it down") from None
    except OSError as exc:  # truncated data
        raise IngestError(path, f"not a readable image ({str(exc)[:120]}); save it again as PNG or JPEG") from None
    from indexer.loaders.blocks import rejoin_split_sentences
    from indexer.loaders.pdf import blocks_from_pages

    title, blocks = blocks_from_pages(path, texts, None)
    blocks = rejoin_split_sentences(blocks)
    if not blocks:
        raise IngestError(path, f"no text found in the image by OCR ({engine.label}); check that it shows "
                                "legible text (not a photo or a drawing)")
    return FormatRead("image", title, blocks, frames, ocr=engine.label)


def _frames(path: Path, image) -> Iterator[tuple[object, int | None]]:
    from PIL import Image, ImageOps, ImageSequence

    for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
        try:
            grey = ImageOps.exif_transpose(frame).convert("L")
        except (OSError, Image.DecompressionBombError):
            raise  # a damaged or truncated file: one line for the whole file
        except Exception as exc:  # a broken frame of a multi-page file
            log.warning("%s: frame %d cannot be decoded (%s); left empty", path.name, number, exc)
            yield Image.new("L", (8, 8), 255), None
            continue
        dpi = frame.info.get("dpi")
        dpi = int(round(float(dpi[0]))) if dpi and float(dpi[0]) >= 50 else None
        if grey.width * grey.height > MAX_PIXELS:
            scale = (MAX_PIXELS / (grey.width * grey.height)) ** 0.5
            grey = grey.resize((int(grey.width * scale), int(grey.height * scale)))
            dpi = int(dpi * scale) if dpi else None
        yield grey, dpi
