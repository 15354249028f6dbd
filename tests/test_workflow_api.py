"""The staff workflow over HTTP (issue 20): uploads and deletions as background jobs, collections, kept answers
and their exports, feedback exported as evaluation cases, and who may do what (the two keys, loopback or not).

Real pieces throughout: the fake embedder of conftest, real index builds of a real corpus folder, real PDFs made
with fpdf2, a corrupt PDF, python-docx reading the Word export back, eval's own loader and harness on the export.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assistant.api import create_app
from assistant.jobs import Job, JobFile
from assistant.pipeline import Assistant, Calibration
from assistant.retrieval import Retriever
from assistant.settings import Settings
from bench.badfiles import text_pdf
from tests.conftest import SAMPLE_NOTES, HashEmbedder, index_notes

LOCAL = "http://localhost"
API_KEY, ADMIN_KEY = "client-key-0123456789", "admin-key-0123456789"
#: A refusal model of the question's key terms only: answered when the passages hold them all, refused when half
#: are missing (the fake embedder's cosines mean nothing, so they get no weight).
TERMS = Calibration(bias=4.0, w_cosine=0.0, w_missing=-12.0)
RICE = "Terraced rice fields in Yunnan feed 2,400 households through cooperative irrigation schemes."
RICE_QUESTION = "How many households do the terraced rice fields in Yunnan feed?"
WELLS_QUESTION = "Who maintains the pumps of the deep wells?"


class GatedEmbedder(HashEmbedder):
    """The fake embedder, whose passage embedding (builds only) can be held at a gate or made to fail."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()
        self.fail = False

    def embed_batch(self, texts, mode):
        if mode == "passage":
            if self.fail:
                raise RuntimeError("the embedder broke down")
            self.waiting.set()
            assert self.gate.wait(30)
        return super().embed_batch(texts, mode)


@pytest.fixture
def corpus(tmp_path) -> Settings:
    """The two sample notes in a corpus folder, indexed; settings that serve it."""
    settings = Settings(corpus_dir=tmp_path / "corpus")
    return index_notes(settings.corpus_dir, SAMPLE_NOTES, settings)


@contextmanager
def serve(settings: Settings, host: str = "127.0.0.1", embedder=None, **keys):
    """A TestClient of the app over `settings`' index, told it listens on `host`; keys: api_key, admin_key."""
    settings = settings.model_copy(update={k: SecretStr(v) for k, v in keys.items()})
    retriever = Retriever.load(settings, embedder=embedder or HashEmbedder())
    app = create_app(settings, Assistant(retriever, None, settings, calibration=TERMS), host=host)
    with TestClient(app, base_url=LOCAL) as client:
        yield client


@pytest.fixture
def client(corpus):
    with serve(corpus) as c:
        yield c


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def upload(client, files: list[tuple[str, bytes]], collection: str | None = None, headers=None):
    data = {"collection": collection} if collection is not None else None
    return client.post("/api/documents", files=[("files", (name, body)) for name, body in files], data=data,
                       headers=headers)


