"""Loading real corpus files and bad input (indexer.loaders)."""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path

import pytest

from indexer.loaders import (
    SUPPORTED_SUFFIXES,
    IngestError,
    LoadedDocument,
    UnsupportedFile,
    load_document,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # copies of ../shared/corpus files that are not in docs_corpus/


def _find(name: str) -> Path:
    for base in (ROOT / "docs_corpus", ROOT / "docs_corpus" / "notes", DATA):
        if (base / name).exists():
            return base / name
    raise FileNotFoundError(f"test corpus file {name} is missing from docs_corpus/ and tests/data/")


IPRCC = "iprcc-case-study-2011.pdf"
SUMMARY_PDF = "undp-caitec-summary-note-2021.pdf"
SDG_INSIGHTS = "undp-integrated-sdg-insights-methodological-note.pdf"
SIMULATOR = "undp-diagnostic-simulator-methodological-note.pdf"
SUMMARY_MD = "undp-caitec-summary-note-2021.md"
IPRCC_TWIN = "iprcc-case-study-2011.txt"
CORPUS = [IPRCC, SUMMARY_PDF, SDG_INSIGHTS, SIMULATOR, SUMMARY_MD, IPRCC_TWIN]


@lru_cache(maxsize=None)
def load(name: str) -> LoadedDocument:
    return load_document(_find(name))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower().replace("’", "'"))


# ------------------------------------------------------------------ real PDFs


def test_iprcc_running_header_and_page_numbers_are_gone():
    doc = load(IPRCC)
    assert doc.kind == "pdf" and doc.page_count == 13 and len(doc.pages) == 13
    assert not [b for b in doc.blocks if "IPRCC Working Paper 2011.12" in b.text]
    assert not [b for b in doc.blocks if re.fullmatch(r"[-–\s]*\d{1,3}[-–\s]*", b.text)]
    assert all("IPRCC Working Paper 2011.12" not in p for p in doc.pages)


def test_iprcc_keeps_the_words_of_its_text_twin_in_order():
    doc = load(IPRCC)
    twin = _words(_find(IPRCC_TWIN).read_text(encoding="utf-8"))
    got = _words("\n".join(b.text for b in doc.blocks))
    sm = difflib.SequenceMatcher(None, twin, got, autojunk=False)
    matched = sum(m.size for m in sm.get_matching_blocks())
    retention = matched / len(twin)
    print(f"IPRCC word retention vs text twin: {retention:.4f} ({matched}/{len(twin)})")
    assert retention >= 0.98


def test_iprcc_sentence_is_found_on_its_page():
    doc = load(IPRCC)
    hits = [b for b in doc.blocks if "More than 100 case studies (out of 800 nominated cases)" in b.text]
    assert len(hits) == 1
    assert hits[0].page == 2 and hits[0].kind == "paragraph"
    # the paragraph is a whole logical paragraph with its line breaks unwrapped
    assert "South-South Learning Conference" in hits[0].text and "\n" not in hits[0].text


def test_iprcc_ligatures_hyphens_and_headings():
    doc = load(IPRCC)
    text = "\n".join(doc.pages)
    assert not re.search("[\ufb00-\ufb06]", text)
    assert "flagship organizations" in text and "specific needs" in text and "effort" in text
    # "South-\nSouth Learning Conference" in the PDF keeps its hyphen
    assert "South-South Learning Conference" in text
    assert "South- South" not in text and "SouthSouth" not in text
    headings = [b.text for b in doc.blocks if b.kind == "heading"]
    for h in ["Background", "Objectives", "Challenges Faced", "Findings", "Conclusion and Recommendations"]:
        assert h in headings
    # meaningful PDF metadata title is used
    assert doc.title == "IPRCC Working Paper 2011.12"
    assert doc.language == "en"


def test_cjk_text_of_a_pdf_survives():
    doc = load(IPRCC)
    assert "中国国际扶贫中心" in doc.pages[-1]
    doc = load(SUMMARY_PDF)
    text = "\n".join(doc.pages)
    assert "美美与共" in text and "中国农业大学" in text


