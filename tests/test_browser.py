"""The chat page in a real browser: headless Chromium (Debian's) driven by Playwright against a live server.

Skipped only when /usr/bin/chromium or the playwright package is missing. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr

from assistant.api import create_app
from assistant.pipeline import Assistant
from assistant.retrieval import Retriever
from assistant.settings import Settings
from tests.conftest import ALWAYS_ANSWER, HashEmbedder, NEVER_ANSWER, index_notes
from tests.test_api import NOTES

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium): browser test skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")



class DemoAssistant(Assistant):
    """Answers everything (permissive calibration) except questions about Mars, which it refuses."""

    def _run(self, question, history, mode, top_k, stream):  # ask() and events() both come here
        calibrated = Assistant(self.retriever, self.answerer, self.settings, reranker=self.reranker,
                               calibration=NEVER_ANSWER if "Mars" in question else ALWAYS_ANSWER)
        return calibrated._run(question, history, mode, top_k, stream)


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = index_notes(tmp_path / "notes", NOTES)
    return settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """uvicorn in a thread on a free port, with the assistant built over the test index."""
    assistant = DemoAssistant(Retriever.load(settings, embedder=HashEmbedder()), None, settings, calibration=ALWAYS_ANSWER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, assistant), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _watch(page) -> tuple[list[str], list[dict]]:
    errors: list[str] = []
    asks: list[dict] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: asks.append(json.loads(req.post_data)) if req.url.endswith("/api/ask") else None)
    return errors, asks


def test_ask_stream_and_show_the_cited_quote_in_its_page(settings, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with serving(settings) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        errors, asks = _watch(page)
        page.goto(url + "/")
        sync_api.expect(page.locator("#docs li")).to_have_count(2)

        streamed = []
        page.on("response", lambda r: streamed.append(r.headers.get("content-type", "")) if r.url.endswith("/api/ask") else None)
        page.fill("#question", "Who maintains the pumps of the deep wells?")
        page.keyboard.press("Enter")
        answer = page.locator(".msg-bot").last
        sync_api.expect(answer.locator(".sources li").first).to_be_visible(timeout=15_000)
        assert streamed and streamed[0].startswith("text/event-stream")
        assert asks[0]["stream"] is True and asks[0]["mode"] == "answer" and asks[0]["history"] == []
        text = answer.locator(".answer-text").inner_text()
        assert "pumps" in text and "[" not in text  # markers became buttons
        assert answer.locator(".card.refusal").count() == 0

        quote = answer.locator(".sources li").first.locator(".src-quote").inner_text().strip("“”")
        answer.locator(".answer-text .cite[data-n='1']").click()
        mark = page.locator("#page-text mark")
        sync_api.expect(mark).to_have_text(quote)
        sync_api.expect(page.locator("#source-meta")).to_contain_text("Page 1 of 1")
        sync_api.expect(page.locator("#source-title")).to_have_text(answer.locator(".src-title").first.inner_text())
        assert "Deep wells" in page.locator("#page-text").inner_text()
        page.screenshot(path=str(ARTIFACTS / "chat-answer.png"), full_page=True)

        # Follow-up in briefing mode: the conversation so far goes with it.
        page.click("#mode-briefing")
        page.fill("#question", "And the water-borne disease cases?")
        page.click("#send")
        briefing = page.locator(".msg-bot").nth(1)
        sync_api.expect(briefing.locator(".sources li").first).to_be_visible(timeout=15_000)
        assert briefing.locator(".answer-text li").count() >= 2
        assert asks[1]["mode"] == "briefing"
        assert [t["role"] for t in asks[1]["history"]] == ["user", "assistant"]
        assert asks[1]["history"][0]["content"] == "Who maintains the pumps of the deep wells?"

        # A refusal looks different from an answer.
        page.click("#mode-answer")
        page.fill("#question", "What is the weather on Mars?")
        page.click("#send")
        refusal = page.locator(".msg-bot").nth(2).locator(".card")
        sync_api.expect(refusal).to_have_class("card refusal", timeout=15_000)
        sync_api.expect(refusal.locator(".card-label")).to_contain_text("Not answered by the documents")
        assert refusal.locator(".cite").count() == 0
        # ... and still shows the closest passages, with their text, so the reader can judge (issue 17)
        closest = refusal.locator(".closest li")
        assert closest.count() >= 1
        assert closest.first.locator(".src-quote").inner_text().strip()
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.screenshot(path=str(ARTIFACTS / "chat-conversation.png"))
        refusal.screenshot(path=str(ARTIFACTS / "chat-refusal-passages.png"))

        # Phone-sized screen: no horizontal scrolling, the source opens as a sheet.
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        phone.goto(url + "/")
        phone.fill("#question", "Who maintains the pumps of the deep wells?")
        phone.click("#send")
        sync_api.expect(phone.locator(".sources li").first).to_be_visible(timeout=15_000)
        phone.locator(".answer-text .cite").first.click()
        sync_api.expect(phone.locator("#page-text mark")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        phone.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
        assert errors == []


def test_the_page_asks_for_the_api_key_once(settings, browser):
    keyed = settings.model_copy(update={"api_key": SecretStr("browser-key")})
    with serving(keyed) as url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "/")
        dialog = page.locator("#key-dialog")
        sync_api.expect(dialog).to_be_visible()
        page.fill("#key-input", "browser-key")
        page.click("#key-save")
        sync_api.expect(page.locator("#docs li")).to_have_count(2)
        assert page.evaluate("sessionStorage.getItem('povqa.apiKey')") == "browser-key"

        page.reload()
        sync_api.expect(page.locator("#docs li")).to_have_count(2)
        assert not dialog.is_visible()
        page.fill("#question", "Who maintains the pumps of the deep wells?")
        page.keyboard.press("Enter")
        sync_api.expect(page.locator(".sources li").first).to_be_visible(timeout=15_000)
        context.close()
