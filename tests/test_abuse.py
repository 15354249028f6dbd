"""The server under abuse (issue 18): one test (or more) per finding, each failing on the code before the fix.

Connection-level limits (slow bodies, idle connections) are measured at scale by `python -m bench.abuse`; here
they are checked small, against a real uvicorn in a thread."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from assistant.api import RedactSecret, create_app
from assistant.cli import app as cli_app
from assistant.pipeline import Assistant
from assistant.retrieval import Retriever
from assistant.settings import ServerSettings, Settings
from tests.conftest import ALWAYS_ANSWER, ROOT, SAMPLE_NOTES, HashEmbedder, index_notes

LOCAL = "http://localhost"
KEY = "s3cr3t+K/ey==with-some-length"
QUESTION = "Who maintains the pumps of the deep wells?"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return index_notes(tmp_path / "notes", SAMPLE_NOTES)


def make_assistant(settings, cls=Assistant) -> Assistant:
    return cls(Retriever.load(settings, embedder=HashEmbedder()), None, settings, calibration=ALWAYS_ANSWER)


def with_server(settings: Settings, **server) -> Settings:
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings, make_assistant(settings)), base_url=LOCAL) as c:
        yield c


@pytest.fixture
def keyed(settings):
    keyed_settings = settings.model_copy(update={"api_key": SecretStr(KEY)})
    with TestClient(create_app(keyed_settings, make_assistant(settings)), base_url=LOCAL) as c:
        yield c


@contextmanager
def serving(app, settings: Settings, **options) -> Iterator[str]:
    """`povqa serve`'s uvicorn (the guarded protocol and limits of assistant.api.server) in a thread."""
    from assistant.api.server import uvicorn_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, settings, "127.0.0.1", port, **{"log_level": "warning", **options}))
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


def raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def read_response(sock: socket.socket) -> bytes:
    """One HTTP response (head and a Content-Length body) from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def request_bytes(method: str, path: str, body: bytes = b"", host: str = "localhost") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# -- 1. bounded work from the history, and none for a client that has gone ----------------------------

class Recording(Assistant):
    calls: list = []

    def ask(self, question, history=None, mode="answer", top_k=None):
        type(self).calls.append((question, history))
        if question.startswith("slow"):
            time.sleep(1.5)
        return super().ask(question, history, mode, top_k)


def test_a_100k_character_history_turn_is_cut_and_old_turns_dropped(settings):
    """Finding 1: the previous turn was embedded whole (100,000 Chinese characters: 145 s, +1.4 GB)."""
    Recording.calls = []
    with TestClient(create_app(settings, make_assistant(settings, Recording)), base_url=LOCAL) as c:
        long_turn = "中心与哪些国家合作过" * 10_000  # 100,000 characters
        history = [{"role": "user", "content": f"turn {i}"} for i in range(40)]
        history += [{"role": "user", "content": long_turn}, {"role": "assistant", "content": "答案" * 40_000}]
        r = c.post("/api/ask", json={"question": "那坦桑尼亚呢？", "history": history})
        assert r.status_code == 200, r.text
        messages = [{"role": m["role"], "content": m["content"]} for m in history] + [{"role": "user", "content": QUESTION}]
        r = c.post("/v1/chat/completions", json={"model": "povqa", "messages": messages})
        assert r.status_code == 200, r.text
    server = settings.server
    assert len(Recording.calls) == 2
    for _, used in Recording.calls:
        assert len(used) == server.max_history_turns
        assert max(len(t["content"]) for t in used if t["role"] == "user") == server.max_history_chars
        assert used[-2]["content"] == long_turn[-server.max_history_chars:]  # the question's end: nearest the follow-up
        assert used[-1]["content"] == "答案" * 500  # an answer keeps what an LLM answerer reads of it


def test_a_client_that_leaves_while_its_question_waits_is_not_answered(settings):
    """Finding 1: the work went on after the client disconnected."""
    Recording.calls = []
    one_at_a_time = with_server(settings, max_concurrent_answers=1)
    with serving(create_app(one_at_a_time, make_assistant(settings, Recording)), one_at_a_time) as url:
        first = threading.Thread(target=lambda: httpx.post(url + "/api/ask", json={"question": "slow " + QUESTION},
                                                          timeout=30))
        first.start()
        time.sleep(0.3)
        with pytest.raises(httpx.ReadTimeout):  # waits behind the slow one, then gives up
            httpx.post(url + "/api/ask", json={"question": "gone " + QUESTION}, timeout=0.5)
        first.join()
        time.sleep(0.5)
        r = httpx.post(url + "/api/ask", json={"question": "after " + QUESTION}, timeout=30)
        assert r.status_code == 200
    asked = [q.split()[0] for q, _ in Recording.calls]
    assert asked == ["slow", "after"]  # the one whose client left was never worked on


def test_a_streamed_llm_answer_stops_when_its_client_goes(settings):
    """Finding 1 (streaming): the model kept generating for nobody."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from assistant.llm import LLMAnswerer

    produced = []

    class Slow(GenericFakeChatModel):
        def _stream(self, *args, **kwargs):
            for chunk in super()._stream(*args, **kwargs):
                produced.append(chunk)
                time.sleep(0.05)
                yield chunk

    reply = " ".join(f"word{i}" for i in range(200))
    answerer = LLMAnswerer(Slow(messages=iter([AIMessage(content=reply)])), label="llm:slow")
    assistant = Assistant(Retriever.load(settings, embedder=HashEmbedder()), answerer, settings, calibration=ALWAYS_ANSWER)
    with serving(create_app(settings, assistant), settings) as url:
        with httpx.stream("POST", url + "/api/ask", json={"question": QUESTION, "stream": True}, timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta"):
                    break
        time.sleep(1.5)
        seen = len(produced)
        time.sleep(1.0)
        assert len(produced) == seen  # stopped
    assert seen < 150, seen  # of ~400 pieces (words and spaces)


# -- 2 and 3. slow bodies and idle connections (at scale: python -m bench.abuse) --------------------------

def test_a_body_that_does_not_arrive_in_time_gets_408_and_is_dropped(settings):
    """Finding 2: a body sent slowly held its connection and buffer without limit."""
    quick = with_server(settings, body_timeout_s=1.0)
    with serving(create_app(quick, make_assistant(settings)), quick) as url:
        sock = raw(url)
        sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 5000\r\n\r\n" + b"{" + b" " * 2000)
        t0 = time.monotonic()
        answer = read_response(sock)
        assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 1 s" in answer, answer[:300]
        assert time.monotonic() - t0 < 3
        assert sock.recv(10) == b""  # closed
        sock.close()


def test_bodies_being_received_share_one_budget(settings):
    """Finding 2: 1,200 unfinished 990 KB bodies took RSS from 0.73 to 1.97 GB (each buffered whole)."""
    from types import SimpleNamespace

    from assistant.api.middleware import BodyLimit

    small = with_server(settings, max_buffered_bytes=1_000_000)
    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append((await receive())["body"])

    async def send(message):
        sent.append(message)

    async def run(limit: BodyLimit, parts: list[bytes]):
        queue = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]

        async def receive():
            return queue.pop(0)

        scope = {"type": "http", "method": "POST", "headers": [], "app": SimpleNamespace(
            state=SimpleNamespace(settings=small), dependency_overrides={})}
        await limit(scope, receive, send)

    import anyio

    guard = BodyLimit(app)
    anyio.run(run, guard, [b"x" * 300_000] * 3)
    assert reached == [b"x" * 900_000] and guard.buffered == 0  # within the budget, and released after
    guard.buffered = 800_000  # other bodies being received meanwhile
    anyio.run(run, guard, [b"x" * 150_000] * 2)
    assert len(reached) == 1 and sent[0]["status"] == 503 and guard.buffered == 800_000
    assert b"too many request bodies" in sent[1]["body"]


def test_silent_connections_are_closed_and_cannot_lock_out_a_real_client(settings):
    """Finding 3: unfinished-header connections exhausted the descriptors; /healthz timed out."""
    tight = with_server(settings, max_connections=5, header_timeout_s=3.0)
    with serving(create_app(tight, make_assistant(settings)), tight) as url:
        silent = [raw(url) for _ in range(5)]  # the cap
        for sock in silent:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: loc")  # never finished
        time.sleep(0.2)
        refused = raw(url)  # at the cap, and every idle one has just come: refused, at once
        assert read_response(refused).startswith(b"HTTP/1.1 503")
        refused.close()
        time.sleep(1.2)  # now the oldest silent one may be closed to make room for a real client
        t0 = time.monotonic()
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        assert time.monotonic() - t0 < 1
        time.sleep(2.5)  # past the head deadline: every silent connection is closed
        for sock in silent:
            sock.settimeout(2)
            try:
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass
            sock.close()


# -- 4. the key in a URL, encoded ---------------------------------------------------------------------

@pytest.mark.parametrize("logged", [
    "GET /api/documents?api_key=s3cr3t%2BK%2Fey%3D%3Dwith-some-length HTTP/1.1",
    "GET /api/documents?api_key=s3cr3t%2bK%2fey%3d%3dwith-some-length HTTP/1.1",
    "GET /api/documents/s3cr3t%2BK/ey%3D%3Dwith-some-length HTTP/1.1",  # a raw key in the path, re-quoted
    "GET /api/documents?key=s3cr3t%252BK%252Fey%253D%253Dwith-some-length HTTP/1.1",  # encoded twice
    "GET /api/documents?key=s3cr3t+K/ey==with-some-length HTTP/1.1",
    "GET /api/documents?key=%73%33cr3t%2BK%2Fey%3D%3Dwith-some-length HTTP/1.1",  # even letters and digits encoded
])
def test_the_key_is_redacted_however_it_was_encoded(logged):
    """Finding 4: ?api_key=s3cr3t%2BK%2Fey%3D%3D reached the access log verbatim."""
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", logged.split()[1], "1.1", 401), None)
    RedactSecret(KEY).filter(record)
    message = record.getMessage()
    assert "***" in message and "ey%" not in message and "K/ey" not in message and "length" not in message


def test_the_key_is_redacted_from_a_real_access_log(settings, caplog):
    caplog.set_level(logging.INFO)
    keyed_settings = settings.model_copy(update={"api_key": SecretStr(KEY)})
    app = create_app(keyed_settings, make_assistant(settings))
    with serving(app, keyed_settings, log_level="info", log_config=None) as url:  # logs reach caplog
        httpx.get(url + "/api/documents?api_key=s3cr3t%2BK%2Fey%3D%3Dwith-some-length")
        httpx.get(url + "/api/documents/s3cr3t+K/ey==with-some-length")
    server_log = [r.getMessage() for r in caplog.records if r.name.startswith(("uvicorn", "povqa"))]
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access) == 2 and all("***" in line for line in access), access
    assert not any("with-some-length" in line or "%2BK" in line for line in server_log), server_log