def test_pull_quote_sentence_appears_once():
    from pypdf import PdfReader

    from indexer.clean import clean_text

    reader = PdfReader(_find(SUMMARY_PDF))
    page3 = clean_text(reader.pages[2].extract_text())
    page7 = clean_text(reader.pages[6].extract_text())
    sentence = "While the influence of politics in the development field is always notable"
    peace = "Peace is a necessary precondition for achieving the SDGs."
    # the PDF prints each of them twice: in the body and as a pull quote
    assert page3.count(sentence) == 2 and page7.count(peace) == 2
    text = "\n".join(load(SUMMARY_PDF).pages)
    assert text.count(sentence) == 1 and text.count(peace) == 1
    # the body sentence a pull quote was glued into reads correctly again
    assert "High politics is increasingly affecting countries' relations at other levels" in text


def test_summary_pdf_header_removed_and_markdown_links_cleaned():
    doc = load(SUMMARY_PDF)
    assert doc.title == "UNDP-CAITEC Summary Note, March 2021"
    # the running header line itself is no block (the cover repeats the title, not the header)
    assert not [b for b in doc.blocks if b.text == "UNDP-CAITEC Summary Note, March 2021"]
    assert not [b for b in doc.blocks if "](#)" in b.text]


def test_toc_dot_leaders_do_not_become_paragraphs():
    doc = load(SDG_INSIGHTS)
    assert not [b for b in doc.blocks if "....." in b.text]
    assert not [b for b in doc.blocks if "VERSION 1.4 | INTEGRATED SDG INSIGHTS" in b.text]
    assert any(b.kind == "heading" and b.text == "Overview" for b in doc.blocks)
    assert doc.title == "VERSION 1.4 Integrated SDG Insights Methodological Note"


def test_damaged_xref_pdf_loads_quietly(caplog):
    with caplog.at_level("WARNING"):
        doc = load_document(_find(SIMULATOR))
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert doc.page_count == 8 and len(doc.blocks) > 20
    # no /Title in its metadata: the cover heading is the title
    assert doc.title == "DIAGNOSTIC SIMULATOR METHODOLOGICAL NOTE & USER GUIDE"


@pytest.mark.parametrize("name", CORPUS)
def test_every_block_occurs_in_its_page_text(name):
    doc = load(name)
    assert doc.blocks and len(doc.pages) == doc.page_count
    for b in doc.blocks:
        assert b.kind in {"heading", "paragraph"}
        assert 1 <= b.page <= doc.page_count
        assert b.text and b.text == b.text.strip()
        assert b.text in doc.pages[b.page - 1], (b.page, b.text[:80])
    assert len(doc.sha256) == 64 and doc.size > 0 and doc.mtime > 0


# ---------------------------------------------------------------------- notes


def test_markdown_note():
    doc = load(SUMMARY_MD)
    assert doc.kind == "note" and doc.page_count == 1 and len(doc.pages) == 1
    assert doc.title == "UNDP-CAITEC Informal Discussion Series on Development Cooperation"
    text = doc.pages[0]
    assert "**" not in text and "](" not in text and "<https://" not in text
    assert "https://www.cn.undp.org/" in text
    # a "- **bullet**" line becomes its own paragraph block, markers stripped
    assert any(b.kind == "paragraph" and b.text == "How to better communicate China's development experience with other countries?"
               for b in doc.blocks)
    assert any(b.kind == "heading" and b.text == "INTRODUCTION" for b in doc.blocks)
    assert doc.language == "en"


def test_markdown_syntax(tmp_path):
    p = tmp_path / "note.md"
    p.write_text(
        "# Rural *poverty* notes\n\nSome **bold** and __strong__ text with a [link](https://x.org) and\n"
        "a hard-wrapped second line <https://example.org/a>.\n\n- first bullet\n- second bullet\n  continued\n\n"
        "SUMMARY\n\nLast paragraph with snake_case_name kept.\n",
        encoding="utf-8",
    )
    doc = load_document(p)
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "Rural poverty notes"),
        ("paragraph", "Some bold and strong text with a link and a hard-wrapped second line https://example.org/a."),
        ("paragraph", "first bullet"),
        ("paragraph", "second bullet continued"),
        ("heading", "SUMMARY"),
        ("paragraph", "Last paragraph with snake_case_name kept."),
    ]
    assert doc.title == "Rural poverty notes"


def test_utf8_bom_and_cjk_note(tmp_path):
    p = tmp_path / "cjk.txt"
    p.write_bytes("\ufeff中国国际扶贫中心，成立于2005年。\n".encode("utf-8"))
    doc = load_document(p)
    assert doc.pages == ["中国国际扶贫中心，成立于2005年。"]
    assert doc.language == "zh"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be"])
