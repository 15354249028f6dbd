"""The staff workflow in a real browser (issue 20, done-when 1): headless Chromium (Debian's) driven by Playwright
against a real `povqa serve` (a child process, the tests' fake embedder) over a fresh index of its own.

Upload a good PDF (a fact no other document has) and a corrupt one through the page, see each file's result; ask
a question only the new PDF answers and see it cited; thumbs it down with the expected quote; export the feedback
and score it with `povqa eval`; delete the document in the page and see the same question refused.
Screenshots go to tests/artifacts/workflow-*.png.

The server answers with a refusal model that weighs only the share of the question's key terms missing from the
top passages (the shipped model's cosine scale is the real embedder's, not the fake one's): with the PDF indexed
the question's terms are all there, without it most are missing.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import docx
import httpx
import pytest

from bench.serve import ROOT, build_fake_index, running_server
from tests.conftest import SAMPLE_NOTES
from tests.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium): browser test skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect

TITLE = "Lumbara solar pump pilot"
FACT = "The Lumbara pilot installed 37 solar irrigation pumps in Kivu Province in 2023."
QUESTION = "How many solar irrigation pumps did the Lumbara pilot install?"
#: Answer when the question's key terms are in the top passages, refuse when most are missing (see the docstring).
KEY_TERMS_MODEL = {"bias": 4.0, "w_cosine": 0.0, "w_missing": -8.0, "threshold": 0.5}
WAIT_MS = 30_000


def lumbara_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(TITLE)
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, f"{TITLE}\n\n{FACT} Each pump serves about 120 farming households. Farmers repay the "
                         "pumps over five years through a savings group.")
    pdf.output(str(path))
    return path


@pytest.fixture
def server(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    build_fake_index(index, SAMPLE_NOTES, corpus)
    model = tmp_path / "key-terms-model.json"
    model.write_text(json.dumps(KEY_TERMS_MODEL), "utf-8")
    env = {"POVQA_CORPUS_DIR": str(corpus), "POVQA_REFUSAL__CALIBRATION_FILE": str(model)}
    with running_server(index, tmp_path / "server.log", env=env) as running:
        running.corpus = corpus
        yield running


@pytest.fixture
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
            yield context.new_page()
        finally:
            browser.close()


def ask(page, question: str):
    before = page.locator(".msg-bot").count()
    page.fill("#question", question)
    page.keyboard.press("Enter")
    card = page.locator(".msg-bot").nth(before).locator(".card")
    expect(card).not_to_have_class("card streaming", timeout=WAIT_MS)
    expect(card).not_to_have_class("card error")
    return card


def drop(page, path: Path) -> None:
    """Drops a file on the drop zone, as a drag from the desktop does."""
    page.evaluate("""([name, data]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: "application/pdf" }));
        const zone = document.getElementById("dropzone");
        for (const type of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }
    }""", [path.name, base64.b64encode(path.read_bytes()).decode()])


def upload_row(page, name: str):
    return page.locator(f"#uploads li[data-file='{name}']").first


def test_upload_ask_rate_export_evaluate_delete(server, page, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    good = lumbara_pdf(tmp_path / "lumbara.pdf")
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n")

    page.goto(server.url + "/")
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator("#docs li")).to_have_count(2)
    assert ask(page, QUESTION).get_attribute("class") == "card refusal"  # not in the documents yet

    # -- upload with the file picker: a result per file ----------------------------------------------------
    page.fill("#upload-collection", "pilots")
    page.set_input_files("#file-input", [str(good), str(corrupt)])
    good_row, bad_row = upload_row(page, "lumbara.pdf"), upload_row(page, "corrupt.pdf")
    expect(good_row).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
    expect(good_row.locator(".upload-status")).to_contain_text("indexed pilots/lumbara.pdf: 1 pages")
    expect(bad_row).to_have_attribute("data-state", "failed")
    expect(bad_row.locator(".upload-status")).to_contain_text("failed")
    expect(bad_row.locator(".upload-status")).to_contain_text("not a readable PDF")
    expect(page.locator("#docs li")).to_have_count(3)
    expect(page.locator("#collections li[data-collection='pilots']")).to_contain_text("1 document")
    new_doc = page.locator("#docs li[data-source='pilots/lumbara.pdf']")
    expect(new_doc.locator(".doc-meta")).to_contain_text("1 page")
    title = new_doc.locator(".doc-title").inner_text()
    page.locator("#sidebar").screenshot(path=str(ARTIFACTS / "workflow-upload.png"))

    # the same file again, dropped on the drop zone: already indexed, nothing rebuilt
    drop(page, good)
    expect(page.locator("#uploads li").first).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
    expect(page.locator("#uploads li").first.locator(".upload-status")).to_contain_text("unchanged")
    expect(page.locator("#docs li")).to_have_count(3)

    # -- the question only the new PDF answers, cited -----------------------------------------------------
    answer = ask(page, QUESTION)
    assert answer.get_attribute("class") == "card"
    expect(answer.locator(".sources li").first.locator(".src-title")).to_have_text(title)
    assert FACT in answer.locator(".sources .src-quote").all_inner_texts()[0]
    answer.screenshot(path=str(ARTIFACTS / "workflow-cited-answer.png"))

    # the Word and Markdown exports of that answer hold the cited quote verbatim
    with page.expect_download() as download:
        answer.locator(".export[data-format='docx']").click()
    paragraphs = [p.text for p in docx.Document(download.value.path()).paragraphs]
    assert QUESTION in paragraphs and FACT in paragraphs
    with page.expect_download() as download:
        answer.locator(".export[data-format='md']").click()
    assert download.value.suggested_filename.endswith(".md")
    markdown = Path(download.value.path()).read_text("utf-8")
    assert markdown.startswith(f"# {QUESTION}\n") and f"> {FACT}\n" in markdown and "[1]" in markdown

    # -- thumbs down with the expected quote: it becomes an evaluation case ---------------------------------
    answer.locator(".thumb.down").click()
    form = answer.locator(".feedback-form")
    expect(form).to_be_visible()
    form.locator("textarea").fill(FACT)
    form.locator("input[name='comment']").fill("Give the number of pumps first.")
    form.locator("button[type='submit']").click()
    expect(answer.locator(".action-status")).to_contain_text(
        "an evaluation case: the expected text is on pilots/lumbara.pdf, page 1", timeout=WAIT_MS)
    expect(answer.locator(".thumb.down")).to_have_attribute("aria-pressed", "true")
    expect(form).to_be_hidden()
    answer.screenshot(path=str(ARTIFACTS / "workflow-feedback.png"))

    # -- the collection filter: only 'default' does not answer it, 'pilots' does -----------------------------
    page.click("#scope-summary")
    page.get_by_label("default", exact=False).check()
    expect(page.locator("#scope-summary")).to_have_text("Asking: default")
    assert ask(page, QUESTION).get_attribute("class") == "card refusal"
    page.get_by_label("default", exact=False).uncheck()
    page.get_by_label("pilots", exact=False).check()
    assert ask(page, QUESTION).get_attribute("class") == "card"
    page.get_by_label("pilots", exact=False).uncheck()
    expect(page.locator("#scope-summary")).to_have_text("Asking: all collections")

    # -- the feedback export, scored by `povqa eval` against the same server ------------------------------------
    exported = httpx.get(server.url + "/api/feedback/export", timeout=30)
    assert exported.status_code == 200, exported.text
    cases = [json.loads(line) for line in exported.text.splitlines() if line.strip()]
    assert len(cases) == 1 and cases[0]["question"] == QUESTION and cases[0]["rating"] == "down"
    assert cases[0]["evidence"] == FACT and cases[0]["doc"] == "pilots/lumbara.pdf" and cases[0]["answerable"]
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text(exported.text, "utf-8")
    report = tmp_path / "report"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POVQA_EMBEDDER": "fake", "POVQA_RETRIEVAL__SECOND_EMBEDDER": ""}
    run = subprocess.run([sys.executable, "-m", "bench.fakecli", "eval", str(feedback), "--url", server.url,
                          "--report", str(report)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    (row,) = json.loads((report / "report.json").read_text("utf-8"))["runs"][0]["rows"]
    assert row["id"] == cases[0]["id"] and row["error"] is None and row["refused"] is False
    assert row["retrieval_rank"] == 1
    assert row["citation_checks"]["evidence_cited"] and row["citation_checks"]["page_correct"]
    assert row["citation_checks"]["quotes_not_verbatim"] == []

    # -- delete the document in the page: the same question is refused ------------------------------------------
    new_doc.locator(".delete").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    expect(page.locator("#confirm-message")).to_contain_text("pilots/lumbara.pdf")
    page.click("#confirm-ok")
    removal = page.locator("#uploads li.removal").first
    expect(removal).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
    expect(removal.locator(".upload-status")).to_contain_text("removed")
    expect(page.locator("#docs li")).to_have_count(2)
    assert not [p for p in server.corpus.rglob("lumbara.pdf") if ".uploads" not in p.parts]
    refusal = ask(page, QUESTION)
    assert refusal.get_attribute("class") == "card refusal"
    expect(refusal.locator(".card-label")).to_contain_text("Not answered by the documents")
    assert refusal.locator(".cite").count() == 0
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.locator("#sidebar").evaluate("node => node.scrollTo(0, node.scrollHeight)")
    page.wait_for_timeout(700)  # the page's own smooth scroll to the answer ends first
    page.screenshot(path=str(ARTIFACTS / "workflow-refusal-after-delete.png"))

    # -- the conversation is kept in the browser, with its rating -----------------------------------------------
    count = page.locator(".msg-bot").count()
    page.reload()
    expect(page.locator(".msg-bot")).to_have_count(count)
    expect(page.locator(".msg-bot").nth(1).locator(".thumb.down")).to_have_attribute("aria-pressed", "true")
    page.click("#new-chat")
    expect(page.locator(".msg-bot")).to_have_count(0)
    expect(page.locator("#conversations li")).to_have_count(1)
    page.locator("#conversations .conv").first.click()
    expect(page.locator(".msg-bot")).to_have_count(count)
    page.click("#forget-chats")
    page.click("#confirm-ok")
    expect(page.locator("#conversations li")).to_have_count(0)
    expect(page.locator(".msg-bot")).to_have_count(0)
    assert page.evaluate("localStorage.getItem('povqa.conversations')") is None
    assert errors == []


ARABIC_NOTE = "# مشروع آبار الساحل\n\nحفرت لجنة القرية اثني عشر بئرا جديدة في منطقة الساحل عام 2022.\n"
ARABIC_QUESTION = "كم بئرا حفرت لجنة القرية في منطقة الساحل؟"


def test_keys_are_asked_once_per_session_and_arabic_reads_right_to_left(tmp_path):
    """A server with an API key and an admin key: the page asks for a key on the first 401, and for the admin key
    when an upload is refused with 403; the key is kept for the tab's session (a reload asks nothing). An Arabic
    note uploaded and asked about: its title, the question and the answer read right to left. On a phone the
    library opens above the chat without scrolling sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    build_fake_index(index, SAMPLE_NOTES, corpus)
    model = tmp_path / "key-terms-model.json"
    model.write_text(json.dumps(KEY_TERMS_MODEL), "utf-8")
    note = tmp_path / "sahel.md"
    note.write_text(ARABIC_NOTE, "utf-8")
    env = {"POVQA_CORPUS_DIR": str(corpus), "POVQA_REFUSAL__CALIBRATION_FILE": str(model),
           "POVQA_API_KEY": "reader-key", "POVQA_ADMIN_KEY": "staff-key"}
    with running_server(index, tmp_path / "server.log", env=env) as server, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto(server.url + "/")
            expect(page.locator("#key-dialog")).to_be_visible()
            page.fill("#key-input", "reader-key")
            page.click("#key-save")
            expect(page.locator("#docs li")).to_have_count(2)

            page.set_input_files("#file-input", [str(note)])
            expect(page.locator("#key-dialog")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#key-message")).to_contain_text("POVQA_ADMIN_KEY")
            page.fill("#key-input", "staff-key")
            page.click("#key-save")
            row = upload_row(page, "sahel.md")
            expect(row).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
            expect(row.locator(".upload-status")).to_contain_text("indexed sahel.md")
            assert page.evaluate("sessionStorage.getItem('povqa.apiKey')") == "staff-key"
            assert page.evaluate("localStorage.getItem('povqa.apiKey')") is None

            page.reload()
            expect(page.locator("#docs li")).to_have_count(3)
            assert not page.locator("#key-dialog").is_visible()
            title = page.locator("#docs li[data-source='sahel.md'] .doc-title")
            assert title.evaluate("node => node.matches(':dir(rtl)')")
            answer = ask(page, ARABIC_QUESTION)
            assert answer.get_attribute("class") == "card"
            assert "اثني عشر بئرا" in answer.locator(".answer-text").inner_text()
            assert answer.locator(".answer-text").evaluate("node => node.matches(':dir(rtl)')")
            assert page.locator(".msg-user .bubble").last.evaluate("node => node.matches(':dir(rtl)')")
            answer.screenshot(path=str(ARTIFACTS / "workflow-arabic-answer.png"))

            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            phone.goto(server.url + "/")
            phone.fill("#key-input", "reader-key")  # a new tab is a new session: the key is asked again
            phone.click("#key-save")
            expect(phone.locator("#sidebar")).to_be_hidden()
            phone.click("#toggle-sidebar")
            expect(phone.locator("#toggle-sidebar")).to_have_attribute("aria-expanded", "true")
            expect(phone.locator("#docs li")).to_have_count(3)
            assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            phone.screenshot(path=str(ARTIFACTS / "workflow-phone-library.png"))
        finally:
            browser.close()
