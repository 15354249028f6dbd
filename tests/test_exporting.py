"""Answers exported as a briefing (Markdown and Word): the question, the answer with its [n] markers, every cited
quote verbatim under its numbered source; a refusal says so and gives the closest passages."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import docx
import pytest
from markdown_it import MarkdownIt

from assistant.exporting import answer_docx, answer_markdown
from assistant.pipeline import Assistant
from assistant.retrieval import Retriever
from assistant.types import Answer, Citation, SearchResult
from tests.conftest import ALWAYS_ANSWER, NEVER_ANSWER, SAMPLE_NOTES, HashEmbedder, index_notes

QUOTES = [
    "Deep wells are maintained by the village water committee.",
    "Coverage rose from *40%* to __62%__ | costs fell by 3_000 yuan ~~or~~ more [see annex] <b>bold</b> &amp; `code`",
    "Line one of the table:\n| a | b |\n|---|---|\n- not a list item\n# not a heading\n1. not a numbered item\n\n"
    "> not a quote\nlast line \\",
    "تم تخفيض معدل الفقر المدقع إلى النصف بحلول عام 2015.",
    "到2020年底，农村贫困人口全部脱贫，832个贫困县全部摘帽。",
    "   indented *start*\tand a tab; === and --- and *** follow\n===\n---\n***",
]


def cite(n: int, quote: str, title: str = "Report", source: str = "annual_report_2020.pdf", page: int = 3) -> Citation:
    return Citation(n=n, doc_id=f"{n:016x}", title=title, source=source, page=page, section="", quote=quote,
                    location=f"page {page}")


def answered(quotes=QUOTES, text=None) -> Answer:
    citations = [cite(i + 1, q, title=f"Title {i + 1} *draft*") for i, q in enumerate(quotes)]
    text = text or " ".join(f"Point {c.n} [{c.n}]." for c in citations)
    return Answer(answer=text, refused=False, question_language="en", citations=citations, generator="extractive")


# -- rendering Markdown back to text -------------------------------------------------------------------

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


class Blocks(HTMLParser):
    """The text of each <blockquote> (a <br> a line break, paragraphs apart by a blank line) and of each top-level
    list item's first line; `tables` counts <table>s and `structure` lists any other tag inside a quote (a quote that
    made one broke out of its text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.quotes: list[str] = []
        self.items: list[str] = []
        self.tables = 0
        self.structure: list[str] = []
        self.depth = 0
        self.quote_paragraphs: list[str] | None = None
        self.list_depth = 0
        self.item: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "blockquote":
            self.depth += 1
            if self.depth == 1:
                self.quote_paragraphs = []
        elif tag == "p" and self.quote_paragraphs is not None:
            self.quote_paragraphs.append("")
        elif tag == "br" and self.quote_paragraphs:
            self.quote_paragraphs[-1] += "\n"
        elif self.quote_paragraphs is not None:
            self.structure.append(tag)  # a heading, list, rule, code block or table made of a quote's text
        elif tag in ("ul", "ol"):
            self.list_depth += 1
        elif tag == "li" and self.list_depth == 1:
            self.item = []
        elif tag == "table":
            self.tables += 1

    def handle_endtag(self, tag):
        if tag == "blockquote":
            self.depth -= 1
            if self.depth == 0:
                self.quotes.append("\n\n".join(self.quote_paragraphs))
                self.quote_paragraphs = None
        elif tag in ("ul", "ol"):
            self.list_depth -= 1
        elif tag == "li" and self.list_depth == 1 and self.item is not None:
            self.items.append("".join(self.item).strip())
            self.item = None

    def handle_data(self, data):
        if self.quote_paragraphs:
            self.quote_paragraphs[-1] += data.replace("\n", "")  # the source's line ends (after a <br>) are not text
        elif self.item is not None:
            self.item.append(data)


def rendered(markdown: str) -> Blocks:
    blocks = Blocks()
    blocks.feed(MD.render(markdown))
    return blocks


# -- Markdown ------------------------------------------------------------------------------------------

def test_markdown_renders_every_quote_verbatim_under_its_numbered_source():
    answer = answered()
    md = answer_markdown("How far did rural poverty fall?", answer)
    blocks = rendered(md)
    assert blocks.quotes == [c.quote for c in answer.citations]
    assert blocks.tables == 0 and blocks.structure == []  # table rows, headings, list items stayed text
    assert len(blocks.items) == len(QUOTES)  # one list item per source: no quote ended the list or made a new one
    for item, c in zip(blocks.items, answer.citations):
        assert item.startswith(f"[{c.n}] {c.title} — {c.source}, p. 3")
    assert md.startswith("# How far did rural poverty fall?\n")
    assert "Point 2 [2]." in md  # the markers are kept as written


