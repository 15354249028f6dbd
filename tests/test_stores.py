"""One contract, every store (txtai's testann style): the folder store and the PostgreSQL + pgvector store.

PostgreSQL comes from `pgserver` (PostgreSQL 16 + pgvector in a temporary folder, one server for the session,
one database per test) or from POVQA_TEST_DATABASE_URL (an existing server where the user may create
databases). Without either, the PostgreSQL cases skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest

from assistant.pipeline import Assistant
from assistant.settings import Settings
from indexer.backend import FILES, close_database_stores
from indexer.build import build_index
from indexer.format import PRIMARY, SENT_CHUNK, expected_rows
from tests.conftest import ALWAYS_ANSWER, ROOT, SAMPLE_NOTES, HashEmbedder, index_notes

QUESTIONS = ("Which NGO does IPRCC work with in Tanzania?", "How much do households pay for the pumps?",
             "Who builds rockets on Mars?")


def _start_pgserver(folder: Path):
    """PostgreSQL in `folder` (outside pytest's temporary folders: a concurrent pytest session prunes those)."""
    try:
        import pgserver
    except ImportError:
        pytest.skip("pgserver is not installed (pip install -e '.[test]'): the PostgreSQL store is not tested")
    try:
        return pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:  # no shared memory, a read-only /tmp, ...
        pytest.skip(f"pgserver could not start PostgreSQL here ({type(exc).__name__}: {exc})")


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL server with pgvector for the whole session."""
    url = os.environ.get("POVQA_TEST_DATABASE_URL")
    if url:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="povqa-pg-"))
    server = _start_pgserver(folder / "data")
    yield server.get_uri()
    close_database_stores()
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def database(pg_url):
    """A fresh database (with pgvector) for one test."""
    import psycopg

    name = f"povqa_t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = with_database(pg_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield url
    close_database_stores()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=[FILES, "postgresql"])
def spec(request, tmp_path) -> str:
    """POVQA_STORE of each store."""
    return request.getfixturevalue("database") if request.param == "postgresql" else FILES


def settings_for(spec: str, tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", store=spec)


def answers(settings: Settings) -> list[dict]:
    assistant = Assistant.load(settings)
    assistant.calibration = ALWAYS_ANSWER
    out = []
    for question in QUESTIONS:
        answer = json.loads(assistant.ask(question).model_dump_json())
        answer.pop("timings_ms", None)
        out.append(answer)
    assistant.retriever.reader.close()
    return out


# -- the contract ------------------------------------------------------------------------------------------
def test_reader_holds_what_was_written(spec, tmp_path):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(spec, tmp_path))
    reader = settings.get_store().open_reader()
    try:
        assert sorted(d.source for d in reader.documents.values()) == sorted(SAMPLE_NOTES)
        for name, rows in expected_rows(reader.manifest).items():
            if reader.has_array(name):
                assert len(reader.array(name)) == rows, name
        rows = list(range(reader.n_chunks))
        chunks = reader.chunks(rows[::-1])
        assert [c.chunk_id for c in chunks] == [c.chunk_id for _, c in reader.iter_chunks()][::-1]
        doc = next(iter(reader.documents.values()))
        assert reader.page_text(doc.doc_id, 1) == reader.pages(doc.doc_id)[0]
        assert reader.page_text(doc.doc_id, 99) is None
        assert np.asarray(reader.array(SENT_CHUNK)).max() == reader.n_chunks - 1
        _, found = reader.faiss_index.search(np.asarray(reader.array(PRIMARY)[:1]), 1)
        assert found[0][0] == 0
    finally:
        reader.close()


def test_same_answers_on_every_store(tmp_path, database):
    index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(FILES, tmp_path / "f"))
    index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(database, tmp_path / "p"))
    assert answers(settings_for(database, tmp_path / "p")) == answers(settings_for(FILES, tmp_path / "f"))


def test_unchanged_files_are_not_embedded_again(spec, tmp_path):
    settings = settings_for(spec, tmp_path)
    notes = tmp_path / "notes"
    index_notes(notes, SAMPLE_NOTES, settings)
    embedder = HashEmbedder()
    report = build_index([notes], settings.build_settings(), embedder=embedder, second_embedder=None)
    assert not report.written and embedder.texts_embedded == 0
    (notes / "water.md").write_text(SAMPLE_NOTES["water.md"] + "\nThe wells were dug in 2019.\n", "utf-8")
    report = build_index([notes], settings.build_settings(), embedder=embedder, second_embedder=None)
    assert report.written
    assert {f.source: f.status for f in report.files} == {"iprcc.md": "unchanged", "water.md": "indexed"}
    reader = settings.get_store().open_reader()
    try:
        assert any("2019" in c.text for _, c in reader.iter_chunks())
    finally:
        reader.close()


def test_failed_build_leaves_the_previous_generation(spec, tmp_path, monkeypatch):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(spec, tmp_path))
    store = settings.get_store()
    before = store.current()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("indexer.build.save_lexicon", broken)
    (tmp_path / "notes" / "new.md").write_text("# New\n\nA brand new note about irrigation canals.\n", "utf-8")
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_index([tmp_path / "notes"], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
    assert store.current() == before
    assert answers(settings)[0]["citations"]


def test_old_generations_are_removed(spec, tmp_path):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(spec, tmp_path))
    (tmp_path / "notes" / "new.md").write_text("# New\n\nA note about irrigation canals.\n", "utf-8")
    index_notes(tmp_path / "notes", {}, settings)
    assert generations(settings) == 1


def generations(settings: Settings) -> int:
    store = settings.get_store()
    if settings.store == FILES:
        return sum(1 for p in settings.index_dir.iterdir() if p.name.startswith("v-"))
    with store.connection() as conn:
        schemas = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'povqa_g%'").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM povqa.generations").fetchone()[0]
    assert schemas == rows
    return rows


def test_a_serving_process_picks_up_a_new_generation(spec, tmp_path):
    from assistant.api.live import LiveAssistant

    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(spec, tmp_path))
    live = LiveAssistant(settings, check_s=0.0)
    live.load_now()
    assert len(live.get().retriever.reader.documents) == 2
    (tmp_path / "notes" / "new.md").write_text("# Canals\n\nIrrigation canals were lined with concrete.\n", "utf-8")
    index_notes(tmp_path / "notes", {}, settings)
    deadline = time.monotonic() + 30
    while len(live.get().retriever.reader.documents) != 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(live.get().retriever.reader.documents) == 3


# -- the database store's own guarantees ---------------------------------------------------------------------
def test_a_read_generation_is_kept_until_its_reader_goes(tmp_path, database):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(database, tmp_path))
    store = settings.get_store()
    reader = store.open_reader()
    (tmp_path / "notes" / "new.md").write_text("# New\n\nA note about irrigation canals.\n", "utf-8")
    index_notes(tmp_path / "notes", {}, settings)
    assert generations(settings) == 2  # the first is still read
    assert reader.chunks([0])[0].text  # and still readable
    reader.close()
    store.remove_stale()
    assert generations(settings) == 1


CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import indexer.pgstore as pg
from tests.conftest import HashEmbedder
from assistant.settings import Settings
from indexer.build import build_index
original = pg._copy_files
def slow(conn, s, folder):
    original(conn, s, folder)
    open({marker!r}, "w").close()
    time.sleep(60)
pg._copy_files = slow
settings = Settings(index_dir={index!r}, store={url!r})
build_index([{notes!r}], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
"""


def test_sigkill_mid_write_leaves_the_previous_generation(tmp_path, database):
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(database, tmp_path))
    store = settings.get_store()
    before = store.current()
    (tmp_path / "notes" / "new.md").write_text("# New\n\nA note about irrigation canals.\n", "utf-8")
    marker = tmp_path / "copied"
    code = CHILD.format(root=str(ROOT), marker=str(marker), index=str(tmp_path / "index"), url=database,
                        notes=str(tmp_path / "notes"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the child build never reached the copy"
    child.send_signal(signal.SIGKILL)
    child.wait()
    time.sleep(0.5)  # the server notices the dead backend and rolls its transaction back
    assert store.current() == before
    assert answers(settings)[0]["citations"]
    index_notes(tmp_path / "notes", {}, settings)  # the next build works (the lock went with the child)
    assert store.current() != before
    assert generations(settings) == 2  # the killed build's lease on the first generation has not lapsed yet
    with store.connection() as conn:
        conn.execute("UPDATE povqa.leases SET until = now() - interval '1 second'")  # LEASE_S later
    store.remove_stale()
    assert generations(settings) == 1


def test_database_outage_answers_503_then_recovers(tmp_path):
    """The database stops under a running server: 503 with Retry-After (never a 500), then answers again."""
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    if os.environ.get("POVQA_TEST_DATABASE_URL"):
        pytest.skip("stops and restarts its own pgserver; not done to a server named by POVQA_TEST_DATABASE_URL")
    top = Path(tempfile.mkdtemp(prefix="povqa-pg-"))
    folder = top / "data"
    server = _start_pgserver(folder)
    try:
        settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(server.get_uri(), tmp_path))
        assistant = Assistant.load(settings)
        assistant.calibration = ALWAYS_ANSWER
        with TestClient(create_app(settings, assistant), base_url="http://localhost") as client:
            ask = {"question": QUESTIONS[0]}
            assert client.post("/api/ask", json=ask).status_code == 200
            server.cleanup()  # stops PostgreSQL (cleanup_mode="stop" keeps its folder)
            down = client.post("/api/ask", json=ask)
            assert down.status_code == 503 and down.headers.get("retry-after")
            server = _start_pgserver(folder)
            deadline = time.monotonic() + 30
            while (up := client.post("/api/ask", json=ask)).status_code != 200 and time.monotonic() < deadline:
                assert up.status_code == 503
                time.sleep(0.5)
            assert up.status_code == 200 and up.json()["citations"]
    finally:
        close_database_stores()
        server.cleanup()
        shutil.rmtree(top, ignore_errors=True)


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.cli import app

    monkeypatch.setenv("POVQA_STORE", f"postgresql://povqa@/povqa?host={tmp_path}")  # no server on that socket
    result = CliRunner().invoke(app, ["search", "wells"])
    assert result.exit_code == 2 and "cannot be reached" in result.output and "Traceback" not in result.output


def test_pgvector_hnsw_search_finds_what_exact_search_finds(tmp_path, database, monkeypatch):
    """Above ANN_MIN_CHUNKS the reader asks pgvector's HNSW index for its dense candidates (re-scored exactly)."""
    monkeypatch.setattr("indexer.pgstore.ANN_MIN_CHUNKS", 1)
    index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(FILES, tmp_path / "f"))
    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES, settings_for(database, tmp_path / "p"))
    reader = settings.get_store().open_reader()
    assert reader.ann == "hnsw" and not reader.exact_faiss
    vectors = np.asarray(reader.array(PRIMARY))
    _, found = reader.faiss_index.search(vectors[1:2], 3)
    assert found[0][0] == 1 and len(set(found[0].tolist())) == min(3, reader.n_chunks)
    reader.close()
    assert answers(settings) == answers(settings_for(FILES, tmp_path / "f"))
