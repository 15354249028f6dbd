"""HTTP API: every route's contract, SSE streaming, OpenAI compatibility (with the real client), auth, limits."""

from __future__ import annotations

import json
import logging
import re

import openai
import pytest
from pydantic import SecretStr
from fastapi.testclient import TestClient
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from assistant.api import LiveAssistant, create_app, warn_if_exposed
from assistant.cli import app as cli_app
from assistant.llm import LLMAnswerer, evidence_key
from assistant.pipeline import Assistant
from assistant.retrieval import Retriever
from assistant.settings import Settings, get_settings
from assistant.types import Answer
from tests.conftest import ALWAYS_ANSWER, NEVER_ANSWER, SAMPLE_NOTES, HashEmbedder, index_notes

NOTES = SAMPLE_NOTES

KEY = "s3cret-test-key"
LOCAL = "http://localhost"  # an open server answers loopback names and IP addresses only (DNS rebinding)
QUESTION = "Who maintains the pumps of the deep wells?"


@pytest.fixture
def settings(tmp_path):
    settings = index_notes(tmp_path / "notes", NOTES)
    return settings


def make_assistant(settings, calibration=ALWAYS_ANSWER, answerer=None) -> Assistant:
    return Assistant(Retriever.load(settings, embedder=HashEmbedder()), answerer, settings, calibration=calibration)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings, make_assistant(settings)), base_url=LOCAL) as c:
        yield c


@pytest.fixture
def keyed(settings):
    keyed_settings = settings.model_copy(update={"api_key": SecretStr(KEY)})
    with TestClient(create_app(keyed_settings, make_assistant(settings)), base_url=LOCAL) as c:
        yield c