def test_quotes_without_markdown_characters_stand_in_the_markdown_exactly():
    md = answer_markdown("q", answered())
    for quote in (QUOTES[0], QUOTES[3], QUOTES[4]):  # plain, Arabic, Chinese
        assert f"> {quote}\n" in md


def test_a_briefing_keeps_its_bullets_and_markers():
    answer = answered(QUOTES[:2], text="- First finding [1].\n- Second finding with a *star* [2].")
    md = answer_markdown("Brief me", answer)
    html = MD.render(md)
    assert "<li>First finding [1].</li>" in html
    assert "<li>Second finding with a *star* [2].</li>" in html


def test_a_refusal_is_exported_as_not_answered_with_the_closest_passages():
    passages = [SearchResult(doc_id="a" * 16, title="Water", source="water.md", page=1, section="", score=0.3,
                             text=f"Passage {i} about *wells* | pumps.", location="") for i in range(2)]
    passages.append(passages[0].model_copy(update={"text": "same page again"}))  # one per page, as the chat page
    refusal = Answer(answer="The documents do not answer this question.", refused=True, question_language="en",
                     passages=passages, generator="extractive")
    md = answer_markdown("What is the weather on Mars?", refusal)
    assert "## Not answered by the documents" in md and "## Sources" not in md
    assert "The documents do not answer this question." in md
    assert rendered(md).quotes == ["Passage 0 about *wells* | pumps."]
    body = "\n".join(p.text for p in docx.Document(io.BytesIO(answer_docx("Mars?", refusal))).paragraphs)
    assert "Not answered by the documents" in body and "Passage 0 about *wells* | pumps." in body
    assert "same page again" not in body and "Sources" not in body


# -- Word ----------------------------------------------------------------------------------------------

def test_docx_opens_and_holds_every_quote_verbatim_in_its_own_paragraph():
    answer = answered()
    data = answer_docx("How far did rural poverty fall?", answer)
    document = docx.Document(io.BytesIO(data))
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == "How far did rural poverty fall?"
    assert answer.answer in texts
    for c in answer.citations:
        at = texts.index(f"[{c.n}] {c.title} — {c.source}, p. 3")
        assert texts[at + 1] == c.quote  # newlines come back as line breaks, tabs as tabs
    assert document.core_properties.title == "How far did rural poverty fall?"


def test_docx_marks_arabic_paragraphs_right_to_left():
    document = docx.Document(io.BytesIO(answer_docx("ما هو معدل الفقر؟", answered(QUOTES[3:5]))))
    bidi = {p.text: p._p.pPr is not None and p._p.pPr.find(docx.oxml.ns.qn("w:bidi")) is not None
            for p in document.paragraphs}
    assert bidi["ما هو معدل الفقر؟"] and bidi[QUOTES[3]]
    assert not bidi[QUOTES[4]]  # Chinese reads left to right


def test_docx_survives_characters_xml_cannot_hold():
    quote = "Form\x0cfeed and a \x00 null"
    texts = [p.text for p in docx.Document(io.BytesIO(answer_docx("q", answered([quote])))).paragraphs]
    assert "Form\ufffdfeed and a \ufffd null" in texts


# -- a real answer from the pipeline -------------------------------------------------------------------

@pytest.mark.parametrize("calibration", [ALWAYS_ANSWER, NEVER_ANSWER], ids=["answered", "refused"])
def test_a_pipeline_answer_exports_with_its_quotes(tmp_path, calibration):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES)
    assistant = Assistant(Retriever.load(settings, embedder=HashEmbedder()), None, settings, calibration=calibration)
    question = "Who maintains the pumps of the deep wells?"
    answer = assistant.ask(question)
    md = answer_markdown(question, answer)
    texts = [p.text for p in docx.Document(io.BytesIO(answer_docx(question, answer))).paragraphs]
    if answer.refused:
        assert calibration is NEVER_ANSWER and "Not answered by the documents" in texts
        assert rendered(md).quotes and all(q in [p.text for p in answer.passages] for q in rendered(md).quotes)
    else:
        assert answer.citations and rendered(md).quotes == [c.quote for c in answer.citations]
        assert all(c.quote in texts for c in answer.citations)
        assert "pumps" in answer.answer and answer.answer in md