def test_legacy_encodings_are_decoded(tmp_path, encoding):
    text = "La coopération Sud-Sud est très importante pour réduire la pauvreté rurale."
    if encoding == "cp1252":
        text += " – “Oui”"
    p = tmp_path / f"note-{encoding}.txt"
    p.write_bytes(text.encode(encoding))
    doc = load_document(p)
    assert "coopération" in doc.pages[0] and "pauvreté" in doc.pages[0]
    assert doc.language == "fr"


# ------------------------------------------------------------------ bad input


def _text_pdf(path: Path, text: str = "Poverty reduction through South-South cooperation. " * 20) -> Path:
    from bench.badfiles import text_pdf

    return text_pdf(path, text)


def _encrypt(src: Path, dst: Path, password: str) -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(src))
    writer.encrypt(user_password=password)
    with open(dst, "wb") as f:
        writer.write(f)
    return dst


def _assert_error(path: Path, *keywords: str, cls=IngestError) -> IngestError:
    with pytest.raises(cls) as exc:
        load_document(path)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(path.name + ": ")
    for k in keywords:
        assert k in msg, msg
    assert exc.value.path == path and exc.value.reason
    return exc.value


def test_generated_text_pdf_loads(tmp_path):
    doc = load_document(_text_pdf(tmp_path / "ok.pdf"))
    assert "Poverty reduction through South-South cooperation." in doc.pages[0]


def test_corrupt_pdf(tmp_path):
    p = tmp_path / "random.pdf"
    p.write_bytes(os.urandom(4096))
    _assert_error(p, "not a readable PDF", "damaged or truncated")
    p2 = tmp_path / "junk-after-header.pdf"
    p2.write_bytes(b"%PDF-1.7\n" + os.urandom(4096) + b"\n%%EOF\n")
    _assert_error(p2, "not a readable PDF")


def test_truncated_pdf(tmp_path):
    data = _find(IPRCC).read_bytes()
    p = tmp_path / "half.pdf"
    p.write_bytes(data[: len(data) // 2])
    _assert_error(p, "not a readable PDF", "truncated")


def test_encrypted_pdf(tmp_path):
    src = _text_pdf(tmp_path / "plain.pdf")
    p = _encrypt(src, tmp_path / "locked.pdf", "secret")
    _assert_error(p, "encrypted PDF", "remove the password")


def test_empty_password_pdf_loads(tmp_path):
    src = _text_pdf(tmp_path / "plain.pdf")
    p = _encrypt(src, tmp_path / "open-lock.pdf", "")
    doc = load_document(p)
    assert "South-South cooperation" in doc.pages[0]


def test_zero_byte_file(tmp_path):
    for name in ["empty.pdf", "empty.md"]:
        p = tmp_path / name
        p.write_bytes(b"")
        _assert_error(p, "empty file")


def test_image_only_pdf(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.set_fill_color(120, 120, 120)
        pdf.rect(20, 20, 150, 200, style="F")
    p = tmp_path / "scan.pdf"
    pdf.output(str(p))
    _assert_error(p, "no extractable text", "OCR")


def test_binary_markdown(tmp_path):
    p = tmp_path / "blob.md"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2048))
    _assert_error(p, "not a text file", "binary")
    p2 = tmp_path / "junk.md"
    p2.write_bytes(bytes(range(1, 32)) * 50)
    _assert_error(p2, "not a text file")


def test_unsupported_extension(tmp_path):
    p = tmp_path / "report.doc"  # Word 97-2003: the .docx reader does not read it
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an old Word file")
    err = _assert_error(p, "unsupported file type", ".doc", cls=UnsupportedFile)
    assert isinstance(err, IngestError)
    assert ".doc" not in SUPPORTED_SUFFIXES


def test_missing_file(tmp_path):
    _assert_error(tmp_path / "nope.pdf", "not found")


def test_sentence_split_by_a_pull_quote_is_rejoined(tmp_path):
    p = tmp_path / "note.md"
    p.write_text(
        "China has three complementary advantages in sharing development experience: first, the gap between China and most other\n\n"
        "Forming an inclusive digital community may help find leapfrogging solutions.\n\n"
        "developing countries is smaller than between those countries and the West.\n\n"
        "- first bullet\n- second bullet\n",
        encoding="utf-8",
    )
    texts = [b.text for b in load_document(p).blocks]
    assert texts[0].endswith("China and most other developing countries is smaller than between those countries and the West.")
    assert "Forming an inclusive digital community may help find leapfrogging solutions." in texts
    assert texts[-2:] == ["first bullet", "second bullet"]
