"""API fuzzing with schemathesis against a real `povqa serve` (uvicorn on 127.0.0.1, API key set): no 5xx, every
error is JSON with a message, and the key never reaches the server's log. POVQA_FUZZ_EXAMPLES sets the examples
per operation and generation mode (`python -m bench.fuzz` runs many more)."""

from __future__ import annotations

import json
import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from bench.serve import build_fake_index, running_server
from tests.conftest import SAMPLE_NOTES

KEY = "fuzz-key-8f3a1c"
AUTH = {"Authorization": f"Bearer {KEY}"}
EXAMPLES = int(os.environ.get("POVQA_FUZZ_EXAMPLES", "12"))
CASES: list[tuple[str, str, int]] = []  # (method, path, status) of every case sent


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    build_fake_index(tmp / "index", SAMPLE_NOTES, tmp / "notes")
    with running_server(tmp / "index", tmp / "server.log", env={"POVQA_API_KEY": KEY}) as srv:
        yield srv
    statuses: dict[int, int] = {}
    for _, _, status in CASES:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"\nfuzz cases run: {len(CASES)}; by status: {dict(sorted(statuses.items()))}")


def _operations(server):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis' pytest integration (from_fixture) breaks on pytest 9, so each operation's strategies are driven
# by hypothesis directly: the same generated cases, positive (fits the schema) and negative (does not).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_5xx_and_every_error_is_json_with_a_message(server, mode):
    operations = _operations(server)
    assert len(operations) >= 7
    first, untestable = len(CASES), []
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case):
            response = case.call(headers=AUTH, timeout=60)
            CASES.append((case.method, case.path, response.status_code))
            assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text[:300])
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]  # schemathesis: header -> list
                assert content_type[0].startswith("application/json"), response.text[:200]
                detail = response.json()["detail"]
                assert isinstance(detail, str) and detail, response.text[:200]

        try:
            check()
        except Unsatisfiable:  # nothing to vary (no parameters, no body): e.g. GET /v1/models in negative mode
            untestable.append(operation.label)
    fuzzed = {m + " " + p for m, p, _ in CASES[first:]}
    assert {"POST /api/ask", "POST /api/search", "POST /v1/chat/completions"} <= fuzzed, (fuzzed, untestable)
    assert any(p.startswith("GET /api/documents/") for p in fuzzed)


def _hostile_requests(question_len: int = 100_000):
    doc = "0123456789abcdef"
    yield "POST", "/api/ask", {"question": "q" * question_len}
    yield "POST", "/api/ask", {"question": "wells\x00\x01\x1b[31m", "top_k": 3}
    yield "POST", "/api/ask", {"question": "wells \ud800 lone surrogate"}
    yield "POST", "/api/ask", {"question": "wells", "top_k": -1}
    yield "POST", "/api/ask", {"question": "wells", "top_k": 10**30}
    yield "POST", "/api/ask", {"question": "wells", "top_k": 2.5}
    yield "POST", "/api/ask", {"question": ["wells"]}
    yield "POST", "/api/ask", {"question": "wells", "history": [{"role": "user", "content": None}]}
    yield "POST", "/api/ask", {"question": "wells", "stream": True, "top_k": "x"}
    yield "POST", "/api/search", {"query": "wells", "top_k": -5}
    yield "POST", "/api/search", {"query": "\x00" * 10}
    yield "POST", "/v1/chat/completions", {"model": "povqa", "messages": [{"role": "user", "content": "q" * question_len}]}
    yield "POST", "/v1/chat/completions", {"model": "povqa", "messages": [{"role": "user", "content": 5}], "stream": True}
    yield "GET", f"/api/documents/{doc}/pages/1", None
    yield "GET", f"/api/documents/{doc}/pages/{10**40}", None
    yield "GET", "/api/documents/zzzz/pages/-3", None
    yield "GET", f"/api/documents/{doc}/pages/1e3", None


def test_hostile_requests_are_4xx_json_never_5xx(server):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        for method, path, body in _hostile_requests():
            content = json.dumps(body).encode() if body is not None else None  # ASCII-escaped: lone surrogates too
            r = client.request(method, path, content=content, headers={"content-type": "application/json"})
            CASES.append((method, path, r.status_code))
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:300])
            assert isinstance(r.json()["detail"], str) and r.json()["detail"], r.text[:200]
        too_big = b'{"question": "' + b"x" * 2_000_000 + b'"}'
        r = client.post("/api/ask", content=too_big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "too large" in r.json()["detail"]
        r = client.post("/api/ask", content=b"\xff\xfe{]", headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"]


def test_auth_over_the_wire_and_the_key_never_reaches_the_log(server):
    calls = [("POST", "/api/ask", {"question": "wells", "stream": True}),
             ("POST", "/v1/chat/completions", {"model": "povqa", "stream": True,
                                               "messages": [{"role": "user", "content": "wells"}]}),
             ("GET", "/api/documents", None), ("POST", "/api/search", {"query": "wells"})]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for method, path, body in calls:
            for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": KEY}, {"Authorization": f"Bearer {KEY}x"}):
                r = client.request(method, path, json=body, headers=headers)
                assert r.status_code == 401 and KEY not in r.text, (path, headers)
            assert client.request(method, path, json=body, headers=AUTH).status_code == 200
        # error paths with the key: an oversized body, a bad page, a malformed body
        client.post("/api/ask", content=b"x" * 1_100_000, headers={**AUTH, "content-type": "application/json"})
        client.get("/api/documents/0123456789abcdef/pages/1", headers=AUTH)
        client.post("/api/ask", content=b"{", headers={**AUTH, "content-type": "application/json"})
        # a client that puts the key in the URL: refused, and the access log line is redacted
        assert client.get(f"/api/documents?api_key={KEY}").status_code == 401
        assert client.get(f"/api/documents?key={KEY}", headers=AUTH).status_code == 200
    log = server.log_text()
    assert "401" in log and "/api/ask" in log and "api_key=***" in log  # the access log is there...
    assert KEY not in log  # ...and the key is not
