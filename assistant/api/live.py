"""`LiveAssistant`: the Assistant being served, hot-swapped when `povqa index` makes a new index version current."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from assistant.settings import Settings

log = logging.getLogger("povqa.api")


def load_failure(exc: Exception) -> str:
    """What /healthz and /api say when the assistant could not be loaded at start-up."""
    from indexer.store import IndexError_

    if isinstance(exc, IndexError_):  # its message says what to run
        detail = f"the index is not loaded: {exc}"
        return detail if "povqa index" in detail else detail + " (build it with `povqa index`)"
    return f"the assistant could not start: {exc}"


def index_read_error(exc: BaseException) -> str | None:
    """'lasting' when `exc` says the index's files are damaged (the database, the index's own checks), 'passing'
    for a failed read that may succeed later (an OSError: out of descriptors, I/O), None otherwise (a bug)."""
    from indexer.store import IndexError_

    if isinstance(exc, (sqlite3.DatabaseError, IndexError_)):
        return "lasting"
    return "passing" if isinstance(exc, OSError) and not isinstance(exc, ConnectionError) else None


def file_stats(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Each file of an index version: (inode, size, mtime), to notice files changed in place after loading."""
    stats = {}
    for path in folder.iterdir() if folder.is_dir() else ():
        st = path.stat()
        stats[path.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return stats


class LiveAssistant:
    """The Assistant being served, swapped for a fresh one when `povqa index` makes a new index version current.

    At most every `check_s` seconds a request looks at where the index's `current` link points (one readlink);
    when it moved, a background thread opens the new version (reusing the loaded embedders) and swaps it in with
    one assignment. Requests keep being answered from the old version meanwhile, and those in flight finish on
    it (its files stay open even after the build deletes its folder). A version that fails to load is logged
    once and the old one kept. A server started before any index exists picks the first one up the same way.
    """

    def __init__(self, settings: Settings, assistant=None, check_s: float = 1.0):
        self.settings = settings
        self.assistant = assistant
        self.error: str | None = None
        self.check_s = check_s
        self.version = assistant.retriever.reader.generation if assistant is not None else None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._loading: threading.Thread | None = None
        self.damaged: str | None = None  # why the loaded version cannot be read, until a new version is loaded
        self._stats = self._snapshot()

    def load_now(self) -> None:
        """The first load (in the lifespan): blocking; a failure is kept as the 503 message."""
        version = None  # unknown while the store cannot be reached: looked up again by the next request
        try:
            version = self.settings.get_store().current()
            self.assistant = self._open(version)
            self.version, self.error, self.damaged = version, None, None
            self._stats = self._snapshot()
            reader = self.assistant.retriever.reader
            log.info("index loaded: %d documents, %d chunks", len(reader.documents), reader.n_chunks)
        except Exception as exc:  # start anyway: /healthz and /api answer 503 with the reason
            self.version, self.error = version, load_failure(exc)
            log.error("%s", self.error)
            return
        self.warm_up()

    WARM_UP_QUESTIONS = ("Quels pays ont coopéré avec le centre ?", "中心与哪些国家合作？")

    def warm_up(self) -> None:
        """Answer throwaway (non-English) questions before serving, so the first user does not pay for what
        loads on first use: the language identifier, the second embedder, the sparse head, the thread pools
        (the first question after `make run` took 2.7 s instead of ~0.1 s), jieba's dictionary for the
        lexicon's Chinese words (0.9 s)."""
        t0 = time.perf_counter()
        try:
            for question in self.WARM_UP_QUESTIONS:
                self.assistant.ask(question)
        except Exception as exc:  # never keeps the server from starting; the real question will say what is wrong
            log.warning("warm-up question failed: %s", exc)
            return
        log.info("warmed up in %.1f s", time.perf_counter() - t0)

    def get(self):
        """The Assistant to answer with; at most every `check_s` seconds, also see whether a new index version
        is current (then load it in the background) and whether the loaded one's files changed (`damage`)."""
        self._maybe_reload()
        return self.assistant

    def check_now(self):
        """`get`, looking at the index's current version now rather than within `check_s` (an upload job that
        has just built one)."""
        self._checked = 0.0
        return self.get()

    @property
    def loading(self) -> bool:
        """Whether a new index version is being loaded in the background."""
        return self._loading is not None and self._loading.is_alive()

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_s:
            return
        with self._lock:
            if now - self._checked < self.check_s or (self._loading is not None and self._loading.is_alive()):
                return
            self._checked = now
            self.damage()
            try:
                version = self.settings.get_store().current()
            except OSError as exc:  # the database is away: keep serving what is loaded; asked again next time
                log.warning("cannot see the index's current version: %s", exc)
                return
            if version is None or version == self.version:
                return
            self._loading = threading.Thread(target=self._reload, args=(version,), name="povqa-reload", daemon=True)
            self._loading.start()

    def _reload(self, version) -> None:
        try:
            fresh = self._open(version)
        except Exception as exc:
            log.error("a new index version at %s could not be loaded; still serving the previous one: %s", version, exc)
            self.version = version  # retried when the index changes again
            return
        reader = fresh.retriever.reader
        # the version actually opened: if another build made a newer one current meanwhile, the next check loads it
        self._stats = file_stats(reader.path)
        self.assistant, self.version, self.error, self.damaged = fresh, reader.generation, None, None
        log.info("index reloaded from %s: %d documents, %d chunks", getattr(version, "name", version),
                 len(reader.documents), reader.n_chunks)

    def _snapshot(self) -> dict[str, tuple[int, int, int]]:
        return file_stats(self.assistant.retriever.reader.path) if self.assistant is not None else {}

    def damage(self) -> str | None:
        """Why the loaded index cannot be trusted, or None: a request failed reading it, or one of its files
        changed on disk after it was loaded (versions are written once; a rebuild makes a new folder, and the
        files of one deleted meanwhile stay readable through their open descriptors). A few stat calls."""
        if self.damaged or self.assistant is None:
            return self.damaged
        path = self.assistant.retriever.reader.path
        for name, (inode, size, mtime) in self._stats.items():
            try:
                st = os.stat(path / name)
            except FileNotFoundError:
                continue
            if st.st_ino == inode and (st.st_size, st.st_mtime_ns) != (size, mtime):
                self.damaged = (f"the index at {path} is damaged: {name} changed on disk after it was loaded; "
                                "rebuild it with `povqa index` (the server loads the new version without a restart)")
                log.error("%s", self.damaged)
                break
        return self.damaged

    def mark_damaged(self, exc: BaseException) -> str | None:
        """After a request failed with `exc`: the message of a 503 if the index is to blame, else None (a bug:
        500). Lasting damage is remembered, so /healthz answers 503 too until a new version is loaded."""
        found = self.damage()
        kind = index_read_error(exc)
        if found is None and kind is not None:
            path = self.assistant.retriever.reader.path if self.assistant is not None else self.settings.index_dir
            found = f"the index at {path} could not be read ({type(exc).__name__}: {exc})"
            if kind == "lasting":
                self.damaged = found = found + "; rebuild it with `povqa index`"
                log.error("%s", found)
        return found

    def _open(self, version):
        """An Assistant over `version`, with the running one's embedders, answerer and refusal model."""
        from assistant.pipeline import Assistant
        from assistant.retrieval import Retriever

        old = self.assistant
        if old is None:
            return Assistant.load(self.settings)
        if version is None:
            raise FileNotFoundError(f"no index in {self.settings.index_dir}")
        retriever = Retriever.load(self.settings, embedder=old.retriever.embedder,
                                   second=old.retriever.second if old.retriever.second is not None else True,
                                   index_dir=self.settings.index_dir, language_means=old.retriever.language_means)
        return Assistant(retriever, old.answerer, self.settings, calibration=old.calibration, reranker=old.reranker)