# -- 5. an empty key -----------------------------------------------------------------------------------

def test_an_empty_key_is_refused_at_startup(settings, monkeypatch):
    """Finding 5: POVQA_API_KEY="" counted as a key, and `Authorization: Bearer ` matched it."""
    for empty in ("", "   "):
        monkeypatch.setenv("POVQA_API_KEY", empty)
        with pytest.raises(ValidationError, match="set but empty"):
            Settings()
        r = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0"])
        assert r.exit_code == 2 and "POVQA_API_KEY is set but empty" in r.output
    with pytest.raises(ValueError, match="set but empty"):
        create_app(settings.model_copy(update={"api_key": SecretStr("")}))


def test_an_empty_bearer_token_never_matches(keyed):
    for header in ("Bearer ", "Bearer", "bearer  ", ""):
        r = keyed.get("/api/documents", headers={"Authorization": header})
        assert r.status_code == 401, header


# -- 6. Host check, security headers -------------------------------------------------------------------

@pytest.mark.parametrize("host, status", [
    ("evil.example", 400), ("evil.example:8000", 400), ("127.0.0.1.nip.io", 400), ("localhost.evil.example", 400),
    ("localhost", 200), ("localhost:8000", 200), ("127.0.0.1:8000", 200), ("[::1]:8000", 200),
    ("192.168.1.5:8000", 200), ("chat.localhost", 200), ("LOCALHOST.", 200),
])
def test_an_open_server_answers_only_hosts_a_rebinding_page_cannot_send(client, host, status):
    """Finding 6: with no key any Host was served (DNS rebinding against a laptop's server)."""
    for path in ("/api/documents", "/healthz"):
        r = client.get(path, headers={"Host": host})
        assert r.status_code == status, (host, path, r.text)
        if status == 400:
            assert "POVQA_SERVER__ALLOWED_HOSTS" in r.json()["detail"]