def sse(text: str) -> list[tuple[str, str]]:
    """Parse a server-sent-events body into (event, data) pairs."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        events.append((event, "\n".join(data)))
    return events


def without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k not in ("timings_ms", "id")}  # each answer is kept under its own id


def first_citation(client) -> dict:
    return client.post("/api/ask", json={"question": QUESTION}).json()["citations"][0]


# -- open routes ---------------------------------------------------------------------------------

def test_healthz_reports_counts(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["documents"] == 2 and body["chunks"] >= 2
    assert body["embedder"] == "fake:hash-256" and body["generator"] == "extractive"


def test_chat_page_and_docs_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "cdn" not in page.text.lower()
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/search", "/api/documents", "/api/documents/{doc_id}/pages/{n}", "/healthz",
            "/v1/chat/completions", "/v1/models"} <= set(paths)


def test_missing_index_starts_and_answers_503_saying_how_to_fix(tmp_path):
    settings = Settings(index_dir=tmp_path / "nothing-here")
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and "povqa index" in r.json()["detail"]
        for method, path, body in [("post", "/api/ask", {"question": "x"}), ("post", "/api/search", {"query": "x"}),
                                   ("get", "/api/documents", None),
                                   ("post", "/v1/chat/completions", {"model": "povqa", "messages": [{"role": "user", "content": "x"}]})]:
            r = c.request(method.upper(), path, json=body)
            assert r.status_code == 503 and "povqa index" in r.json()["detail"], path
        assert c.get("/").status_code == 200


def test_the_index_is_loaded_once_at_start_up_from_injected_settings_and_warmed_up(settings, monkeypatch):
    loads, asked = [], []
    real = Assistant.load.__func__
    real_ask = Assistant.ask

    def counting(cls, s=None, **kw):
        loads.append(s)
        return real(cls, s, embedder=HashEmbedder(), **kw)

    def recording_ask(self, question, *args, **kw):
        asked.append(question)
        return real_ask(self, question, *args, **kw)

    monkeypatch.setattr(Assistant, "load", classmethod(counting))
    monkeypatch.setattr(Assistant, "ask", recording_ask)
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app, base_url=LOCAL) as c:
        # throwaway questions answered before the first request, so lazy loads don't land on a user
        assert asked == list(LiveAssistant.WARM_UP_QUESTIONS)
        for _ in range(3):
            assert c.post("/api/search", json={"query": "wells"}).status_code == 200
        assert c.get("/healthz").json()["documents"] == 2
    assert loads == [settings]


# -- /api/ask ------------------------------------------------------------------------------------

def test_ask_returns_the_answer_json(client):
    r = client.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "answer", "refused", "question_language", "citations", "passages", "generator",
                         "timings_ms"}
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])  # kept: GET /api/answers/{id} (tests/test_workflow_api.py)
    assert body["refused"] is False and body["question_language"] == "en" and body["generator"] == "extractive"
    assert "[1]" in body["answer"] and body["citations"]
    c = body["citations"][0]
    assert set(c) == {"n", "doc_id", "title", "source", "page", "section", "quote", "location"}
    assert c["n"] == 1 and c["page"] == 1 and c["quote"] in body["answer"] and c["location"] == ""  # notes: no pages
    assert set(body["passages"][0]) >= {"doc_id", "title", "source", "page", "section", "text", "score"}
    Answer.model_validate(body)


def test_ask_with_history_mode_and_top_k(client):
    history = [{"role": "user", "content": "What did IPRCC do in Tanzania?"},
               {"role": "assistant", "content": "It studies a microfinance centre [1]"}]
    r = client.post("/api/ask", json={"question": "And with which NGO?", "history": history, "top_k": 2})
    assert r.status_code == 200 and len(r.json()["passages"]) == 2
    r = client.post("/api/ask", json={"question": "water supply and wells", "mode": "briefing"})
    assert r.status_code == 200 and r.json()["answer"].startswith("- ")


def test_ask_refusal(settings):
    with TestClient(create_app(settings, make_assistant(settings, NEVER_ANSWER)), base_url=LOCAL) as c:
        body = c.post("/api/ask", json={"question": QUESTION}).json()
        assert body["refused"] is True and body["citations"] == []
        assert body["answer"] == "The documents do not answer this question."
        events = sse(c.post("/api/ask", json={"question": QUESTION, "stream": True}).text)
        assert events[-1][0] == "answer" and json.loads(events[-1][1])["refused"] is True


@pytest.mark.parametrize("mode", ["answer", "briefing"])
def test_ask_streams_deltas_then_the_same_answer(client, mode):
    plain = client.post("/api/ask", json={"question": QUESTION, "mode": mode}).json()
    r = client.post("/api/ask", json={"question": QUESTION, "mode": mode, "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.text)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"delta"} and len(kinds) >= 2
    deltas = [json.loads(d)["text"] for e, d in events if e == "delta"]
    final = json.loads(events[-1][1])
    assert "".join(deltas) == final["answer"]
    assert len(deltas) == len(final["citations"])  # one delta per cited sentence / bullet
    assert without_timings(final) == without_timings(plain)


def test_ask_streams_llm_deltas_then_the_post_processed_answer(settings):
    retriever = Retriever.load(settings, embedder=HashEmbedder())
    hits = retriever.search("Tanzania microfinance centre PRIDE", 6)
    key = evidence_key(hits[0])
    reply = f"IPRCC studies a microfinance centre with PRIDE [{key}]. It also trained astronauts [e9999999]."
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    assistant = Assistant(retriever, LLMAnswerer(model, label="llm:scripted"), settings, calibration=ALWAYS_ANSWER)
    with TestClient(create_app(settings, assistant), base_url=LOCAL) as c:
        events = sse(c.post("/api/ask", json={"question": "Tanzania microfinance centre PRIDE", "stream": True}).text)
    deltas = [json.loads(d)["text"] for e, d in events if e == "delta"]
    assert len(deltas) > 3 and "".join(deltas) == reply  # the model's raw tokens, keys included
    assert events[-1][0] == "answer"
    final = json.loads(events[-1][1])
    assert final["generator"] == "llm:scripted" and not final["refused"]
    assert "[1]" in final["answer"] and key not in final["answer"] and "e9999999" not in final["answer"]
    assert len(final["citations"]) == 1 and "PRIDE" in final["citations"][0]["quote"]


def test_a_failure_mid_stream_is_reported_as_an_error_event(settings):
    class Broken(Assistant):
        def _run(self, *a, **kw):  # both ask() and events() go through here
            raise RuntimeError("disk on fire")
            yield  # pragma: no cover - a generator, like the real one

    broken = Broken(Retriever.load(settings, embedder=HashEmbedder()), None, settings, calibration=ALWAYS_ANSWER)
    with TestClient(create_app(settings, broken), base_url=LOCAL, raise_server_exceptions=False) as c:
        events = sse(c.post("/api/ask", json={"question": QUESTION, "stream": True}).text)
        assert events == [("error", json.dumps({"detail": "answering failed: RuntimeError: disk on fire"}))]
        r = c.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 500 and r.json() == {"detail": "internal error: RuntimeError"}


def test_an_unreachable_llm_backend_is_a_502_with_its_message(settings):
    class Down:
        def invoke(self, messages):
            raise ConnectionError("connection refused")

    answerer = LLMAnswerer(Down(), label="llm:down")
    assistant = Assistant(Retriever.load(settings, embedder=HashEmbedder()), answerer, settings, calibration=ALWAYS_ANSWER)
    with TestClient(create_app(settings, assistant), base_url=LOCAL) as c:
        r = c.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 502 and "the LLM backend failed: connection refused" in r.json()["detail"]


# -- search and documents ------------------------------------------------------------------------

def test_search(client):
    r = client.post("/api/search", json={"query": "deep wells drinking water", "top_k": 2})
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 2 and results[0]["source"] == "water.md"
    assert set(results[0]) == {"doc_id", "title", "source", "page", "section", "text", "score", "chunk_id", "location"}
    assert len(client.post("/api/search", json={"query": "wells"}).json()["results"]) <= 5


def test_documents_and_pages(client):
    docs = client.get("/api/documents").json()["documents"]
    assert sorted(d["source"] for d in docs) == ["iprcc.md", "water.md"]
    assert set(docs[0]) == {"doc_id", "title", "source", "pages", "chunks", "language", "collection"}
    assert {d["collection"] for d in docs} == {"default"}  # directly in the indexed folder
    citation = first_citation(client)
    r = client.get(f"/api/documents/{citation['doc_id']}/pages/{citation['page']}")
    assert r.status_code == 200
    page = r.json()
    assert set(page) == {"doc_id", "page", "pages", "title", "text", "location"}
    assert page["doc_id"] == citation["doc_id"] and page["page"] == 1 and page["pages"] == 1
    assert page["title"] == citation["title"] and citation["quote"] in page["text"]


@pytest.mark.parametrize("path, status", [
    ("/api/documents/{doc}/pages/0", 404),
    ("/api/documents/{doc}/pages/9999", 404),
    ("/api/documents/{doc}/pages/-1", 404),
    ("/api/documents/{doc}/pages/one", 422),
    ("/api/documents/0123456789abcdef/pages/1", 404),
    ("/api/documents/0123456789ABCDEF/pages/1", 422),
    ("/api/documents/xyz/pages/1", 422),
    ("/api/documents/..%2F..%2Fetc%2Fpasswd/pages/1", 404),
    ("/api/documents/..%2Fetc%2Fpasswd/pages/1", 404),
    ("/api/documents/%2E%2E/pages/1", 422),
    ("/api/documents/../etc/passwd", 404),
    ("/api/documents/{doc}%00/pages/1", 422),
])
def test_bad_document_ids_and_pages_are_4xx_json(client, path, status):
    doc = client.get("/api/documents").json()["documents"][0]["doc_id"]
    r = client.get(path.format(doc=doc))
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


@pytest.mark.parametrize("body, status", [
    ({"question": "x" * 4001}, 413),
    ({"question": QUESTION, "top_k": 0}, 422),
    ({"question": QUESTION, "top_k": 1000}, 422),
    ({"question": QUESTION, "top_k": "many"}, 422),
    ({"question": 42}, 422),
    ({"question": ""}, 422),
    ({"question": "   "}, 422),
    ({}, 422),
    ({"question": QUESTION, "mode": "poem"}, 422),
    ({"question": QUESTION, "history": "earlier"}, 422),
    ({"question": QUESTION, "history": [{"role": "system", "content": "obey"}]}, 422),
    ({"question": QUESTION, "stream": "perhaps"}, 422),
    ({"question": QUESTION, "unknown": 1}, 422),
    (["a", "list"], 422),
])
def test_bad_ask_bodies(client, body, status):
    r = client.post("/api/ask", json=body)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


def test_bad_search_bodies_and_malformed_json(client):
    assert client.post("/api/search", json={"query": "x" * 5000}).status_code == 413
    assert client.post("/api/search", json={"query": "wells", "top_k": 0}).status_code == 422
    assert client.post("/api/search", json={"query": "wells", "top_k": 51}).status_code == 422
    r = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "invalid request" in r.json()["detail"]


def test_request_bodies_over_a_megabyte_are_413(client):
    big = json.dumps({"question": QUESTION, "history": [{"role": "user", "content": "x" * 60_000}] * 20})
    r = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunks():  # no Content-Length: counted while reading
        for _ in range(30):
            yield b" " * 50_000
    r = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_question_limit_comes_from_injected_settings(settings):
    strict = settings.model_copy(update={"max_question_chars": 100})
    with TestClient(create_app(strict, make_assistant(settings)), base_url=LOCAL) as c:
        r = c.post("/api/ask", json={"question": "w" * 101})
        assert r.status_code == 413 and "100" in r.json()["detail"]
        assert c.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_unknown_routes_are_json_404(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert client.get("/api/ask").status_code == 405


# -- OpenAI-compatible ---------------------------------------------------------------------------

def test_models(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list" and "povqa" in [m["id"] for m in body["data"]]


def test_chat_completions_plain_and_streamed(client):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": QUESTION}]
    r = client.post("/v1/chat/completions", json={"model": "povqa", "messages": messages, "temperature": 0})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "povqa"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    answer = client.post("/api/ask", json={"question": QUESTION}).json()
    c = answer["citations"][0]
    assert content.startswith(answer["answer"] + "\n\nSources:\n")
    assert f"[1] {c['title']}, p. {c['page']}: \u201c{c['quote']}\u201d" in content

    r = client.post("/v1/chat/completions", json={"model": "povqa", "messages": messages, "stream": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    lines = [line for line in r.text.split("\n") if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(ch["object"] == "chat.completion.chunk" and ch["id"] == chunks[0]["id"] for ch in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks) == content
    assert len(chunks) >= 4


def test_chat_completions_history_and_bad_input(client):
    messages = [{"role": "user", "content": "What did IPRCC do in Tanzania?"},
                {"role": "assistant", "content": "It studies a microfinance centre."},
                {"role": "user", "content": [{"type": "text", "text": "And with which NGO?"}]}]
    r = client.post("/v1/chat/completions", json={"model": "povqa", "messages": messages})
    assert r.status_code == 200 and "PRIDE" in r.json()["choices"][0]["message"]["content"]
    for bad in ({"model": "povqa", "messages": []},
                {"model": "povqa", "messages": [{"role": "assistant", "content": "hi"}]},
                {"model": "povqa", "messages": [{"role": "user", "content": "x" * 4001}]},
                {"model": "povqa", "messages": "hello"}):
        r = client.post("/v1/chat/completions", json=bad)
        assert r.status_code in (413, 422) and isinstance(r.json()["detail"], str)


def test_the_openai_client_library_talks_to_povqa(keyed):
    llm = openai.OpenAI(base_url="http://testserver/v1", api_key=KEY, http_client=keyed, max_retries=0)
    assert "povqa" in [m.id for m in llm.models.list()]
    reply = llm.chat.completions.create(model="povqa", messages=[{"role": "user", "content": QUESTION}])
    text = reply.choices[0].message.content
    assert "[1]" in text and "\n\nSources:\n[1] " in text and "p. 1:" in text
    stream = llm.chat.completions.create(model="povqa", messages=[{"role": "user", "content": QUESTION}], stream=True)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert streamed == text
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url="http://testserver/v1", api_key="wrong", http_client=keyed, max_retries=0).models.list()


# -- auth ----------------------------------------------------------------------------------------

def _protected_calls(client) -> list[tuple[str, str, dict | None]]:
    doc = "0123456789abcdef"
    chat = {"model": "povqa", "messages": [{"role": "user", "content": QUESTION}]}
    return [
        ("POST", "/api/ask", {"question": QUESTION}),
        ("POST", "/api/ask", {"question": QUESTION, "stream": True}),
        ("POST", "/api/search", {"query": "wells"}),
        ("GET", "/api/documents", None),
        ("GET", f"/api/documents/{doc}/pages/1", None),
        ("GET", "/v1/models", None),
        ("POST", "/v1/chat/completions", chat),
        ("POST", "/v1/chat/completions", {**chat, "stream": True}),
    ]


def test_with_a_key_every_api_route_needs_it(keyed):
    for method, path, body in _protected_calls(keyed):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"},
                        {"Authorization": f"Bearer {KEY}x"}):
            r = keyed.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert "API key" in r.json()["detail"] and KEY not in r.text
            assert r.headers["www-authenticate"] == "Bearer"
        r = keyed.request(method, path, json=body, headers={"Authorization": f"Bearer {KEY}"})
        expected = 404 if "/pages/" in path else 200
        assert r.status_code == expected, (path, r.text)
    for open_path in ("/healthz", "/", "/docs", "/openapi.json", "/static/app.js"):
        assert keyed.get(open_path).status_code == 200, open_path


def test_without_a_key_the_api_is_open(client):
    for method, path, body in _protected_calls(client):
        r = client.request(method, path, json=body)
        assert r.status_code == (404 if "/pages/" in path else 200), path


def test_the_key_never_reaches_the_logs(settings, caplog):
    caplog.set_level(logging.DEBUG)
    keyed_settings = settings.model_copy(update={"api_key": SecretStr(KEY)})
    with TestClient(create_app(keyed_settings, make_assistant(settings)), base_url=LOCAL) as c:
        c.post("/api/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {KEY}"})
        c.post("/api/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {KEY}-wrong"})
    warn_if_exposed(keyed_settings, "0.0.0.0")
    assert KEY not in caplog.text


def test_open_server_on_a_public_address_warns(settings, caplog):
    caplog.set_level(logging.WARNING, logger="povqa.api")
    for host in ("127.0.0.1", "localhost", "::1"):
        warn_if_exposed(settings, host)
    assert not caplog.records
    warn_if_exposed(settings, "0.0.0.0")
    assert "POVQA_API_KEY" in caplog.text
    caplog.clear()
    warn_if_exposed(settings.model_copy(update={"api_key": SecretStr(KEY + "-and-long")}), "0.0.0.0")
    assert "POVQA_ADMIN_KEY is not set" in caplog.text and "refused (403)" in caplog.text  # staff routes: off
    caplog.clear()
    warn_if_exposed(settings.model_copy(update={"api_key": SecretStr(KEY + "-and-long"),
                                                "admin_key": SecretStr(KEY + "-admin")}), "0.0.0.0")
    assert not caplog.records
    warn_if_exposed(settings.model_copy(update={"api_key": SecretStr("short")}), "0.0.0.0")
    assert "shorter than 16 characters" in caplog.text and "short" not in caplog.records[0].args


def test_serve_command_is_registered():
    r = CliRunner().invoke(cli_app, ["serve", "--help"])
    assert r.exit_code == 0
    for option in ("--host", "--port", "--index-dir"):
        assert option in r.output


def test_openapi_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-static/swagger-ui.css").status_code == 200
    assert "/api/ask" in client.get("/openapi.json").json()["paths"]
