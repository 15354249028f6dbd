"""Crash safety (SIGKILL at random moments of `povqa index`; the full 20-kill run is `python -m bench.crash`) and
re-indexing while the server runs: it keeps answering from the old index and picks up the new one, no restart."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.retrieval import Retriever
from assistant.settings import Settings
from bench.crash import crash_runs
from indexer.build import build_index
from tests.conftest import SAMPLE_NOTES, HashEmbedder, index_notes


def test_random_sigkills_never_lose_the_index(tmp_path):
    results = crash_runs(runs=3, seed=7, workdir=tmp_path, notes=4, pdf_pages=0)
    for r in results:
        print(r.line())
    assert sum(r.killed for r in results) == 3
    assert all(r.survived and r.completed for r in results), [r.line() for r in results if not r.survived or not r.completed]


def test_an_open_index_survives_a_rebuild_that_deletes_its_folder(tmp_path):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES)
    old = Retriever.load(settings, embedder=HashEmbedder())
    (tmp_path / "notes" / "extra.md").write_text("# Extra\n\nZebra crossings were painted near schools.\n", "utf-8")
    build_index([tmp_path / "notes"], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
    assert not old.reader.path.exists()  # the build removed the version this retriever reads
    hits = old.search("Who maintains the pumps of the deep wells?", 3)
    assert hits and hits[0].document.source == "water.md" and old.reader.page_text(hits[0].chunk.doc_id, 1)


def _wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_server_picks_up_a_new_index_without_a_restart(tmp_path):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        assert client.get("/healthz").json()["documents"] == 2
        (tmp_path / "notes" / "extra.md").write_text("# Extra\n\nZebra crossings were painted near schools.\n", "utf-8")
        build_index([tmp_path / "notes"], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
        # answered all along (from the old version until the new one is loaded), never an error
        statuses = []

        def reloaded() -> bool:
            r = client.post("/api/search", json={"query": "Zebra crossings schools", "top_k": 1})
            statuses.append(r.status_code)
            return r.json()["results"][0]["source"] == "extra.md"

        assert _wait_for(reloaded)
        assert set(statuses) == {200}
        assert client.get("/healthz").json()["documents"] == 3


def test_a_server_started_before_the_first_index_serves_it_once_built(tmp_path):
    settings = Settings()
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        r = client.post("/api/search", json={"query": "wells"})
        assert r.status_code == 503 and "povqa index" in r.json()["detail"]
        index_notes(tmp_path / "notes", SAMPLE_NOTES)
        assert _wait_for(lambda: client.get("/healthz").status_code == 200)
        assert client.post("/api/search", json={"query": "deep wells"}).json()["results"][0]["source"] == "water.md"