def test_allowed_hosts_setting_and_a_keyed_server(settings, keyed):
    named = with_server(settings, allowed_hosts="qa.example.org, intranet.local")
    with TestClient(create_app(named, make_assistant(settings)), base_url=LOCAL) as c:
        assert c.get("/healthz", headers={"Host": "qa.example.org"}).status_code == 200
        assert c.get("/healthz", headers={"Host": "intranet.local:80"}).status_code == 200
        assert c.get("/healthz", headers={"Host": "other.example.org"}).status_code == 400
    assert keyed.get("/healthz", headers={"Host": "qa.example.org"}).status_code == 200  # a key guards it instead


def test_security_headers_and_a_csp_the_page_keeps_to(client):
    """Finding 6: no Content-Security-Policy, X-Frame-Options or X-Content-Type-Options on the page."""
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    for response in (page, client.get("/api/documents"), client.get("/healthz"), client.get("/static/app.js")):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "content-security-policy" in response.headers
    # the page keeps to it: no inline script or style, no inline handlers, nothing from elsewhere
    html = page.text
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert not any(f" on{event}=" in html for event in ("click", "load", "submit", "error", "input"))
    js = client.get("/static/app.js").text
    assert "eval(" not in js and "new Function" not in js and "innerHTML" not in js
    docs = client.get("/docs")
    assert "sha256-" in docs.headers["content-security-policy"]


# -- 7. questions with no content -----------------------------------------------------------------------

@pytest.mark.parametrize("question", ["\u200b\u200b", "?!.,;:", "😀😀😀", " \u2060\ufeff "])
def test_a_question_with_no_content_is_refused_with_a_message(client, settings, question):
    """Finding 7: answered refused=false with 2-3 citations (one an e-mail address)."""
    r = client.post("/api/ask", json={"question": question})
    assert r.status_code == 422 and "no words or numbers" in r.json()["detail"], r.text
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]})
    assert r.status_code == 422 and "no words or numbers" in r.json()["detail"], r.text
    assert client.post("/api/search", json={"query": question}).status_code == 422
    answer = make_assistant(settings).ask(question)  # the library and the CLI refuse it too
    assert answer.refused and not answer.citations and not answer.passages


# -- 8. a damaged index ------------------------------------------------------------------------------------

def test_a_damaged_index_under_a_running_server_is_503_with_retry_after_and_healthz_says_so(settings):
    """Finding 8: 500s while /healthz said 200."""
    with TestClient(create_app(settings, make_assistant(settings)), base_url=LOCAL) as c:
        assert c.get("/healthz").status_code == 200
        database = Retriever.load(settings, embedder=HashEmbedder()).reader.path / "meta.sqlite"
        database.write_bytes(b"\0" * database.stat().st_size)  # damaged in place
        doc = c.get("/api/documents").json()["documents"][0]["doc_id"]
        for r in (c.post("/api/ask", json={"question": QUESTION}), c.get("/healthz"),
                  c.get(f"/api/documents/{doc}/pages/1")):
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "30" and "povqa index" in r.json()["detail"]


