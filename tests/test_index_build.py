"""Indexing: incremental rebuilds, atomic writes, manifest checks, bad files, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.retrieval import Retriever
from assistant.settings import Settings
from indexer.build import build_index
from indexer.report import BuildProgress
from indexer.store import IndexBusy, IndexMismatch, IndexNotFound, IndexReader, build_lock, current_version
from tests.conftest import ROOT, HashEmbedder

HEADER = "IPRCC Working Paper 2011.12"


def _build(paths, tmp_path, embedder=None, **kw):
    settings = Settings()
    return build_index(paths, settings.build_settings(), embedder=embedder or HashEmbedder(), second_embedder=None, **kw)


def test_corpus_index_has_clean_page_aware_chunks(corpus_copy, tmp_path):
    report = _build([corpus_copy], tmp_path)
    assert not report.failed
    assert report.documents == 4
    reader = IndexReader.open(Settings().index_dir)
    sources = {d.source for d in reader.documents.values()}
    assert sources == {
        "iprcc-case-study-2011.pdf",
        "undp-diagnostic-simulator-methodological-note.pdf",
        "undp-integrated-sdg-insights-methodological-note.pdf",
        "notes/undp-caitec-summary-note-2021.md",
    }
    for row, chunk in reader.iter_chunks():
        doc = reader.documents[chunk.doc_id]
        assert HEADER not in chunk.text
        assert 1 <= chunk.page_start <= chunk.page_end <= doc.pages
        assert len(chunk.sentences) == len(chunk.sentence_pages)
        # every sentence lies verbatim on the page it is attributed to
        for (a, b), page in zip(chunk.sentences, chunk.sentence_pages):
            assert chunk.text[a:b] in reader.page_text(chunk.doc_id, page)
    iprcc = next(d for d in reader.documents.values() if d.source.startswith("iprcc"))
    assert iprcc.pages == 13 and iprcc.language == "en" and iprcc.kind == "pdf"


def test_rerun_embeds_nothing_and_a_changed_file_only_itself(corpus_copy, tmp_path):
    first = _build([corpus_copy], tmp_path)
    assert first.written and first.embedded_chunks == first.chunks

    embedder = HashEmbedder()
    again = _build([corpus_copy], tmp_path, embedder=embedder)
    assert again.embedded_chunks == 0 and embedder.texts_embedded == 0
    assert not again.written, "an unchanged corpus must not rewrite the index"
    assert {f.status for f in again.files} == {"unchanged"}

    note = corpus_copy / "notes" / "undp-caitec-summary-note-2021.md"
    note.write_text(note.read_text("utf-8") + "\n\nA closing paragraph added by staff about Tanzania.\n", "utf-8")
    embedder = HashEmbedder()
    third = _build([corpus_copy], tmp_path, embedder=embedder)
    statuses = {f.source: f.status for f in third.files}
    assert statuses.pop("notes/undp-caitec-summary-note-2021.md") == "indexed"
    assert set(statuses.values()) == {"unchanged"}
    changed = next(f for f in third.files if f.status == "indexed")
    assert third.embedded_chunks == changed.chunks < third.chunks
    reader = IndexReader.open(Settings().index_dir)
    assert reader.n_chunks == third.chunks
    assert any("Tanzania" in c.text for _, c in reader.iter_chunks())


class _Recorder(BuildProgress):
    """What a progress display is told: the run's total pages (as revised), the pages done, the file lines."""

    def __init__(self):
        self.totals: list[float] = []
        self.done = 0.0
        self.lines: list[str] = []

    def start(self, total: float) -> None:
        self.totals.append(total)

    def advance(self, pages: float) -> None:
        self.done += pages

    def file_done(self, report) -> None:
        self.lines.append(report.source)


def test_progress_counts_the_pages_of_the_whole_run(corpus_copy, tmp_path):
    progress = _Recorder()
    report = _build([corpus_copy], tmp_path, progress=progress)
    pages = sum(f.pages for f in report.files)
    assert pages == 13 + 8 + 17 + 1  # three PDFs and a note: one bar over all of them, not one per file
    assert progress.totals[-1] == pytest.approx(pages) and progress.done == pytest.approx(pages)
    assert sorted(progress.lines) == sorted(f.source for f in report.files)

    note = corpus_copy / "notes" / "undp-caitec-summary-note-2021.md"
    note.write_text(note.read_text("utf-8") + "\n\nA closing paragraph about Tanzania.\n", "utf-8")
    progress = _Recorder()
    _build([corpus_copy], tmp_path, progress=progress)
    assert progress.totals[-1] == pytest.approx(1) and progress.done == pytest.approx(1)  # unchanged files: no work
    assert len(progress.lines) == 4