def finished(client, job: dict, headers=None, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while job["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
        r = client.get(f"/api/jobs/{job['id']}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()["job"]
    return job


def uploaded(client, files, collection=None, headers=None) -> dict:
    r = upload(client, files, collection, headers)
    assert r.status_code == 202, r.text
    return finished(client, r.json()["job"], headers)


def pdf_bytes(tmp_path: Path, text: str = RICE) -> bytes:
    return text_pdf(tmp_path / "made.pdf", text).read_bytes()


def corpus_files(settings: Settings) -> list[str]:
    """The files of the corpus folder that `povqa index` reads (not the hidden staging folder)."""
    paths = (p.relative_to(settings.corpus_dir) for p in settings.corpus_dir.rglob("*") if p.is_file())
    return sorted(p.as_posix() for p in paths if not any(part.startswith(".") for part in p.parts))


def ask(client, question: str, **extra) -> dict:
    r = client.post("/api/ask", json={"question": question, **extra})
    assert r.status_code == 200, r.text
    return r.json()


# -- upload ------------------------------------------------------------------------------------------

def test_upload_a_good_and_a_corrupt_pdf_then_ask_and_delete(client, corpus, tmp_path):
    job = uploaded(client, [("rice.pdf", pdf_bytes(tmp_path)), ("broken.pdf", b"%PDF-1.7\n" + os.urandom(3000))],
                   collection="asia")
    assert job["status"] == "done" and job["kind"] == "upload"
    good, bad = job["files"]
    assert good["status"] == "indexed" and good["line"].startswith("indexed   asia/rice.pdf: 1 pages")
    assert good["stored_as"] == "asia/rice.pdf" and good["kept"] and len(good["doc_id"]) == 16
    assert bad["status"] == "failed" and "not a readable PDF" in bad["line"] and not bad["kept"]
    assert corpus_files(corpus) == ["asia/rice.pdf", "iprcc.md", "water.md"]  # the corrupt one is not kept
    assert job["progress"]["files_done"] == job["progress"]["files_total"] == 4
    progress = job["progress"]
    assert progress["chunks_done"] == 4 and progress["total"] > 0 and abs(progress["done"] - progress["total"]) <= 1
    assert sorted(line.split()[0] for line in job["lines"]) == ["failed", "indexed"]  # what changed, not the rest

    answer = ask(client, RICE_QUESTION)  # answered from the new index as soon as the job says done
    assert not answer["refused"] and answer["citations"][0]["source"] == "asia/rice.pdf"
    assert "2,400 households" in answer["citations"][0]["quote"]
    docs = {d["source"]: d for d in client.get("/api/documents").json()["documents"]}
    assert docs["asia/rice.pdf"]["collection"] == "asia" and docs["water.md"]["collection"] == "default"

    r = client.delete(f"/api/documents/{good['doc_id']}")
    assert r.status_code == 202
    gone = finished(client, r.json()["job"])
    assert gone["status"] == "done" and gone["files"][0]["line"].startswith("removed   asia/rice.pdf")
    assert corpus_files(corpus) == ["iprcc.md", "water.md"] and not (corpus.corpus_dir / "asia").exists()
    assert ask(client, RICE_QUESTION)["refused"]
    assert client.get("/api/collections").json() == {"collections": [{"name": "default", "documents": 2,
                                                                       "chunks": 3}]}


def test_the_first_upload_to_a_server_without_an_index_makes_one(tmp_path):
    settings = Settings(corpus_dir=tmp_path / "empty-corpus")
    with TestClient(create_app(settings, host="127.0.0.1"), base_url=LOCAL) as c:
        assert c.get("/healthz").status_code == 503
        job = uploaded(c, [("maize.md", b"# Maize\n\nMaize yields in Malawi doubled with conservation farming.\n")])
        assert job["status"] == "done" and job["files"][0]["status"] == "indexed"
        assert c.get("/healthz").json()["documents"] == 1  # loaded before the job said done
        assert c.get("/api/collections").json()["collections"] == [{"name": "default", "documents": 1, "chunks": 1}]


def test_names_from_the_client_are_never_paths(client, corpus, tmp_path):
    note = "# Maize\n\nMaize yields in Malawi doubled with conservation farming.\n"
    job = uploaded(client, [("../../etc/passwd.md", note.encode()), ("CON.md", b"# Con\n\nA console note.\n"),
                            ("a\x1b[31mb\u202e.md", b"# Ctl\n\nControl characters in a name.\n"),
                            ("..\\..\\win.md", b"# Win\n\nBackslashes in a name.\n")])
    assert [f["stored_as"] for f in job["files"]] == ["passwd.md", "_CON.md", "a[31mb.md", "win.md"]
    assert all(f["status"] == "indexed" for f in job["files"])
    assert not (corpus.corpus_dir.parent / "etc").exists() and set(corpus_files(corpus)) == {
        "iprcc.md", "water.md", "passwd.md", "_CON.md", "a[31mb.md", "win.md"}


def test_bad_collection_names_and_empty_uploads_are_refused(client, corpus):
    for name in ("../x", ".hidden", "a/b", "CON", "x" * 65):
        r = upload(client, [("n.md", b"# N\n\nA note.\n")], collection=name)
        assert r.status_code == 422 and "not a valid name" in r.json()["detail"], name
    r = client.post("/api/documents", data={"collection": "asia"})
    assert r.status_code == 422 and "files" in r.json()["detail"]
    r = upload(client, [("tool.exe", b"MZ\x90"), ("archive.zip", b"PK\x03\x04")])
    assert r.status_code == 415 and "tool.exe" in r.json()["detail"] and ".pdf" in r.json()["detail"]
    assert corpus_files(corpus) == ["iprcc.md", "water.md"]


def test_an_unsupported_file_beside_a_good_one_fails_alone(client, corpus):
    job = uploaded(client, [("tool.exe", b"MZ"), ("maize.md", b"# Maize\n\nMaize yields doubled.\n")])
    assert [(f["name"], f["status"]) for f in job["files"]] == [("tool.exe", "failed"), ("maize.md", "indexed")]
    assert "unsupported file type '.exe'" in job["files"][0]["line"]
    assert "maize.md" in corpus_files(corpus) and "tool.exe" not in corpus_files(corpus)


def test_the_same_file_twice(client, corpus):
    rice = f"# Rice\n\n{RICE}\n".encode()
    first = uploaded(client, [("rice.md", rice), ("copy.md", rice)], collection="asia")
    assert [f["status"] for f in first["files"]] == ["indexed", "duplicate"]
    assert "same content as rice.md (this upload)" in first["files"][1]["line"]
    again = uploaded(client, [("rice.md", rice)], collection="asia")
    assert again["files"][0]["status"] == "unchanged" and again["files"][0]["line"].startswith("unchanged asia/rice.md")
    elsewhere = uploaded(client, [("rice-again.md", rice)])
    assert elsewhere["files"][0]["status"] == "duplicate" and "asia/rice.md" in elsewhere["files"][0]["line"]
    other = uploaded(client, [("rice.md", b"# Rice\n\nA different rice note.\n")], collection="asia")
    assert other["files"][0]["stored_as"] == "asia/rice (2).md" and other["files"][0]["status"] == "indexed"
    assert corpus_files(corpus) == ["asia/rice (2).md", "asia/rice.md", "iprcc.md", "water.md"]


def test_an_oversized_upload_is_refused_before_its_body_is_read(corpus):
    small = corpus.model_copy(update={"server": corpus.server.model_copy(update={"max_upload_bytes": 10_000})})
    with serve(small) as c:
        r = upload(c, [("big.md", b"# Big\n\n" + b"word " * 5000)])
        assert r.status_code == 413 and "10000 bytes" in r.json()["detail"]
        assert "MAX_UPLOAD_BYTES" in r.json()["detail"]

        def chunks():  # no Content-Length: refused while it streams
            yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.md\"\r\n\r\n"
            for _ in range(40):
                yield b"word " * 200
            yield b"\r\n--b--\r\n"

        r = c.post("/api/documents", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413
        assert c.get("/healthz").status_code == 200
    assert corpus_files(small) == ["iprcc.md", "water.md"] and not (small.corpus_dir / ".uploads").exists()


def test_a_second_upload_waits_for_the_first(corpus):
    embedder = GatedEmbedder()
    with serve(corpus, embedder=embedder) as c:
        embedder.gate.clear()
        first = upload(c, [("one.md", b"# One\n\nThe first note about rice.\n")]).json()["job"]
        assert embedder.waiting.wait(10)  # the first build is embedding
        second = upload(c, [("two.md", b"# Two\n\nThe second note about maize.\n")]).json()["job"]
        assert c.get(f"/api/jobs/{second['id']}").json()["job"]["status"] == "queued"
        assert c.get(f"/api/jobs/{first['id']}").json()["job"]["status"] == "running"
        assert c.get("/healthz").json()["documents"] == 2  # still answering from the current index
        embedder.gate.set()
        assert finished(c, second)["files"][0]["status"] == "indexed"
        assert finished(c, first)["status"] == "done"
        assert c.get("/healthz").json()["documents"] == 4


def test_a_failing_build_changes_nothing_and_the_index_keeps_serving(corpus, monkeypatch):
    import assistant.jobs

    monkeypatch.setattr(assistant.jobs, "BUSY_WAIT_S", 0.3)
    embedder = GatedEmbedder()
    with serve(corpus, embedder=embedder) as c:
        embedder.fail = True
        job = uploaded(c, [("rice.md", f"# Rice\n\n{RICE}\n".encode())])
        assert job["status"] == "failed" and "the embedder broke down" in job["error"]
        assert "index was not changed" in job["error"]
        assert job["files"][0]["status"] == "failed" and not job["files"][0]["kept"]
        assert corpus_files(corpus) == ["iprcc.md", "water.md"]
        assert not ask(c, WELLS_QUESTION)["refused"]
        embedder.fail = False
        doc_id = next(d["doc_id"] for d in c.get("/api/documents").json()["documents"] if d["source"] == "water.md")
        with corpus.get_store().build_lock():  # a `povqa index` that does not finish
            gone = finished(c, c.delete(f"/api/documents/{doc_id}").json()["job"])
        assert gone["status"] == "failed" and "another `povqa index`" in gone["error"]
        assert corpus_files(corpus) == ["iprcc.md", "water.md"]  # the deleted file is put back
        assert not ask(c, WELLS_QUESTION)["refused"] and c.get("/healthz").json()["documents"] == 2


def test_a_restarted_server_finishes_accepted_uploads_and_drops_half_ones(corpus):
    uploads = corpus.corpus_dir / ".uploads"
    half = uploads / "killed-mid-request"  # no job.json: the request never completed
    half.mkdir(parents=True)
    (half / ".part-1234").write_bytes(b"# Half\n\nhalf a fi")
    accepted = Job("upload", [JobFile("rice.md", "asia", staged="0")], id="a" * 32)
    (uploads / accepted.id).mkdir()
    (uploads / accepted.id / "0").write_text(f"# Rice\n\n{RICE}\n", "utf-8")
    accepted.files[0].sha256 = hashlib.sha256((uploads / accepted.id / "0").read_bytes()).hexdigest()
    accepted.save(uploads / accepted.id)
    stale_build = corpus.index_dir / ".build-20200101T000000-dead00"  # a build killed mid-write
    stale_build.mkdir()
    with serve(corpus) as c:
        job = finished(c, c.get(f"/api/jobs/{accepted.id}").json()["job"])
        assert job["status"] == "done" and job["files"][0]["stored_as"] == "asia/rice.md"
        assert job["files"][0]["doc_id"] == accepted.files[0].sha256[:16]
        assert not ask(c, RICE_QUESTION)["refused"]
    assert corpus_files(corpus) == ["asia/rice.md", "iprcc.md", "water.md"]
    assert not uploads.exists() or not any(uploads.iterdir())
    assert not stale_build.exists()


def test_delete_unknown_or_foreign_documents(client, corpus):
    assert client.delete("/api/documents/0123456789abcdef").status_code == 404
    assert client.delete("/api/documents/..%2F..%2Fetc").status_code in (404, 422)
    assert client.delete("/api/documents/not-an-id").status_code == 422
    doc_id = client.get("/api/documents").json()["documents"][0]["doc_id"]
    moved = corpus.model_copy(update={"corpus_dir": corpus.corpus_dir.parent / "elsewhere"})
    with serve(moved) as c:
        r = c.delete(f"/api/documents/{doc_id}")
        assert r.status_code == 409 and "POVQA_CORPUS_DIR" in r.json()["detail"]
        r = upload(c, [("rice.md", b"# Rice\n\nRice.\n")])  # would drop the index's documents: refused
        assert r.status_code == 409 and "not in the corpus folder" in r.json()["detail"]
        assert c.get("/healthz").json()["documents"] == 2 and not moved.corpus_dir.exists()


# -- collections ---------------------------------------------------------------------------------

def test_collections_restrict_ask_search_and_v1(client, corpus):
    uploaded(client, [("rice.md", f"# Rice\n\n{RICE}\n".encode())], collection="asia")
    assert client.get("/api/collections").json()["collections"] == [
        {"name": "asia", "documents": 1, "chunks": 1}, {"name": "default", "documents": 2, "chunks": 3}]
    assert not ask(client, RICE_QUESTION, collections=["asia"])["refused"]
    assert ask(client, RICE_QUESTION, collections=["default"])["refused"]  # a filter that leaves no answer
    assert not ask(client, WELLS_QUESTION, collections=["default", "asia"])["refused"]
    hits = client.post("/api/search", json={"query": "pumps wells rice", "collections": ["asia"]}).json()["results"]
    assert hits and {h["source"] for h in hits} == {"asia/rice.md"}
    r = client.post("/api/ask", json={"question": RICE_QUESTION, "collections": ["asia", "nowhere"]})
    assert r.status_code == 422 and "'nowhere'" in r.json()["detail"] and "'asia'" in r.json()["detail"]
    r = client.post("/v1/chat/completions", json={"model": "povqa", "collections": ["nowhere"],
                                                  "messages": [{"role": "user", "content": RICE_QUESTION}]})
    assert r.status_code == 422 and "'nowhere'" in r.json()["detail"]
    r = client.post("/v1/chat/completions", json={"model": "povqa", "collections": ["default"],
                                                  "messages": [{"role": "user", "content": RICE_QUESTION}]})
    assert "2,400" not in r.json()["choices"][0]["message"]["content"]


# -- kept answers and exports ----------------------------------------------------------------------

def test_answers_are_kept_and_exported(client, corpus):
    answer = ask(client, WELLS_QUESTION)
    kept = client.get(f"/api/answers/{answer['id']}").json()
    assert kept["question"] == WELLS_QUESTION and kept["answer"] == answer["answer"] and kept["mode"] == "answer"
    assert kept["citations"] == answer["citations"] and kept["collections"] == []
    quote = answer["citations"][0]["quote"]

    md = client.get(f"/api/answers/{answer['id']}/export?format=md")
    assert md.status_code == 200 and md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.headers["content-disposition"] == f'attachment; filename="povqa-answer-{answer["id"][:8]}.md"'
    assert WELLS_QUESTION in md.text and quote in md.text and "[1]" in md.text

    import docx

    word = client.get(f"/api/answers/{answer['id']}/export", params={"format": "docx"})
    assert word.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
    assert word.headers["content-disposition"].startswith("attachment;")
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(word.content)).paragraphs)
    assert quote in text and WELLS_QUESTION in text

    assert client.get(f"/api/answers/{answer['id']}/export?format=pdf").status_code == 422
    assert client.get(f"/api/answers/{'0' * 32}").status_code == 404
    assert client.get("/api/answers/not-an-id").status_code == 422


def test_streamed_answers_are_kept_and_answers_outlive_a_restart_until_pruned(corpus):
    with serve(corpus) as c:
        body = c.post("/api/ask", json={"question": WELLS_QUESTION, "stream": True, "mode": "briefing"}).text
        final = json.loads(body.split("event: answer\ndata: ", 1)[1].split("\n\n", 1)[0])
        assert len(final["id"]) == 32
    with serve(corpus) as c:
        assert c.get(f"/api/answers/{final['id']}").json()["mode"] == "briefing"
        store = c.app.state.answers
        assert store.path == corpus.index_dir.parent / "answers.sqlite"
        assert store.prune(now=time.time() + 29 * 86400) == 0  # kept 30 days by default
        assert store.prune(now=time.time() + 31 * 86400) == 1
        assert c.get(f"/api/answers/{final['id']}").status_code == 404


# -- feedback -> evaluation cases --------------------------------------------------------------------

def test_feedback_becomes_cases_that_povqa_eval_reads_and_scores(client, corpus, tmp_path):
    from eval.harness import InProcessTarget, load_dataset, run_questions

    uploaded(client, [("rice.pdf", pdf_bytes(tmp_path))], collection="asia")
    wells = ask(client, WELLS_QUESTION)
    r = client.post("/api/feedback", json={"answer_id": wells["id"], "rating": "up", "comment": "clear"})
    assert r.status_code == 201 and r.json()["eval_case"] and "cited quote" in r.json()["note"]

    rice = ask(client, RICE_QUESTION, collections=["default"])  # refused: the filter left the answer out
    assert rice["refused"]
    r = client.post("/api/feedback", json={"answer_id": rice["id"], "rating": "down",
                                           "expected": "Terraced rice fields in Yunnan feed 2,400 households"})
    assert r.status_code == 201 and r.json()["eval_case"] and "asia/rice.pdf, page 1" in r.json()["note"]

    vague = ask(client, "What does the Tanzanian NGO PRIDE study?")
    r = client.post("/api/feedback", json={"answer_id": vague["id"], "rating": "down", "comment": "wrong"})
    assert r.status_code == 201 and not r.json()["eval_case"] and "expected text" in r.json()["note"]
    again = client.post("/api/feedback", json={"answer_id": vague["id"], "rating": "down", "expected": "nowhere"})
    assert again.json()["replaced"] and not again.json()["eval_case"] and "not found" in again.json()["note"]

    export = client.get("/api/feedback/export")
    assert export.status_code == 200 and export.headers["content-type"] == "application/x-ndjson"
    assert export.headers["x-povqa-not-cases"] == "1"
    path = tmp_path / "feedback.jsonl"
    path.write_bytes(export.content)
    cases = load_dataset(path)  # eval's own loader and checks
    assert [c["kind"] for c in cases] == ["fact", "fact"]
    up, down = cases
    assert up["answerable"] and up["doc"] == "water.md" and up["evidence"] == wells["citations"][0]["quote"]
    assert down["answerable"] and down["doc"] == "asia/rice.pdf" and down["page"] == 1
    assert down["question"] == RICE_QUESTION and down["lang"] == "en" and down["rating"] == "down"

    assistant = client.app.state.live.get()
    run = run_questions(InProcessTarget(assistant=assistant), cases)
    rows = {row["id"]: row for row in run.rows}
    assert rows[down["id"]]["refused"] is False and rows[down["id"]]["citation_checks"]["evidence_cited"]
    assert rows[up["id"]]["citation_checks"]["evidence_cited"] and rows[down["id"]]["retrieval_rank"] == 1

    from typer.testing import CliRunner

    from assistant.cli import app as cli_app

    report = tmp_path / "report"  # `povqa eval feedback.jsonl` itself, on the same index (its own refusal model)
    result = CliRunner().invoke(cli_app, ["eval", str(path), "--report", str(report)])
    assert result.exit_code == 0, result.output
    scored = json.loads((report / "report.json").read_text("utf-8"))
    assert scored["summary"]["questions"] == 2 and scored["summary"]["hit@5"] is not None  # both scored
    assert {row["id"] for row in scored["rows"]} == {up["id"], down["id"]}


def test_feedback_bad_input(client):
    answer = ask(client, WELLS_QUESTION)
    assert client.post("/api/feedback", json={"answer_id": "f" * 32, "rating": "up"}).status_code == 404
    r = client.post("/api/feedback", json={"answer_id": answer["id"], "rating": "meh"})
    assert r.status_code == 422 and "rating" in r.json()["detail"]
    assert client.post("/api/feedback", json={"answer_id": "../x", "rating": "up"}).status_code == 422
    r = client.post("/api/feedback", json={"answer_id": answer["id"], "rating": "up", "comment": "a\x00b"})
    assert r.status_code == 422 and "comment" in r.json()["detail"]


def test_a_thumbs_up_on_a_refusal_is_an_unanswerable_case(client, tmp_path):
    from eval.harness import load_dataset

    refused = ask(client, "What was the budget of the Mars colony in 2090?")
    assert refused["refused"]
    assert client.post("/api/feedback", json={"answer_id": refused["id"], "rating": "up"}).json()["eval_case"]
    path = tmp_path / "f.jsonl"
    path.write_bytes(client.get("/api/feedback/export").content)
    (case,) = load_dataset(path)
    assert case["kind"] == "unanswerable" and case["answerable"] is False and case["doc"] is None


# -- who may do what --------------------------------------------------------------------------------

STAFF = [("post", "/api/documents"), ("delete", "/api/documents/0123456789abcdef"), ("get", "/api/jobs/x"),
         ("get", "/api/feedback/export")]


def staff_status(c, method: str, path: str, headers=None) -> int:
    if method == "post":
        return upload(c, [("n.md", b"# N\n\nA note about wells.\n")], headers=headers).status_code
    return c.request(method.upper(), path, headers=headers).status_code


@pytest.mark.parametrize("method, path", STAFF)
def test_no_keys_staff_routes_open_on_loopback_only(corpus, method, path):
    with serve(corpus, host="127.0.0.1") as c:
        assert staff_status(c, method, path) in (200, 202, 404)
    with serve(corpus, host="0.0.0.0") as c:
        assert staff_status(c, method, path) == 403
        r = c.request(method.upper(), path)
        assert r.status_code == 403 and "POVQA_ADMIN_KEY" in r.json()["detail"] and "0.0.0.0" in r.json()["detail"]
        answer = ask(c, WELLS_QUESTION)  # a client's routes stay open
        assert c.post("/api/feedback", json={"answer_id": answer["id"], "rating": "up"}).status_code == 201


@pytest.mark.parametrize("method, path", STAFF)
def test_the_admin_key_opens_staff_routes_the_api_key_does_not(corpus, method, path):
    with serve(corpus, host="0.0.0.0", api_key=API_KEY, admin_key=ADMIN_KEY) as c:
        assert staff_status(c, method, path) == 401
        assert staff_status(c, method, path, bearer(API_KEY)) == 403
        assert c.request(method.upper(), path, headers=bearer(API_KEY)).json()["detail"].count("POVQA_ADMIN_KEY")
        assert staff_status(c, method, path, bearer(ADMIN_KEY)) in (200, 202, 404)


def test_the_keys_on_client_routes(corpus):
    with serve(corpus, host="0.0.0.0", api_key=API_KEY, admin_key=ADMIN_KEY) as c:
        assert c.post("/api/ask", json={"question": WELLS_QUESTION}).status_code == 401
        for key in (API_KEY, ADMIN_KEY):
            r = c.post("/api/ask", json={"question": WELLS_QUESTION}, headers=bearer(key))
            assert r.status_code == 200
            assert c.get(f"/api/answers/{r.json()['id']}", headers=bearer(key)).status_code == 200
            assert c.post("/api/feedback", json={"answer_id": r.json()["id"], "rating": "up"},
                          headers=bearer(key)).status_code == 201
        assert c.get("/api/collections").status_code == 401
    with serve(corpus, host="0.0.0.0", admin_key=ADMIN_KEY) as c:  # an admin key alone: clients stay open
        assert c.post("/api/ask", json={"question": WELLS_QUESTION}).status_code == 200
        assert staff_status(c, "post", "/api/documents") == 401
        assert staff_status(c, "post", "/api/documents", bearer(ADMIN_KEY)) == 202
    with serve(corpus, host="127.0.0.1", api_key=API_KEY) as c:  # loopback, an API key, no admin key
        assert staff_status(c, "post", "/api/documents") == 401
        assert staff_status(c, "post", "/api/documents", bearer(API_KEY)) == 202


def test_staff_routes_are_refused_before_the_upload_is_read(corpus):
    small = corpus.model_copy(update={"server": corpus.server.model_copy(update={"max_upload_bytes": 10_000})})
    with serve(small, host="0.0.0.0") as c:
        r = upload(c, [("big.md", b"word " * 5000)])
        assert r.status_code == 403  # not 413: the key is checked first


def test_the_admin_key_is_never_logged(corpus, caplog):
    import logging

    with caplog.at_level(logging.INFO), serve(corpus, host="0.0.0.0", admin_key=ADMIN_KEY) as c:
        logging.getLogger("povqa.api").warning("a client sent %s", ADMIN_KEY)
        c.get("/healthz")
    assert ADMIN_KEY not in caplog.text and "***" in caplog.text


def test_a_killed_server_leaves_no_half_file_and_loses_no_accepted_upload(tmp_path):
    """A real `povqa serve` (fake embedder) SIGKILLed with an upload's body half sent, then again just after it
    accepted an upload (its build running, or about to): restarted, it has no half file and indexes the upload."""
    import signal

    import httpx

    from bench.serve import running_server

    settings = Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus")
    index_notes(settings.corpus_dir, SAMPLE_NOTES, settings)
    env = {"POVQA_CORPUS_DIR": str(settings.corpus_dir)}
    rice = f"# Rice\n\n{RICE}\n\n" + "Irrigation committees meet every month to share the water. " * 2000

    def half_body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"half.md\"\r\n\r\n# Half\n\n"
        yield b"some words " * 1000
        time.sleep(30)  # the server is killed meanwhile

    with running_server(settings.index_dir, tmp_path / "1.log", env=env) as server:
        def send_half():
            try:
                httpx.post(server.url + "/api/documents", content=half_body(), timeout=60,
                           headers={"content-type": "multipart/form-data; boundary=b"})
            except httpx.HTTPError:
                pass

        sender = threading.Thread(target=send_half, daemon=True)
        sender.start()
        time.sleep(1.0)
        r = httpx.post(server.url + "/api/documents", files=[("files", ("rice.md", rice.encode()))],
                       data={"collection": "asia"}, timeout=60)
        assert r.status_code == 202
        os.kill(server.pid, signal.SIGKILL)
    assert corpus_files(settings) in (["iprcc.md", "water.md"], ["asia/rice.md", "iprcc.md", "water.md"])
    assert not any("half" in name for name in corpus_files(settings))
    with running_server(settings.index_dir, tmp_path / "2.log", env=env) as server:
        deadline = time.monotonic() + 60
        while httpx.get(server.url + "/healthz").json()["documents"] != 3:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.2)
        docs = httpx.get(server.url + "/api/documents").json()["documents"]
        assert {d["source"]: d["collection"] for d in docs}["asia/rice.md"] == "asia"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith((".part-", ".build-")) or "half" in p.name]
    assert leftovers == [] and corpus_files(settings) == ["asia/rice.md", "iprcc.md", "water.md"]
    assert not any((settings.corpus_dir / ".uploads").glob("*"))