def test_a_500_keeps_the_connection_open(settings):
    """Finding 8: the 500 closed the keep-alive connection without saying so."""
    class Broken(Assistant):
        def _run(self, *a, **kw):
            raise RuntimeError("a bug")
            yield  # pragma: no cover

    with serving(create_app(settings, make_assistant(settings, Broken)), settings) as url:
        sock = raw(url)
        body = json.dumps({"question": QUESTION}).encode()
        sock.sendall(request_bytes("POST", "/api/ask", body))
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 500") and b"connection: close" not in first.lower(), first
        sock.sendall(request_bytes("GET", "/healthz"))
        assert read_response(sock).startswith(b"HTTP/1.1 200")  # the same connection
        sock.close()


@pytest.mark.parametrize("missing", ["sparse_ids.npy", "dense_cnorm.npy", "dense_sent_cnorm.npy", "lexicon.npy",
                                     "sent_chunk.npy", "bm25_vocab.json"])
def test_every_index_file_is_checked_at_load(settings, missing):
    """Finding 8: a missing sparse_ids.npy was accepted silently (and changed rankings)."""
    from indexer.store import IndexError_, IndexReader, current_version

    version = current_version(settings.index_dir)
    if missing.startswith("sparse"):  # the fake embedder has no sparse head: an index whose manifest says it has
        manifest = json.loads((version / "manifest.json").read_text())
        manifest["sparse"] = {"name": "fake-sparse", "dim": 1024, "k": 256}
        (version / "manifest.json").write_text(json.dumps(manifest))
    else:
        (version / missing).unlink()
    with pytest.raises(IndexError_, match=missing.replace(".", r"\.")):
        IndexReader.open(settings.index_dir)


def test_an_array_with_the_wrong_row_count_is_refused(settings):
    import numpy as np

    from indexer.store import IndexError_, IndexReader, current_version

    version = current_version(settings.index_dir)
    np.save(version / "dense_cnorm.npy", np.ones(1, np.float32))
    with pytest.raises(IndexError_, match=r"dense_cnorm\.npy has 1 rows"):
        IndexReader.open(settings.index_dir)


