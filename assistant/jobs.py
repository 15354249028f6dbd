"""Background index jobs of the server: an upload or a deletion changes the corpus folder, then the index is
rebuilt from it, incrementally, while the server keeps answering from the current index.

One job runs at a time, in submission order, on one worker thread (a second upload waits, `queued`): each build
holds the store's build lock (a `povqa index` running meanwhile makes the job wait for it). When a build has
written a new index version the job waits until the server answers from it (`LiveAssistant.check_now`), so a
client that sees `done` asks the new index. Per file, the job keeps the line `povqa index` prints.

What can go wrong, and what is left: an uploaded file that cannot be indexed (corrupt, unsupported, no text) is
removed from the corpus again (it is not in the index); a build that fails puts the corpus back as it was (an
upload's files removed, a deleted file restored) and the index keeps serving the previous version. A server
killed mid-job restarts the job (`recover`): the staged files of a complete upload request and the file of a
deletion wait in `<corpus>/.uploads/<job id>/` with a `job.json`; a request that never completed left no
`job.json`, and its partial files are deleted.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.corpus import UPLOADS, collection_dir, place, remove_tree, staging
from indexer.report import BuildProgress, FileReport

log = logging.getLogger("povqa.api")

KEEP_JOBS = 200  # finished jobs remembered for GET /api/jobs/{id} (in memory: a restart forgets them)
BUSY_WAIT_S = 600.0  # how long a job waits for another build (a `povqa index`) to finish
SWAP_WAIT_S = 120.0  # how long a job waits for the server to load the index it built
JOB_FILE = "job.json"


class JobError(RuntimeError):
    """Why a job failed, for the client."""


@dataclass
class JobFile:
    name: str  # the safe name it was stored under (the client's own name is never used as a path)
    collection: str
    status: str = "queued"  # queued | indexed | unchanged | duplicate | failed | skipped | removed
    line: str = ""  # the result line, as `povqa index` prints it
    stored_as: str = ""  # its path in the corpus folder (the document's `source`), once placed
    doc_id: str | None = None
    kept: bool = True  # False: not in the corpus (failed, or not added)
    sha256: str = ""
    staged: str = ""  # its file in the job's staging folder, until placed

    def public(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "collection", "status", "line", "stored_as", "doc_id", "kept")}

    def result(self, status: str, message: str = "", **report) -> None:
        self.status = status
        self.line = FileReport(self.stored_as or self.name, status, message=message, **report).line()


@dataclass
class Job:
    kind: str  # upload | delete
    files: list[JobFile]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "queued"  # queued | running | done | failed
    error: str | None = None
    stage: str = "queued"  # queued | waiting | storing | reading | embedding | <the build's stage> | loading | done
    created: float = field(default_factory=time.time)
    finished: float | None = None
    progress: dict = field(default_factory=lambda: {"files_done": 0, "files_total": 0, "chunks_done": 0,
                                                    "done": 0.0, "total": 0.0, "unit": "pages"})
    lines: list[str] = field(default_factory=list)  # the build's lines of what changed, this job's files or others

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "stage": self.stage, "error": self.error,
                "files": [f.public() for f in self.files], "lines": list(self.lines),
                "progress": {k: round(v) if isinstance(v, float) else v for k, v in self.progress.items()},
                "created": self.created, "finished": self.finished}

    def save(self, folder: Path) -> None:
        """job.json in the staging folder, written whole: what a restarted server needs to finish the job."""
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{JOB_FILE}.part"
        temporary.write_text(json.dumps({"kind": self.kind, "files": [asdict(f) for f in self.files]}), "utf-8")
        temporary.replace(folder / JOB_FILE)


class JobProgress(BuildProgress):
    """A build's progress into its job: files done of the corpus's files (and the chunks of those indexed), and
    the build's work done of its total, in the unit the build counts it (`BuildProgress`: pages of the files
    being read and embedded; texts embedded, with the older hooks `start_embedding`/`start_lexicon`)."""

    def __init__(self, job: Job):
        self.job = job

    def start(self, total: float) -> None:
        self.job.stage = "embedding"
        self.job.progress.update(total=total, unit="pages")

    def stage(self, description: str) -> None:
        self.job.stage = description

    def start_embedding(self, total: int) -> None:
        self.job.stage = "embedding"
        self.job.progress["total"] += total
        self.job.progress["unit"] = "texts"

    def start_lexicon(self, total: int) -> None:
        """The lexicon's new words are embedded after the documents: they add to the texts to embed."""
        if total:
            self.job.stage = "lexicon"
            self.job.progress["total"] += total

    def advance(self, n: float) -> None:
        self.job.progress["done"] += n

    def file_done(self, report: FileReport) -> None:
        if report.status != "removed":  # a removed file is not among the corpus's files counted
            self.job.progress["files_done"] += 1
        if report.status in ("indexed", "unchanged"):
            self.job.progress["chunks_done"] += report.chunks
        if report.status != "unchanged":  # a large corpus's thousands of unchanged files would drown the changes
            self.job.lines.append(report.line())


