"""Saved web pages (.html, .htm) with trafilatura: the main content only, without menus, footers, cookie
banners or scripts; its headings become sections, its lists and tables paragraphs.

trafilatura is made for exactly this (finding the article in a page of boilerplate) and ranks first in the
published main-content extraction benchmarks; it is pure Python on lxml and needs no browser. A page is one
page like a note: a citation names its section heading. A page with no main content (only scripts, or a page a
browser has to build) gets one line saying so.
"""

from __future__ import annotations

from pathlib import Path

from indexer.loaders.formats import FormatRead, paragraph_text, table_blocks
from indexer.loaders.model import Block, IngestError
from indexer.loaders.titles import meaningful_title

#: A saved page larger than this is refused (lxml holds the whole tree in memory, ~10x the file).
MAX_HTML_BYTES = 50 << 20


def load_web_page(path: Path) -> FormatRead:
    size = path.stat().st_size
    if size > MAX_HTML_BYTES:
        raise IngestError(path, f"web page too large to read ({size / 1e6:,.0f} MB, at most "
                                f"{MAX_HTML_BYTES >> 20} MB); save the article alone or as a PDF")
    import trafilatura
    from lxml import etree

    data = path.read_bytes()
    try:
        xml = trafilatura.extract(data, output_format="xml", include_tables=True, include_comments=False,
                                  include_links=False, include_images=False, with_metadata=True, favor_recall=True)
    except Exception as exc:  # a page lxml cannot parse at all
        raise IngestError(path, f"not a readable web page ({type(exc).__name__}); save it again from the browser") from None
    if not xml:
        raise IngestError(path, "no readable text in the web page (only scripts, styles or navigation: a page the "
                                "browser builds with JavaScript?); save the page as PDF from the browser and index that")
    root = etree.fromstring(xml.encode("utf-8"))
    main = root.find("main")
    blocks = list(_blocks(main if main is not None else root))
    if not any(b.kind == "paragraph" for b in blocks):
        raise IngestError(path, "no readable text in the web page, only headings or navigation; "
                                "save the page as PDF from the browser and index that")
    title = (meaningful_title(root.get("title"), path)
             or next((b.text for b in blocks if b.kind == "heading"), None) or path.stem)
    return FormatRead("web", title[:200], blocks, 1)


def _blocks(element):
    for child in element:
        tag = child.tag
        if tag == "head":
            if text := _text(child):
                yield Block(1, "heading", text)
        elif tag in ("p", "quote", "code"):
            if text := _text(child):
                yield Block(1, "paragraph", text)
        elif tag == "list":
            for item in child.findall("item"):
                if text := _text(item):
                    yield Block(1, "paragraph", text)
        elif tag == "table":
            rows = [[_text(cell) for cell in row.iter("cell")] for row in child.iter("row")]
            yield from table_blocks(rows)
        else:
            yield from _blocks(child)


def _text(element) -> str:
    for br in element.iter("lb"):
        br.text = " "
    return paragraph_text("".join(element.itertext()))
