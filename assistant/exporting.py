"""An answer as a briefing a staff member can keep: Markdown or a Word file (python-docx).

Both hold the question, the answer with its [n] markers, and the numbered sources (title, file, place, the verbatim
quote). A refusal is exported as what it is: the "not answered" sentence and the closest passages the documents
have, marked as not enough to answer.

Markdown: each source is an item of a list, its quote a block quote under it, escaped so that the rendered text is
the quote itself (`*`, `_`, `|`, `<`, a line that starts like a heading or a list: all shown as written, none of them
able to end the list). A quote without such characters stands in the Markdown exactly as in the document.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable

from assistant.types import Answer, Citation, SearchResult, place

__all__ = ["answer_docx", "answer_markdown", "closest_passages"]

#: Closest passages a refusal shows (one per document page), as the chat page does.
CLOSEST = 3
NOT_ANSWERED = "Not answered by the documents"
CLOSEST_NOTE = "Closest passages in the documents (judge for yourself; not enough to answer):"
VERBATIM_NOTE = "Quotes are verbatim from the documents."

# -- Markdown --------------------------------------------------------------------------------------

#: Characters that change how Markdown (CommonMark + GitHub tables and strikethrough) renders, anywhere in a line.
_INLINE = re.compile(r"([\\`*\[\]<>|~])")
#: An entity (`&amp;`, `&#38;`) would render as its character: its ampersand is escaped.
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
#: `_` opens or closes emphasis only beside a non-word character; inside a word (snake_case) it stays as written.
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
#: A line that would start a block: heading, list item, quote, fence, rule, setext underline, HTML, table row.
_BLOCK_START = re.compile(r"^([#>+=-]|\d{1,9}[.)])")
_BULLET = re.compile(r"^\s*[-•*]\s+")


def escape(text: str) -> str:
    """One line of text as Markdown that renders as exactly that text."""
    text = _INLINE.sub(r"\\\1", text)
    text = _ENTITY.sub(r"\\&", text)
    text = _UNDERSCORE.sub(r"\\_", text)
    stripped = text.lstrip(" \t")
    if len(stripped) < len(text):  # leading blanks would be dropped (or start a code block): written as entities
        text = "".join("&#9;" if ch == "\t" else "&#32;" for ch in text[: len(text) - len(stripped)]) + stripped
    match = _BLOCK_START.match(text)
    if match:
        text = text[: match.end() - 1] + "\\" + text[match.end() - 1:]
    return text


def quote_block(text: str, indent: str) -> list[str]:
    """A block quote, line for line: a line break stays a line break (a hard break), a blank line a new paragraph."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = []
    for i, line in enumerate(lines):
        body = escape(line.rstrip(" "))
        last = i == len(lines) - 1 or not lines[i + 1].strip()
        hard = "" if last or not body else "\\"
        out.append(f"{indent}> {body}{hard}".rstrip(" "))
    return out


def code_span(text: str) -> str:
    """A file name as inline code: shown exactly, whatever backticks or underscores it holds."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def answer_lines(text: str) -> list[str]:
    """The answer's text; its [n] markers stay as they are (no link definitions exist, so they render as written);
    a briefing's bullet lines stay a list."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n")]
    bullets = len(lines) > 1 and all(_BULLET.match(line) or not line.strip() for line in lines)
    out = []
    for line in lines:
        if bullets:
            if line.strip():
                out.append("- " + _marked(_BULLET.sub("", line)))
        else:
            out.append(_marked(line) if line.strip() else "")
    return out


def _marked(line: str) -> str:
    """Escape a line but keep its [n] markers readable: `[1]` rather than `\\[1\\]`."""
    return re.sub(r"\\\[(\d+)\\\]", r"[\1]", escape(line))


def source_heading(title: str, source: str, where: str) -> str:
    return f"**{escape(' '.join(title.split()))}** — {code_span(source)}, {escape(where)}"


def closest_passages(answer: Answer) -> list[SearchResult]:
    """The passages a refusal shows: the first of each document page, at most `CLOSEST`."""
    seen: set[tuple[str, int]] = set()
    out = []
    for p in answer.passages:
        if (p.doc_id, p.page) in seen:
            continue
        seen.add((p.doc_id, p.page))
        out.append(p)
        if len(out) == CLOSEST:
            break
    return out