class JobRunner:
    """The job queue and its worker thread. `live`: the server's LiveAssistant (its embedders are reused)."""

    def __init__(self, settings, live):
        self.settings = settings
        self.live = live
        self.corpus = Path(settings.corpus_dir)
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the queue -----------------------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > KEEP_JOBS and next(iter(self.jobs.values())).finished:
                self.jobs.popitem(last=False)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="povqa-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job

    def finish_now(self, job: Job) -> Job:
        """A job with nothing to build (every file a duplicate): done at once."""
        job.status, job.stage, job.finished = "done", "done", time.time()
        with self._lock:
            self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def close(self) -> None:
        self._queue.put(None)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            job.status = "running"
            try:
                self._run(job)
                job.status = "done"
            except Exception as exc:
                job.status, job.error = "failed", str(exc) if isinstance(exc, JobError) else \
                    f"the build failed ({type(exc).__name__}: {exc}); the index was not changed"
                log.error("job %s failed: %s", job.id, job.error)
                for f in job.files:
                    if f.status == "queued":
                        f.result("failed", "not done: the job failed (see its error)")
                        f.kept = job.kind == "delete"  # a deleted file is put back; an upload's is not kept
            finally:
                job.stage, job.finished = "done", time.time()
                remove_tree(staging(self.corpus, job.id))

    # -- one job --------------------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        folder = staging(self.corpus, job.id)
        self._check_corpus_holds_index(job)
        job.stage = "storing"
        moved = self._place(job, folder) if job.kind == "upload" else self._take_out(job, folder)
        try:
            report = self._build(job)
        except BaseException:
            self._undo(job, folder, moved)
            raise
        self._results(job, report)
        if report.written:
            job.stage = "loading"
            self._await_swap()

    def _place(self, job: Job, folder: Path) -> list[Path]:
        """Move the staged files into their collections' folders; returns the new ones."""
        moved = []
        for f in job.files:
            if not f.staged:
                continue
            staged = folder / f.staged
            if staged.exists():
                path, new = place(staged, collection_dir(self.corpus, f.collection), f.name, f.sha256)
                f.stored_as, f.staged = path.relative_to(self.corpus).as_posix(), ""
                if new:
                    moved.append(path)
                job.save(folder)
        return moved

    def _take_out(self, job: Job, folder: Path) -> list[Path]:
        """A deletion: move the document's file into the staging folder (put back if the build fails)."""
        f = job.files[0]
        source, parked = self.corpus / f.stored_as, folder / "deleted"
        job.save(folder)
        if source.exists():
            source.replace(parked)
        return [parked]

    def _undo(self, job: Job, folder: Path, moved: list[Path]) -> None:
        if job.kind == "delete":
            for parked in moved:
                if parked.exists():
                    parked.replace(self.corpus / job.files[0].stored_as)
            return
        for path in moved:
            path.unlink(missing_ok=True)

    def corpus_mismatch(self, deleting: set[str] = frozenset()) -> str | None:
        """Why the corpus folder cannot be rebuilt, or None: a rebuild drops what is not in it, so the index must
        not hold documents from elsewhere (an index built with `povqa index OTHER_FOLDER`)."""
        documents = self._indexed_documents()
        missing = [d.source for d in documents if d.source not in deleting and not (self.corpus / d.source).is_file()]
        if not missing:
            return None
        return (f"the index holds {len(missing)} document(s) that are not in the corpus folder {self.corpus} (e.g. "
                f"{missing[0]!r}): rebuilding it from there would drop them. Set POVQA_CORPUS_DIR to the folder the "
                "index was built from, or rebuild the index from this one with `povqa index`; nothing was changed")

    def _indexed_documents(self) -> list:
        """The documents of the current index: the served one's, or read from the store when the server has none
        loaded (an index it could not load for a passing reason is still what a rebuild would replace)."""
        from indexer.store import IndexError_

        assistant = self.live.assistant
        if assistant is not None:
            return list(assistant.retriever.reader.documents.values())
        try:
            reader = self.settings.get_store().open_reader()
        except IndexError_:  # none, or one a build cannot reuse either (damaged, another format): nothing to keep
            return []
        try:
            return list(reader.documents.values())
        finally:
            reader.close()

    def _check_corpus_holds_index(self, job: Job) -> None:
        problem = self.corpus_mismatch({f.stored_as for f in job.files} if job.kind == "delete" else set())
        if problem:
            raise JobError(problem)

    def _build(self, job: Job):
        from indexer.build import build_index, discover
        from indexer.store import IndexBusy

        assistant = self.live.assistant
        embedder = assistant.retriever.embedder if assistant is not None else None
        second = assistant.retriever.second if assistant is not None and assistant.retriever.second else True
        job.progress["files_total"] = len(discover([self.corpus])) if self.corpus.is_dir() else 0
        waited = time.monotonic()
        while True:
            job.stage = "reading"
            try:
                return build_index([self.corpus], self.settings.build_settings(), embedder=embedder,
                                   second_embedder=second, progress=JobProgress(job))
            except IndexBusy:
                if time.monotonic() - waited > BUSY_WAIT_S:
                    raise JobError(f"another `povqa index` kept the index busy for {BUSY_WAIT_S:.0f} s; "
                                   "nothing was changed: try again once it has finished") from None
                job.stage = "waiting"
                time.sleep(1.0)

    def _results(self, job: Job, report) -> None:
        """Each job file's line from the build; an upload that was not indexed is taken out of the corpus."""
        by_source = {r.source: r for r in report.files}
        for f in job.files:
            if f.status != "queued":
                continue
            r = by_source.get(f.stored_as)
            if r is None and job.kind == "upload":
                f.result("failed", "the build did not see the file")
                continue
            if r is None:  # a deletion of a document the build did not list: it was gone already
                f.result("removed", "no longer in the indexed folders")
                continue
            f.status, f.line = r.status, r.line()
            if r.status in ("indexed", "unchanged"):
                f.doc_id = f.sha256[:16] or None
            elif job.kind == "upload":  # failed, skipped, duplicate: it is not in the index, so not in the corpus
                (self.corpus / f.stored_as).unlink(missing_ok=True)
                f.kept = False
            else:
                f.kept = False
                folder = (self.corpus / f.stored_as).parent
                if folder != self.corpus and folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()  # the collection's last document: the collection goes too

    def _await_swap(self) -> None:
        """Wait until the server answers from the index just built (or say why it does not)."""
        target = self.settings.get_store().current()
        deadline = time.monotonic() + SWAP_WAIT_S
        while time.monotonic() < deadline:
            assistant = self.live.check_now()
            if assistant is not None and assistant.retriever.reader.generation == target:
                return
            if self.live.version == target and not self.live.loading:
                raise JobError("the new index was written but could not be loaded; the server still answers from "
                               "the previous one (see the server's log)")
            time.sleep(0.05)
        raise JobError(f"the new index was written but not loaded within {SWAP_WAIT_S:.0f} s")

    # -- a restarted server ------------------------------------------------------------------------------
    def recover(self) -> list[Job]:
        """Delete what an upload killed mid-request left; resubmit the jobs a killed server did not finish."""
        root = self.corpus / UPLOADS
        jobs = []
        for folder in sorted(root.iterdir()) if root.is_dir() else ():
            saved = folder / JOB_FILE
            if not folder.is_dir() or not saved.is_file():
                remove_tree(folder) if folder.is_dir() else folder.unlink(missing_ok=True)
                continue
            try:
                data = json.loads(saved.read_text("utf-8"))
                job = Job(data["kind"], [JobFile(**f) for f in data["files"]], id=folder.name)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("cannot resume the job in %s (%s): its files are left there", folder, exc)
                continue
            log.warning("resuming %s job %s, interrupted by a restart", job.kind, job.id)
            jobs.append(self.submit(job))
        return jobs