def test_a_read_only_index_folder_is_one_line_not_a_traceback(tmp_path):
    """Finding 8: `povqa index` into a read-only folder crashed with a traceback."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "water.md").write_text(SAMPLE_NOTES["water.md"], "utf-8")
    folder = tmp_path / "index"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes through mode bits: make the folder immutable instead
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root where chattr +i is not available: cannot make a folder read-only")
    else:
        folder.chmod(0o555)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "POVQA_INDEX_DIR": str(folder)}
        r = subprocess.run([sys.executable, "-m", "bench.fakecli", "index", str(tmp_path / "notes")], env=env,
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)])
        folder.chmod(0o755)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and f"error: the index at {folder} could not be written: " in r.stderr, r.stderr
    assert ("Permission denied" in r.stderr or "Operation not permitted" in r.stderr) and "--index-dir" in r.stderr


# -- 9. smaller ------------------------------------------------------------------------------------------------

def test_openapi_declares_the_bearer_key_so_docs_can_send_it(client):
    """Finding 9: /docs had no way to send the key."""
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["APIKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for path in ("/api/ask", "/v1/chat/completions"):
        assert schema["paths"][path]["post"]["security"] == [{"APIKey": []}]


def test_without_the_key_bad_json_is_401_not_422(keyed):
    """Finding 9: bad JSON without a key got 422 before 401."""
    for body in (b"{not json", b'{"question": 42}', b"x" * 2_000_000):
        r = keyed.post("/api/ask", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 401, r.text


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/ask", {"question": QUESTION, "top_k": True}),
    ("POST", "/api/ask", {"question": QUESTION, "top_k": "3"}),
    ("POST", "/api/ask", {"question": QUESTION, "top_k": 3.0}),
    ("POST", "/api/ask", {"question": QUESTION, "stream": "yes"}),
    ("POST", "/api/ask", {"question": QUESTION, "stream": 1}),
    ("POST", "/api/search", {"query": "wells", "top_k": True}),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "stream": "yes"}),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": "9"}),
    ("GET", "/api/documents/{doc}/pages/1_0", None),
    ("GET", "/api/documents/{doc}/pages/+1", None),
    ("GET", "/api/documents/{doc}/pages/%201", None),
])
def test_request_fields_are_strictly_typed(client, method, path, body):
    """Finding 9: top_k true was read as 1, stream "yes" as true, page 1_0 as 10."""
    doc = client.get("/api/documents").json()["documents"][0]["doc_id"]
    r = client.request(method, path.format(doc=doc), json=body)
    assert r.status_code == 422, r.text


def test_v1_validates_the_model_and_refuses_what_it_cannot_honour(client):
    """Finding 9: any model name was echoed (a 100 KB <script> included); n, tools ignored silently."""
    ask = [{"role": "user", "content": QUESTION}]
    r = client.post("/v1/chat/completions", json={"model": "<script>" + "x" * 100_000, "messages": ask})
    assert r.status_code == 422 and "<script>" not in r.text and len(r.text) < 400
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o<script>", "messages": ask})
    assert r.status_code == 400 and "unknown model" in r.json()["detail"] and "povqa-briefing" in r.json()["detail"]
    for extra, reason in (({"n": 2}, "n=2"), ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
                          ({"logprobs": True}, "logprobs"), ({"response_format": {"type": "json_object"}}, "json_object")):
        r = client.post("/v1/chat/completions", json={"model": "povqa", "messages": ask, **extra})
        assert r.status_code == 400 and reason in r.json()["detail"], (extra, r.text)
    for fine in ({"n": 1}, {"tools": []}, {"temperature": 0.2, "seed": 1}, {"response_format": {"type": "text"}}):
        assert client.post("/v1/chat/completions", json={"model": "povqa", "messages": ask, **fine}).status_code == 200


def test_v1_honours_max_tokens_stop_and_include_usage(client):
    """Finding 9: max_tokens ignored, no usage chunk for stream_options.include_usage."""
    ask = {"model": "povqa", "messages": [{"role": "user", "content": QUESTION}]}
    full = client.post("/v1/chat/completions", json=ask).json()
    assert full["usage"]["completion_tokens"] > 5 and full["usage"]["prompt_tokens"] == 9
    words = full["choices"][0]["message"]["content"].split()
    five = " ".join(words[:5])  # the answer's first sentence begins with five plain words
    assert all(w.isalpha() for w in words[:5]), words[:5]
    short = client.post("/v1/chat/completions", json={**ask, "max_tokens": 5}).json()
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["choices"][0]["message"]["content"] == five
    assert short["usage"]["completion_tokens"] == 5
    stopped = client.post("/v1/chat/completions", json={**ask, "stop": [words[2]]}).json()
    assert stopped["choices"][0]["message"]["content"] == " ".join(words[:2]) + " "
    r = client.post("/v1/chat/completions", json={**ask, "stream": True, "max_tokens": 5,
                                                 "stream_options": {"include_usage": True}})
    chunks = [json.loads(line[6:]) for line in r.text.split("\n") if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == five
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5
    assert all(c["usage"] is None for c in chunks[:-1])
    assert r.text.endswith("data: [DONE]\n\n")


def test_server_settings_are_described():
    for name, field in ServerSettings.model_fields.items():
        assert field.description, name


def test_the_abuse_bench_runs_small(tmp_path):
    """`python -m bench.abuse` (the full run is in bench/RESULTS.md), small and against the fake index."""
    out = tmp_path / "abuse.json"
    r = subprocess.run([sys.executable, "-m", "bench.abuse", "--fake", "--slow", "6", "--body-kb", "200", "--idle", "40",
                        "--procs", "1", "--hold", "3", "--history-chars", "20000", "--json", str(out)],
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(out.read_text())
    assert {h["status"] for h in result["history"].values()} == {200}
    for case in ("slow_bodies", "silent"):
        assert result[case]["after"]["fds"] <= result[case]["before"]["fds"] + 3, result[case]
    assert "| slow bodies |" in r.stdout and "| silent connections |" in r.stdout