def test_cli_index_shows_pages_per_second_and_an_eta(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "credit.md").write_text("# Microcredit\n\nMicrocredit reached two million households.\n", "utf-8")
    result = CliRunner().invoke(app, ["index", str(folder)])
    assert result.exit_code == 0, result.output
    assert "indexed   credit.md: 1 pages, 1 chunks, 1 embedded" in result.output
    assert "1/1 pages" in result.output and "pages/s" in result.output and "ETA" in result.output


def test_deleted_files_are_dropped(corpus_copy, tmp_path):
    _build([corpus_copy], tmp_path)
    (corpus_copy / "iprcc-case-study-2011.pdf").unlink()
    report = _build([corpus_copy], tmp_path)
    assert [f.source for f in report.files if f.status == "removed"] == ["iprcc-case-study-2011.pdf"]
    reader = IndexReader.open(Settings().index_dir)
    assert len(reader.documents) == 3
    assert not any("IPRCC" in d.title for d in reader.documents.values())
    # old versions are cleaned up: one live version only
    versions = [p for p in Settings().index_dir.iterdir() if p.name.startswith("v-")]
    assert len(versions) == 1


def test_loading_with_another_embedder_says_to_reindex(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# Title\n\nPoverty fell in rural areas.\n", "utf-8")
    _build([notes], tmp_path)

    class Other(HashEmbedder):
        name = "fake:other"

    with pytest.raises(IndexMismatch, match="re-index"):
        Retriever.load(Settings(), embedder=Other())
    changed = Settings(chunking={"target_chars": 400, "max_chars": 800})
    with pytest.raises(IndexMismatch, match="re-index"):
        Retriever.load(changed, embedder=HashEmbedder())


def test_missing_index_says_to_run_index(tmp_path):
    with pytest.raises(IndexNotFound, match="povqa index"):
        Retriever.load(Settings(), embedder=HashEmbedder())


def test_one_build_at_a_time(tmp_path):
    index_dir = Settings().index_dir
    with build_lock(index_dir):
        with pytest.raises(IndexBusy, match="another"):
            _build([ROOT / "docs_corpus" / "notes"], tmp_path)


def test_bad_files_are_reported_and_the_rest_indexed(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text("# Rural credit\n\nMicrocredit reached 2 million households.\n", "utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf \x00\x01")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.md").write_bytes(bytes(range(256)) * 8)
    (folder / "slides.pptx").write_bytes(b"PK\x03\x04")  # a damaged deck
    (folder / "slides.ppt").write_bytes(b"\xd0\xcf\x11\xe0")  # PowerPoint 97-2003: not read
    result = CliRunner().invoke(app, ["index", str(folder)])
    assert result.exit_code == 1, result.output
    out = result.output
    for name in ("broken.pdf", "empty.txt", "binary.md", "slides.pptx"):
        line = next(l for l in out.splitlines() if name in l)
        assert line.split()[0] == "failed", line
    assert "skipped" in next(l for l in out.splitlines() if "slides.ppt:" in l)
    assert "indexed   good.md" in out
    reader = IndexReader.open(Settings().index_dir)
    assert [d.source for d in reader.documents.values()] == ["good.md"]


def test_cli_search_json_shape(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "credit.md").write_text(
        "# Microcredit\n\nMicrocredit schemes reached two million rural households in 2004.\n\n"
        "# Schools\n\nPrimary school enrolment rose in mountain villages.\n",
        "utf-8",
    )
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(folder)]).exit_code == 0
    result = runner.invoke(app, ["search", "microcredit households", "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    top = payload["results"][0]
    assert set(top) >= {"doc_id", "title", "source", "page", "section", "text", "score"}
    assert top["section"] == "Microcredit" and top["source"] == "credit.md" and top["page"] == 1
    assert "two million rural households" in top["text"]


_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from tests.conftest import HashEmbedder
    import indexer.store as store
    from indexer.build import build_index
    from assistant.settings import Settings

    where = sys.argv[1]
    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    if where == "mid-write":
        store.IndexWriter.save_bm25 = die
    elif where == "before-swap":
        store.os.symlink = die
    build_index([sys.argv[2]], Settings().build_settings(), embedder=HashEmbedder(), second_embedder=None)
    """
)


@pytest.mark.parametrize("where", ["mid-write", "before-swap"])
def test_killed_index_run_leaves_previous_index_usable(tmp_path, corpus_copy, where):
    notes = corpus_copy / "notes"
    _build([notes], tmp_path)
    before = current_version(Settings().index_dir)
    (notes / "extra.md").write_text("# Extra\n\nA new note about Tanzania cooperation.\n", "utf-8")

    script = tmp_path / "crash.py"
    script.write_text(_CRASH_SCRIPT.format(root=str(ROOT)))
    proc = subprocess.run([sys.executable, str(script), where, str(notes)], env=os.environ.copy(), timeout=120)
    assert proc.returncode == -9, "the subprocess should have been killed"

    assert current_version(Settings().index_dir) == before
    retriever = Retriever.load(Settings(), embedder=HashEmbedder())
    assert retriever.search("development cooperation", 3)
    assert not any("Tanzania" in h.chunk.text for h in retriever.search("Tanzania cooperation", 5))

    report = _build([notes], tmp_path)  # the next run completes the job and clears the debris
    assert {f.source: f.status for f in report.files}["extra.md"] == "indexed"
    leftovers = [p.name for p in Settings().index_dir.iterdir() if p.name.startswith((".build-", "v-"))]
    assert len(leftovers) == 1 and leftovers[0].startswith("v-")
    assert any("Tanzania" in h.chunk.text for h in Retriever.load(Settings(), embedder=HashEmbedder()).search("Tanzania", 3))


def test_the_manifest_records_the_same_signature(tmp_path):
    """What an index is checked against (indexer/format.py). Changing it makes every existing index rebuild or
    refuse to load: do that on purpose, with a version bump there, and update this test."""
    from indexer.format import index_signature
    from tests.conftest import SAMPLE_NOTES, index_notes

    settings = index_notes(tmp_path / "notes", SAMPLE_NOTES)
    manifest = IndexReader.open(settings.index_dir).manifest
    signature = {
        "embedder": {"name": "fake:hash-256", "dim": 256, "sentences": "separate"}, "second_embedder": None,
        "sparse": None,
        "chunking": {"target_chars": 900, "max_chars": 1600, "overlap_sentences": 1, "chunker_version": 2,
                     "loader_version": 2},
    }
    assert index_signature(settings.build_settings(), HashEmbedder(), None) == signature
    assert list(manifest)[:4] == list(signature) and {k: manifest[k] for k in signature} == signature
    assert manifest["format_version"] == 2 and manifest["lexicon"]["version"] == 2
    assert (manifest["documents"], manifest["chunks"], manifest["sentences"]) == (2, 3, 7)


def test_build_settings_come_from_the_same_environment_variables(tmp_path, monkeypatch):
    for name, value in {"POVQA_INDEX__FLAT_LIMIT": "7", "POVQA_INDEX__PQ_LIMIT": "70", "POVQA_INDEX__IVF_NPROBE": "3",
                        "POVQA_RETRIEVAL__SPARSE": "off", "POVQA_CHUNKING__TARGET_CHARS": "1000",
                        "POVQA_RETRIEVAL__EXACT_LIMIT": "5", "POVQA_RETRIEVAL__REFINE": "4"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    built = settings.build_settings()
    assert built.index_dir == tmp_path / "index" and built.embedder == "fake" and not built.second_embedder
    assert (built.index.flat_limit, built.index.pq_limit, built.index.ivf_nprobe) == (7, 70, 3)
    assert built.sparse is False and built.chunking.target_chars == 1000
    assert (settings.retrieval.exact_limit, settings.retrieval.refine) == (5, 4)
    with pytest.raises(TypeError, match="build_settings"):
        build_index([tmp_path], settings)
