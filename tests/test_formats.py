"""Word, PowerPoint, web pages, spreadsheets, CSV and scanned pages (indexer/loaders/{word,slides,web,sheets,scans}),
on files made from the real corpus (tests/formats_fixtures.py), and the bad inputs of issue 19."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from indexer.loaders import IngestError, load_document
from indexer.loaders.formats import FormatRead
from indexer.loaders.scans import NO_ENGINE, load_image, ocr_scanned_pages
from indexer.loaders.sheets import load_csv, load_spreadsheet
from indexer.ocr import NEEDS_OCR, OcrEngine, get_ocr_engine
from tests import formats_fixtures as fx

TESSERACT = get_ocr_engine("tesseract")
needs_tesseract = pytest.mark.skipif(TESSERACT is None, reason="tesseract-ocr is not installed (make install)")
needs_cjk_font = pytest.mark.skipif(not fx.has_font("Noto Sans CJK SC:lang=zh-cn"),
                                    reason="no Chinese font (apt-get install fonts-noto-cjk)")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("formats")
    fx.write_docx(folder / "iprcc.docx")
    fx.write_pptx(folder / "challenges.pptx")
    fx.write_html(folder / "conclusion.html")
    fx.write_xlsx(folder / "participants.xlsx")
    fx.write_csv(folder / "interviewees.csv")
    return folder


def _texts(doc, kind: str | None = None) -> list[str]:
    return [b.text for b in doc.blocks if kind in (None, b.kind)]


# ------------------------------------------------------------------------------------------------------- Word

def test_word_headings_become_sections_and_text_is_whole(files):
    doc = load_document(files / "iprcc.docx")
    title, sections = fx.iprcc_sections()
    assert doc.kind == "word" and doc.page_count == 1 and doc.title == title
    headings = _texts(doc, "heading")
    assert headings == [title] + [s.heading for s in sections[1:]]  # the title, then every heading in order
    truth = "\n".join(s.text for s in sections if not s.heading.startswith("List of"))
    assert fx.word_recall(truth, doc.pages[0]) > 0.99


def test_word_table_rows_are_column_value_lines(files):
    rows = [t for t in _texts(load_document(files / "iprcc.docx")) if t.startswith("Name: ")]
    assert len(rows) == len(fx.interviewees())
    assert "Name: Dr. Wang Yan; Position: Senior Economist; Organisation: World Bank; Interview: " \
           "Interview of UNDP and WB colleagues" in rows


# ------------------------------------------------------------------------------------------------- PowerPoint

def test_each_slide_is_a_page_titled_by_its_title_with_its_notes(files):
    doc = load_document(files / "challenges.pptx")
    challenges = fx.challenges()
    assert doc.kind == "slides" and doc.page_count == 2 + len(challenges)
    assert doc.page_labels[3] == "slide 4"
    for number, (title, bullets, notes) in enumerate(challenges, start=3):
        page = [b for b in doc.blocks if b.page == number]
        assert page[0].kind == "heading" and page[0].text == title
        for sentence in bullets + notes:  # the speaker notes are on the slide's page
            assert sentence in doc.pages[number - 1]


# ------------------------------------------------------------------------------------------------------- HTML

def test_web_page_keeps_the_article_and_drops_menus_footer_and_scripts(files):
    doc = load_document(files / "conclusion.html")
    section = fx.iprcc_section("Conclusion and Recommendations")
    assert doc.kind == "web" and "Conclusion and Recommendations" in _texts(doc, "heading")
    assert fx.word_recall(section.text, doc.pages[0]) > 0.98
    for boilerplate in fx.NAVIGATION_WORDS:
        assert boilerplate not in doc.pages[0], boilerplate


def test_web_page_that_is_all_script(tmp_path):
    page = tmp_path / "app.html"
    page.write_text("<html><head><script>var state = {};</script></head><body><div id='root'></div>"
                    "<script>document.getElementById('root').innerHTML = render(state);</script></body></html>")
    with pytest.raises(IngestError, match="no readable text in the web page"):
        load_document(page)


# ------------------------------------------------------------------------------------------------ spreadsheets

def test_spreadsheet_rows_are_header_value_lines_cited_by_sheet_and_rows(files):
    doc = load_document(files / "participants.xlsx")
    assert doc.kind == "sheet" and doc.title.startswith("UNDP-CAITEC informal discussion")
    assert {"Participants", "Observers"} <= set(_texts(doc, "heading"))
    rows = [b for b in doc.blocks if b.text.startswith("Name: ZHOU Xinyu;")]
    assert len(rows) == 1 and "Chinese name: 周鑫宇" in rows[0].text and "Position (Chinese): 北京外国语大学" in rows[0].text
    label = doc.page_labels[rows[0].page - 1]
    first, last = map(int, re.search(r"^Sheet 'Participants', rows (\d+)–(\d+)$", label).groups())
    people = [p["Name"] for p in fx.caitec_participants() if p["Group"] == "Participant"]
    assert first <= 3 + 1 + people.index("ZHOU Xinyu") <= last  # title, blank, header rows above the people
    assert len(doc.page_labels) == doc.page_count and all(doc.page_labels)


def test_csv_rows_and_row_ranges(files):
    doc = load_document(files / "interviewees.csv")
    assert doc.kind == "table" and doc.page_labels[0].startswith("rows 2–")
    assert any(t.startswith("Name: Dr. Wang Yan; Position: Senior Economist;") for t in _texts(doc))


def test_large_spreadsheet_is_refused_with_one_line_while_streaming(tmp_path):
    path = tmp_path / "big.xlsx"
    fx.write_sheet_xml(path, rows=50_000, cell="x" * 40)
    with pytest.raises(IngestError, match=r"spreadsheet too large: more than 100,000 characters .*row \d+"):
        load_spreadsheet(path, limit=100_000)
    csv_path = tmp_path / "big.csv"
    csv_path.write_text("country,indicator,value\n" + "Kenya,poverty headcount,36.1\n" * 50_000)
    with pytest.raises(IngestError, match="spreadsheet too large"):
        load_csv(csv_path, limit=100_000)


# --------------------------------------------------------------------------------------------- bad Office files

@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx"])
def test_bad_office_files_get_one_line_each(tmp_path, suffix):
    app = {".docx": "Word", ".pptx": "PowerPoint", ".xlsx": "Excel"}[suffix]
    cases = {
        "corrupt": (b"PK\x03\x04" + bytes(range(256)) * 8, f"not a readable {app} file"),
        "password": (fx.encrypted_office_file(tmp_path / f"p{suffix}").read_bytes(), f"password-protected {app} file"),
        "legacy": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000), f"an old binary {app} file"),
        "truncated": (None, f"not a readable {app} file"),
    }
    good = {".docx": fx.write_docx, ".pptx": fx.write_pptx, ".xlsx": fx.write_xlsx}[suffix](tmp_path / f"good{suffix}")
    for name, (data, expected) in cases.items():
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data if data is not None else good.read_bytes()[: good.stat().st_size // 2])
        with pytest.raises(IngestError) as err:
            load_document(path)
        line = str(err.value)
        assert expected in line and "\n" not in line and line.startswith(path.name), line


def test_zip_bomb_disguised_as_docx_is_refused_unopened(tmp_path):
    path = fx.zip_bomb_docx(tmp_path / "bomb.docx", expanded_mb=300)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(IngestError, match="zip bomb"):
        load_document(path)


# --------------------------------------------------------------------------------------------------------- OCR

class FixedTextOcr(OcrEngine):
    """An OCR engine that reads every page as the same text (registered like a real engine would be)."""

    name = "fixed"
    version = "1"

    def __init__(self, text: str):
        self.text = text
        self.pages = 0

    def recognise(self, image, dpi=None, languages=None) -> str:
        self.pages += 1
        return self.text


def test_scanned_pages_of_a_pdf_are_read_only_where_text_is_missing(tmp_path):
    image, _ = fx.english_page("Background", dpi=100)
    path = fx.write_image_pdf(tmp_path / "scan.pdf", [image, image], dpi=100)
    engine = FixedTextOcr("Back in 2003, a group of Chinese government leaders discussed the concept.")
    pages, label = ocr_scanned_pages(path, ["", "Page two has a text layer of its own, long enough."], engine)
    assert engine.pages == 1 and label == "fixed 1" and pages[0].startswith("Back in 2003")
    pages, label = ocr_scanned_pages(path, ["", ""], None)
    assert label == NO_ENGINE and pages == ["", ""]


def test_image_without_an_engine_gets_the_needs_ocr_line(tmp_path):
    path = tmp_path / "page.png"
    fx.english_page("Background", dpi=100)[0].save(path)
    with pytest.raises(IngestError) as err:
        load_image(path, engine=None)
    assert NEEDS_OCR in str(err.value) and "apt-get install tesseract-ocr" in str(err.value)


def test_bad_images(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty file"):
        load_document(empty)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    with pytest.raises(IngestError, match="not a readable image"):
        load_image(broken, engine=FixedTextOcr("x"))


@needs_tesseract
def test_clean_scan_pdf_word_recall(tmp_path):
    image, truth = fx.english_page("Background")
    doc = load_document(fx.write_image_pdf(tmp_path / "background.pdf", [image]))
    assert doc.kind == "pdf" and doc.ocr.startswith("tesseract ")
    assert fx.word_recall(truth, doc.pages[0]) >= 0.95
    assert "Background" in _texts(doc, "heading")


@needs_tesseract
def test_skewed_grey_200_dpi_scan_word_recall(tmp_path):
    image, truth = fx.english_page("Analysis of Initiatives")
    path = tmp_path / "analysis.jpg"
    fx.degrade(image).save(path, quality=80, dpi=(200, 200))
    doc = load_document(path)
    assert doc.kind == "image" and doc.page_count == 1 and doc.ocr.startswith("tesseract ")
    assert fx.word_recall(truth, doc.pages[0]) >= 0.90


@needs_tesseract
@needs_cjk_font
def test_chinese_scan_character_recall(tmp_path):
    image, truth = fx.chinese_page()
    path = tmp_path / "participants.png"
    image.save(path, dpi=(300, 300))
    doc = load_document(path)
    assert fx.cjk_recall(truth, doc.pages[0]) >= 0.90
    assert doc.language == "zh"


def test_format_read_is_what_readers_return():
    assert {f for f in FormatRead.__dataclass_fields__} >= {"kind", "title", "blocks", "page_count", "page_labels", "ocr"}


# ------------------------------------------------------------------------------------------------ end to end

#: A question per file whose answer only that file holds, the sentence to be cited and where it is.
QUESTIONS = {
    "iprcc case study.docx": ("How many participants from developing countries has IPRCC provided training for?",
                              "more than 1,000 participants", ""),
    "challenges.pptx": ("Does IPRCC have the authority to hire international experts?",
                        "IPRCC does not have the authority to hire international experts", "slide 9"),
    "conclusion.html": ("Should staff exchange be recommended between IPRCC and ministries?",
                        "Staff exchange is recommended", ""),
    "caitec participants.xlsx": ("Which university is ZHOU Xinyu an associate professor at?",
                                 "Beijing Foreign Language University", "Sheet 'Participants', rows "),
    "interviewees.csv": ("Which ministry is Mr. Shahabuddin Ahmed Joint Secretary of?", "Ministry of Communication",
                         "rows "),
    "background scan.pdf": ("How many attendees did the Global Conference on Scaling Up Poverty Alleviation draw?",
                            "1700 attendees", "page 1"),
    "analysis scan.jpg": ("Why have Chinese senior-level delegations visited the center?",
                          "senior-level delegations have visited the center", "page 1"),
}


def test_one_file_of_each_format_is_indexed_and_answers_with_its_location(tmp_path):
    from typer.testing import CliRunner

    from assistant.cli import app
    from assistant.pipeline import Assistant
    from assistant.retrieval import Retriever
    from assistant.settings import Settings
    from tests.conftest import ALWAYS_ANSWER, HashEmbedder

    folder = tmp_path / "library"
    fx.make_formats_folder(folder, chinese=TESSERACT is not None and fx.has_font("Noto Sans CJK SC:lang=zh-cn"))
    result = CliRunner().invoke(app, ["index", str(folder)])
    lines = {ln.split(": ")[0].split(None, 1)[1]: ln for ln in result.output.splitlines()
             if ln.split(None, 1)[0] in ("indexed", "failed")}
    scans = {"background scan.pdf", "analysis scan.jpg", "participants zh.png"}
    for name in sorted(p.name for p in folder.iterdir()):
        if TESSERACT is None and name in scans:
            assert lines[name].startswith("failed") and "needs OCR: install tesseract-ocr" in lines[name]
        else:
            assert lines[name].startswith("indexed"), result.output
    assert re.search(r"challenges\.pptx: 10 slides, \d+ chunks", result.output)
    assert re.search(r"caitec participants\.xlsx: 4 row ranges, \d+ chunks", result.output)

    settings = Settings()
    assistant = Assistant(Retriever.load(settings, embedder=HashEmbedder()), None, settings, calibration=ALWAYS_ANSWER)
    for source, (question, quoted, location) in QUESTIONS.items():
        if TESSERACT is None and source in scans:
            continue
        answer = assistant.ask(question)
        cited = [c for c in answer.citations if quoted in c.quote]
        assert cited, (question, answer.answer, [(c.source, c.quote) for c in answer.citations])
        assert cited[0].source == source and cited[0].location.startswith(location), cited[0]
        if location.startswith("Sheet"):
            assert re.fullmatch(r"Sheet 'Participants', rows \d+–\d+", cited[0].location)
    if "participants zh.png" in lines:
        answer = assistant.ask("黄梅波在哪所大学任教?")
        assert any(c.source == "participants zh.png" and "黄梅波" in c.quote and c.location == "page 1"
                   for c in answer.citations), answer


def test_a_pdf_read_without_ocr_is_read_again_once_an_engine_is_there(tmp_path, monkeypatch):
    from fpdf import FPDF

    from assistant.settings import Settings
    from indexer import build
    from indexer.loaders import scans
    from indexer.store import IndexReader
    from tests.conftest import HashEmbedder

    folder = tmp_path / "reports"
    folder.mkdir()
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "Deep wells brought clean water to drought-stricken districts in the north. " * 8)
    pdf.add_page()
    pdf.image(fx.english_page("Background", dpi=100)[0], x=0, y=0, w=210)
    pdf.output(str(folder / "field report.pdf"))
    engine = FixedTextOcr("Back in 2003, a group of Chinese government leaders discussed a training center.")

    def index(ocr):
        monkeypatch.setattr(scans, "get_ocr_engine", lambda: ocr)
        monkeypatch.setattr(build, "get_ocr_engine", lambda: ocr)
        report = build.build_index([folder], Settings().build_settings(), embedder=HashEmbedder(), second_embedder=None)
        reader = IndexReader.open(Settings().index_dir)
        document = next(iter(reader.documents.values()))
        return report.files[0].status, document.ocr, reader.pages(document.doc_id), reader.manifest["ocr"]

    status, ocr, pages, manifest = index(None)  # page 2 is a scan and there is no engine: indexed without it
    assert (status, ocr, pages[1], manifest) == ("indexed", "none", "", None)
    status, ocr, pages, manifest = index(engine)  # an engine now: the file is read again, page 2 too
    assert (status, ocr, manifest["name"]) == ("indexed", "fixed 1", "fixed") and pages[1].startswith("Back in 2003")
    status, ocr, pages, _ = index(None)  # the engine gone: what it read is kept
    assert (status, ocr) == ("unchanged", "fixed 1") and pages[1].startswith("Back in 2003")
