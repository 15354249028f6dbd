"""Bad files staff might drop into the corpus, generated (bench/badfiles.py), indexed by `povqa index` in a child
process: each is indexed or refused with one clear line, the others are always indexed, memory stays bounded."""

from __future__ import annotations

from assistant.retrieval import Retriever
from assistant.settings import Settings
from bench.badfiles import GOOD_NOTE, make_bad_corpus, run_index
from indexer.build import build_index
from indexer.store import IndexReader
from tests.conftest import HashEmbedder

PEAK_LIMIT_MB = 700  # the child's VmHWM: interpreter, pypdf, a 0.5 MB note and a 10,000-page PDF


def test_every_bad_file_is_indexed_or_refused_with_one_line(tmp_path):
    expected = make_bad_corpus(tmp_path / "corpus", note_mb=0.5, pdf_pages=10_000)
    result = run_index(tmp_path / "corpus", tmp_path / "index", timeout=600)
    print(f"{len(expected)} files, {result['seconds']:.1f}s, peak RSS {result['peak_mb']:.0f} MB")
    assert result["returncode"] == 1, result["output"]  # some files failed: exit 1, after indexing the rest
    for name, status in expected.items():
        line = result["lines"].get(name)
        assert line is not None, f"no line for {name}:\n{result['output']}"
        assert line.split()[0] == status, line
        if status in ("failed", "skipped", "duplicate"):
            reason = line.split(": ", 1)[1]
            assert len(reason) > 20 and "Traceback" not in result["output"], line
    assert "same content as good note.md" in result["lines"]["zz copy of good note.md"]
    assert result["peak_mb"] is not None and result["peak_mb"] < PEAK_LIMIT_MB

    reader = IndexReader.open(tmp_path / "index")
    docs = {d.source: d for d in reader.documents.values()}
    assert set(docs) == {n for n, s in expected.items() if s == "indexed"}
    big = docs["10000-pages.pdf"]
    assert big.pages == 10_000 and reader.page_text(big.doc_id, 9_999).startswith("Section 9999 reports that")
    assert "coopération" in reader.pages(docs["latin-1 note.txt"].doc_id)[0]
    assert "Süd-Süd-Kooperation" in reader.pages(docs["utf-16 note.txt"].doc_id)[0]
    retriever = Retriever.load(Settings(index_dir=tmp_path / "index"), embedder=HashEmbedder())
    top = retriever.search("Microcredit schemes reached two million rural households", 3)
    assert top[0].document.source == "good note.md"
    assert retriever.search("小额信贷覆盖了两百万农村家庭", 3)[0].document.source == "报告 农村 信贷.md"


def test_a_duplicate_takes_over_when_its_original_goes(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text(GOOD_NOTE, "utf-8")
    (folder / "b copy.md").write_text(GOOD_NOTE, "utf-8")
    first = build_index([folder], Settings().build_settings(), embedder=HashEmbedder(), second_embedder=None)
    assert {f.source: f.status for f in first.files} == {"a.md": "indexed", "b copy.md": "duplicate"}
    (folder / "a.md").unlink()
    embedder = HashEmbedder()
    second = build_index([folder], Settings().build_settings(), embedder=embedder, second_embedder=None)
    assert {f.source: f.status for f in second.files} == {"b copy.md": "unchanged"}
    assert embedder.texts_embedded == 0
    assert [d.source for d in IndexReader.open(Settings().index_dir).documents.values()] == ["b copy.md"]