def answer_markdown(question: str, answer: Answer) -> str:
    """The answer as Markdown: question, answer with [n] markers, numbered sources with their verbatim quotes."""
    lines = ["# " + escape(" ".join(question.split())).replace("#", "\\#"), ""]
    if answer.refused:
        lines += [f"## {NOT_ANSWERED}", "", *answer_lines(answer.answer), ""]
        passages = closest_passages(answer)
        if passages:
            lines += [f"### {CLOSEST_NOTE}", ""]
            for p in passages:
                lines += [f"- {source_heading(p.title, p.source, place(p.page, p.location))}", "",
                          *quote_block(p.text, "  "), ""]
    else:
        lines += ["## Answer", "", *answer_lines(answer.answer), ""]
        if answer.citations:
            lines += ["## Sources", ""]
            for c in answer.citations:
                lines += [f"- [{c.n}] {source_heading(c.title, c.source, place(c.page, c.location))}", "",
                          *quote_block(c.quote, "  "), ""]
    lines += [f"*{escape(footer(answer))}*", ""]
    return "\n".join(lines)


def footer(answer: Answer) -> str:
    kind = "povqa could not answer this from the indexed documents" if answer.refused else \
        "Answered by povqa from the indexed documents"
    return f"{kind} (generator: {answer.generator}, question language: {answer.question_language}). {VERBATIM_NOTE}"


# -- Word ------------------------------------------------------------------------------------------

#: Characters XML 1.0 cannot hold (lxml refuses them): shown as U+FFFD rather than failing the whole export.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def right_to_left(text: str) -> bool:
    """Whether the first strongly directed character is right-to-left (what HTML's dir=auto decides)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def _paragraph(doc, text: str, style: str | None = None, bold_prefix: str = ""):
    from docx.oxml import OxmlElement

    paragraph = doc.add_paragraph(style=style)
    if bold_prefix:
        paragraph.add_run(xml_safe(bold_prefix)).bold = True
    run = paragraph.add_run(xml_safe(text))  # python-docx writes "\n" as a line break and "\t" as a tab
    if right_to_left(text):
        paragraph._p.get_or_add_pPr().append(OxmlElement("w:bidi"))
        run._r.get_or_add_rPr().append(OxmlElement("w:rtl"))
    return paragraph


def _sources(doc, items: Iterable[tuple[str, Citation | SearchResult, str]]) -> None:
    for label, item, text in items:
        where = place(item.page, item.location)
        _paragraph(doc, f"{' '.join(item.title.split())} — {item.source}, {where}", bold_prefix=label)
        _paragraph(doc, text, style="Quote")


def answer_docx(question: str, answer: Answer) -> bytes:
    """The answer as a Word file (bytes): the same content as `answer_markdown`."""
    import docx

    doc = docx.Document()
    doc.core_properties.title = xml_safe(" ".join(question.split()))[:255]
    doc.core_properties.author = "povqa"
    heading = doc.add_heading(level=1)
    heading.add_run(xml_safe(" ".join(question.split())))
    if right_to_left(question):
        from docx.oxml import OxmlElement
        heading._p.get_or_add_pPr().append(OxmlElement("w:bidi"))
    doc.add_heading(NOT_ANSWERED if answer.refused else "Answer", level=2)
    lines = answer.answer.replace("\r\n", "\n").split("\n")
    bullets = len(lines) > 1 and all(_BULLET.match(line) or not line.strip() for line in lines)
    if bullets:
        for line in lines:
            if line.strip():
                _paragraph(doc, _BULLET.sub("", line), style="List Bullet")
    else:
        _paragraph(doc, answer.answer)
    if answer.refused:
        passages = closest_passages(answer)
        if passages:
            doc.add_heading(CLOSEST_NOTE, level=3)
            _sources(doc, (("", p, p.text) for p in passages))
    elif answer.citations:
        doc.add_heading("Sources", level=2)
        _sources(doc, ((f"[{c.n}] ", c, c.quote) for c in answer.citations))
    note = doc.add_paragraph()
    note.add_run(footer(answer)).italic = True
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
